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
"""

import torch
import torch.nn.functional as F
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


class FrequencyPool2d(nn.Module):
    """FLC (`window=False`) or ASAP (`window=True`): `(N, C, H, W) -> (N, C, ceil(H/2), ceil(W/2))` with
    `band="half"`; with `band="code"` the sides are `3n//4 - n//4` of `n = H` (FLC) or `H + 1` (ASAP).
    Parameter-free; float32 or float64 (FFTs have no half-precision CPU kernels).

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
        rows, cols = ((side + 1) // 2 for side in x.shape[-2:])
        if self.window:
            x = F.pad(x, (0, 1, 0, 1))
        height, width = x.shape[-2:]
        rows, cols = kept_bins(height, self.band, rows), kept_bins(width, self.band, cols)
        spectrum = torch.fft.fft2(x, norm=self.norm)  # unshifted: frequency k at k mod n
        kept = spectrum.index_select(-2, ((rows - height // 2) % height).to(x.device))
        kept = kept.index_select(-1, ((cols - width // 2) % width).to(x.device))
        if self.window:
            weight = hamming_weights(height, rows)[:, None] * hamming_weights(width, cols)[None, :]
            kept = kept * weight.to(device=x.device, dtype=x.dtype)
        return torch.fft.ifft2(kept, norm=self.norm).real

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
