"""WaveCNet's wavelet down-sampling (Li et al., "Wavelet integrated CNNs for noise-robust image classification",
CVPR 2020): keep the low-low (LL) band of one level of a 2-D discrete wavelet transform.

Their `DWT_2D_tiny` builds, per side `n`, a `floor(n/2) x n` matrix whose row `i` holds the wavelet's
reconstruction low-pass `rec_lo` (PyWavelets' taps) starting at column `2i - (len/2 - 1)`, taps falling outside
the signal dropped; LL = L x L^T. That is a zero-extended correlation with `rec_lo` at stride 2, which we compute
as a depthwise convolution. For orthogonal wavelets `rec_lo` is the reversed analysis filter (a standard DWT
low-pass); for biorthogonal ones (`bior2.2`, their "ch2.2") it is the synthesis filter, used here as they do.
Haar's LL is `(a + b + c + d) / 2` over each 2x2 block: exactly twice the 2x2 average.
"""

import pywt
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustbench_lift.errors import UsageError
from robustbench_lift.pooling.registry import register_pool


def wavelet_taps(wavelet: str) -> Tensor:
    """PyWavelets' `rec_lo` of `wavelet` as float64 `(len,)`; `UsageError` for a name pywt does not know."""
    try:
        taps = pywt.Wavelet(wavelet).rec_lo
    except ValueError as error:
        raise UsageError(f"unknown wavelet {wavelet!r} for dwt ({error}); choose a discrete wavelet of "
                         "pywt.wavelist(kind='discrete'), e.g. haar, db2, bior2.2") from None
    if len(taps) % 2:
        raise UsageError(f"wavelet {wavelet!r} has an odd filter length {len(taps)}; WaveCNet needs an even one")
    return torch.tensor(taps, dtype=torch.float64)


class WaveletPool2d(nn.Module):
    """LL band `(N, C, H, W) -> (N, C, floor(H/2), floor(W/2))` (WaveCNet's sizes); parameter-free.

    Args:
        channels: C.
        wavelet: a PyWavelets discrete wavelet name ("haar", "db2", "bior2.2", ...).
    """

    def __init__(self, channels: int, wavelet: str = "haar") -> None:
        super().__init__()
        taps = wavelet_taps(wavelet)
        self.channels, self.wavelet, self.pad = channels, wavelet, len(taps) // 2 - 1
        kernel = (taps[:, None] * taps[None, :]).float()
        self.register_buffer("kernel", kernel.expand(channels, 1, -1, -1).clone(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.pad:
            x = F.pad(x, (self.pad,) * 4)
        return F.conv2d(x, self.kernel.to(x.dtype), stride=2, groups=x.shape[1])

    def extra_repr(self) -> str:
        return f"{self.channels}, wavelet={self.wavelet}"


@register_pool("dwt", "WaveCNet (Li 2020): LL band of a PyWavelets wavelet (default haar: 2 x the 2x2 average)")
def _dwt(channels: int, wavelet: str = "haar") -> nn.Module:
    return WaveletPool2d(channels, wavelet)
