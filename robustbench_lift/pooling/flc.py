"""Frequency-domain poolings of Grabinski et al.: FrequencyLowCut, FLC ("FrequencyLowCut pooling - plug & play
against catastrophic overfitting", ECCV 2022) and its windowed variant ASAP ("Fix your downsampling ASAP! Be
natively more robust via aliasing and spectral artifact free pooling", arXiv 2307.09804).

Both keep the low-frequency half of the 2-D spectrum and return the real part of its inverse transform. With
`band="half"` (default) a side `n` keeps its `m = ceil(n/2)` lowest bins, frequencies `-(m//2) .. m - m//2 - 1`:
the output has the sides of every other pooling, and for `n` divisible by 4 this is exactly their code's crop
(the ideal box low-pass, then every second sample). `band="code"` reproduces their crop for every `n`: the
fftshift-ed bins `[n//4, 3n//4)` (their `int(n/4)`, `int(n/4*3)`) re-centred by `ifftshift` of the kept length;
for `n = 2 mod 4` that shifts the kept band by one bin (a constant comes out as a cosine; ASAP's padded
`n + 1` then keeps `n/2 + 1` bins, so 14 -> 8), which their ResNets trained with at 14 x 14 (docs/poolings.md).
ASAP first zero-pads one row and column at the end (their `ASAP_padding_one`, the one their ResNets use) and
weights the spectrum by `sqrt(hamming(n_h) x hamming(n_w))` of the padded size at the fftshift-ed positions,
computed per input size (theirs is computed once, for the first input).

`norm="forward"` (default, their code's current head) keeps the mean: a constant maps to the same constant;
`norm="backward"` (their earlier code) scales the output by `n_h n_w / (m_h m_w)`, 4 for even sides.

Speed: padding, transforms, crop and window all act on rows and columns separately (the window is an outer
product), so the layer is `Y = Re(C_H X C_W^T)` with one complex `m x n` matrix per side, built by running the
FFT pipeline on the identity (`lowcut_matrix`). Two real matrix products compute it: several times faster than
`fft2`/`ifft2` at 8..112 px forward and backward on CPU (docs/benchmarks.md), and defined for any dtype.
"""

from functools import lru_cache

import torch
from torch import Tensor, nn

from robustbench_lift.errors import UsageError
from robustbench_lift.pooling.registry import register_pool

NORMS = ("forward", "backward")
BANDS = ("half", "code")


