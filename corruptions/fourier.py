"""Fourier basis perturbations (Yin et al., NeurIPS 2019, "A Fourier Perspective on Model Robustness in Computer
Vision"; reference algorithm: google-research `frequency_analysis/freq_heatmap.py`), as pure batched functions.

Frequencies are signed offsets `(u, v)` from DC of an `(H, W)` spectrum, `u` in `-(H // 2) .. (H - 1) // 2`
(fftshift-ed index `u + H // 2`). The basis image of `(u, v)` is the real inverse DFT (unitary, `norm="ortho"`) of
the conjugate-symmetric pair `F[(u, v)] = (1 + i) / 2`, `F[-(u, v)] = (1 - i) / 2` (a frequency that is its own
partner, DC and the Nyquist ones, gets `F = 1`):

    U_uv(x, y) = (cos t - sin t) / sqrt(H * W),   t = 2 pi (u x / H + v y / W)

(for a self-partnered frequency sin t = 0 at every pixel, so the one formula covers it). Each has unit l2 norm;
`U_uv == U_-u-v`, so a heat map needs only one frequency of each pair (`canonical_offsets`: the first in row-major
order, the one the reference gives `(1 + i) / 2`). The perturbed image is `clip(x + eps * r_c * U_uv, 0, 1)` per
channel c, `r_c` a random sign per image and channel (the reference's `rand_flip`).

    >>> basis = fourier_basis([(0, 0), (3, -5)], (32, 32))
    >>> [round(float(b.norm()), 6) for b in basis]
    [1.0, 1.0]
"""

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from corruptions.seeding import derive_seed


def offset_range(side: int, window: int | None = None) -> range:
    """Signed offsets from DC of the central `window` frequencies (default: all) of a `side`-point spectrum:
    `-(window // 2) .. (window - 1) // 2` (32 -> -16..15, 63 -> -31..31)."""
    window = side if window is None else window
    if not 1 <= window <= side:
        raise ValueError(f"frequency window must be in 1..{side} for {side} px images, got {window}")
    return range(-(window // 2), (window - 1) // 2 + 1)


def partner(offset: tuple[int, int], size: tuple[int, int]) -> tuple[int, int]:
    """The conjugate-symmetric partner `-(u, v)` of `offset`, wrapped into the spectrum of an `(H, W)` image (the
    Nyquist offset `-H // 2` of an even side is its own partner)."""
    return tuple(((-o + n // 2) % n) - n // 2 for o, n in zip(offset, size))  # type: ignore[return-value]


def canonical_offsets(size: tuple[int, int], window: int | None = None, step: int = 1) -> list[tuple[int, int]]:
    """One offset per basis image of the central `window` x `window` frequencies of an `(H, W)` spectrum, keeping
    offsets that are multiples of `step` (a coarser grid): row-major, skipping an offset whose partner is listed."""
    listed: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    rows, cols = offset_range(size[0], window), offset_range(size[1], window)
    for offset in ((u, v) for u in rows if u % step == 0 for v in cols if v % step == 0):
        if offset not in seen:
            listed.append(offset)
            seen.update({offset, partner(offset, size)})
    return listed


def fourier_basis(offsets: Sequence[tuple[int, int]], size: tuple[int, int], device: torch.device | str = "cpu",
                  dtype: torch.dtype = torch.float32) -> Tensor:
    """Basis images `(K, H, W)` of `offsets` (module docstring: unit l2 norm, real), built on `device`."""
    h, w = size
    freqs = torch.tensor(list(offsets), dtype=torch.float64, device=device).view(-1, 2, 1, 1)
    x = torch.arange(h, dtype=torch.float64, device=device).view(1, h, 1)
    y = torch.arange(w, dtype=torch.float64, device=device).view(1, 1, w)
    t = 2 * math.pi * (freqs[:, 0] * x / h + freqs[:, 1] * y / w)
    return ((torch.cos(t) - torch.sin(t)) / math.sqrt(h * w)).to(dtype)


def fourier_signs(seed: int, indices: Sequence[int], count: int, channels: int = 3) -> Tensor:
    """Random signs (+1 / -1, float32, CPU) `(B, count, channels)` for items `indices`: one row per basis image of a
    heat map, from a generator seeded by `derive_seed(seed, "fourier", index)` per item, so an image's sign for a
    frequency depends on neither its batch nor which frequencies are computed."""
    rows = []
    for index in indices:
        generator = torch.Generator().manual_seed(derive_seed(seed, "fourier", index))
        rows.append(torch.randint(0, 2, (count, channels), generator=generator))
    return torch.stack(rows).float() * 2 - 1 if rows else torch.zeros(0, count, channels)


def fourier_perturb(images: Tensor, basis: Tensor, signs: Tensor, eps: float) -> Tensor:
    """`clip(images + eps * signs * basis, 0, 1)`: images `(B, C, H, W)` in [0, 1], one basis image `(H, W)`, signs
    `(B, C)`; the same shapes with a leading frequency axis, basis `(K, H, W)` and signs `(B, K, C)`, give
    `(B, K, C, H, W)`."""
    if basis.ndim == 3:
        return (images[:, None] + eps * signs[..., None, None] * basis[None, :, None]).clamp_(0, 1)
    return (images + eps * signs[..., None, None] * basis).clamp_(0, 1)