def kept_bins(n: int, band: str, m: int) -> Tensor:
    """fftshift-ed positions (frequency `k` at `k + n//2`) of the kept bins of an `n`-point spectrum, in the
    order an inverse transform of the kept length reads them: the `m` lowest for "half", else their crop."""
    if band == "code":  # fftshift, crop, ifftshift
        shifted = torch.arange(n // 4, 3 * n // 4)
        return torch.roll(shifted, -(len(shifted) // 2))
    return (torch.arange(m) + m // 2) % m - m // 2 + n // 2


def hamming_weights(n: int, shifted: Tensor) -> Tensor:
    """`sqrt(|hamming(n)|)` (numpy's symmetric window) at fftshift-ed positions `shifted`: the outer product of
    the two sides is their `sqrt(outer(hamming, hamming))`."""
    return torch.hamming_window(n, periodic=False, dtype=torch.float64).abs().sqrt()[shifted]


def lowcut_matrix(n: int, window: bool, norm: str, band: str) -> Tensor:
    """The 1-D low-cut of an `n`-sample side as a complex128 `(m, n)` matrix `C`: zero-pad one sample (ASAP),
    FFT, keep the band (times the Hamming weights), inverse FFT, each applied to the identity's columns; the
    padded sample is zero, so its column is dropped. `fft2`/`ifft2` factor over the sides (their `norm` too)."""
    length = n + window
    kept = kept_bins(length, band, (n + 1) // 2)
    spectrum = torch.fft.fft(torch.eye(length, dtype=torch.float64), dim=0, norm=norm)
    spectrum = spectrum[(kept - length // 2) % length]
    if window:
        spectrum = spectrum * hamming_weights(length, kept)[:, None]
    return torch.fft.ifft(spectrum, dim=0, norm=norm)[:, :n]


@lru_cache(maxsize=64)
def lowcut_operands(height: int, width: int, window: bool, norm: str, band: str, dtype: torch.dtype,
                    device: torch.device) -> tuple[Tensor, Tensor]:
    """`(right, left)` of `lowcut`: `right = [Re C_W; Im C_W]^T` `(W, 2 m_W)` and `left` `(2H, m_H)`, row `2h` is
    `Re C_H[:, h]` and row `2h + 1` is `-Im C_H[:, h]`, in `dtype` on `device`. Built outside inference mode:
    a cached inference tensor could not be saved for a later backward."""
    with torch.inference_mode(False):
        rows, cols = lowcut_matrix(height, window, norm, band), lowcut_matrix(width, window, norm, band)
        right = torch.cat([cols.real, cols.imag]).t()
        left = torch.stack([rows.real, -rows.imag], dim=-1).flatten(1).t()
        return right.to(device, dtype).contiguous(), left.to(device, dtype).contiguous()


def lowcut(x: Tensor, window: bool, norm: str, band: str) -> Tensor:
    """`Re(C_H X C_W^T)` of `x` `(..., H, W)` by two matrix products, each over the whole batch: the first gives
    `Z = X [Re C_W; Im C_W]^T` with `Re Z` and `Im Z` side by side; read as `2H` rows it meets `left`,
    so that `Re C_H Re Z - Im C_H Im Z` is one product."""
    *lead, height, width = x.shape
    right, left = lowcut_operands(height, width, window, norm, band, x.dtype, x.device)
    cols, rows = right.shape[1] // 2, left.shape[1]
    z = (x.reshape(-1, width) @ right).view(-1, 2 * height, cols).transpose(1, 2)
    return (z.reshape(-1, 2 * height) @ left).view(*lead, cols, rows).transpose(-1, -2).contiguous()


class FrequencyPool2d(nn.Module):
    """FLC (`window=False`) or ASAP (`window=True`): `(N, C, H, W) -> (N, C, ceil(H/2), ceil(W/2))` with
    `band="half"`; with `band="code"` the sides are `3n//4 - n//4` of `n = H` (FLC) or `H + 1` (ASAP).
    Parameter-free; any floating dtype (the matrices are built in float64, then cast).

    Args:
        window: ASAP's zero padding and Hamming window.
        norm: "forward" (mean-preserving) or "backward" (their earlier code, x4 for even sides).
        band: "half" (the ceil(n/2) lowest frequencies) or "code" (their crop, module doc).
    """

    def __init__(self, window: bool = False, norm: str = "forward", band: str = "half") -> None:
        super().__init__()
        if norm not in NORMS:
            raise UsageError(f"norm must be one of {NORMS}, got {norm!r}")
        if band not in BANDS:
            raise UsageError(f"band must be one of {BANDS}, got {band!r}")
        self.window, self.norm, self.band = window, norm, band

    def forward(self, x: Tensor) -> Tensor:
        return lowcut(x, self.window, self.norm, self.band)

    def extra_repr(self) -> str:
        return f"window={self.window}, norm={self.norm}, band={self.band}"


@register_pool("flc", "FrequencyLowCut (Grabinski 2022): ideal low-pass in the Fourier domain, mean-preserving")
def _flc(channels: int, norm: str = "forward", band: str = "half") -> nn.Module:
    return FrequencyPool2d(window=False, norm=norm, band=band)


# ASAP's window and odd padded length make it no decimated shift-equivariant map (docs/aliasing.md)
@register_pool("asap", "ASAP (Grabinski 2023): FLC of the input padded by one, spectrum Hamming-windowed",
               undecimated=None)
def _asap(channels: int, norm: str = "forward", band: str = "half") -> nn.Module:
    return FrequencyPool2d(window=True, norm=norm, band=band)
