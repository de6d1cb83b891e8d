"""Anti-aliased BlurPool (Zhang, "Making Convolutional Networks Shift-Invariant Again", ICML 2019).

A binomial low-pass filter of size 1..7 applied depthwise with a stride after padding. Numerically identical to
`antialiased_cnns.BlurPool` (same padding split, same normalised taps, same persistent buffer `filt` of shape
`(C, 1, f, f)`), so the state dicts of antialiased-cnns models load strictly. That package is CC BY-NC-SA and is
only a test dependency; this is an independent implementation of the published maths.
"""

from math import comb

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustbench_lift.errors import UsageError
from robustbench_lift.pooling.registry import register_pool

PAD_MODES = {"reflect": "reflect", "refl": "reflect", "replicate": "replicate", "repl": "replicate", "zero": "constant"}


def binomial_filter(size: int) -> Tensor:
    """Normalised 2-D binomial filter `(size, size)`: the outer product of row `size - 1` of Pascal's triangle."""
    taps = torch.tensor([comb(size - 1, k) for k in range(size)], dtype=torch.float32)
    kernel = taps[:, None] * taps[None, :]
    return kernel / kernel.sum()


class BlurPool2d(nn.Module):
    """Blur then subsample: `(N, C, H, W) -> (N, C, ceil(H/stride), ceil(W/stride))` for even filter sizes.

    Args:
        channels: C.
        filter_size: binomial filter size, 1..7 (1 is plain subsampling).
        stride: subsampling factor.
        pad_type: "reflect" (default), "replicate" or "zero".
        pad_off: extra padding on every side.
    """

    def __init__(self, channels: int, filter_size: int = 4, stride: int = 2, pad_type: str = "reflect",
                 pad_off: int = 0) -> None:
        super().__init__()
        if not 1 <= filter_size <= 7:
            raise UsageError(f"blur filter_size must be in 1..7, got {filter_size}")
        if pad_type not in PAD_MODES:
            raise UsageError(f"blur pad_type must be one of {sorted(PAD_MODES)}, got {pad_type!r}")
        self.channels, self.filter_size, self.stride = channels, filter_size, stride
        self.pad_mode = PAD_MODES[pad_type]
        before, after = (filter_size - 1) // 2 + pad_off, filter_size // 2 + pad_off
        self.padding = (before, after, before, after)
        self.register_buffer("filt", binomial_filter(filter_size).expand(channels, 1, -1, -1).clone())

    def forward(self, x: Tensor) -> Tensor:
        if any(self.padding):
            x = F.pad(x, self.padding, mode=self.pad_mode)
        if self.filter_size == 1:
            return x[:, :, ::self.stride, ::self.stride]
        return F.conv2d(x, self.filt.to(x.dtype), stride=self.stride, groups=x.shape[1])

    def extra_repr(self) -> str:
        return f"{self.channels}, filter_size={self.filter_size}, stride={self.stride}, pad={self.pad_mode}"


@register_pool("blur",
               "anti-aliased BlurPool (Zhang 2019): binomial filter (size 1..7, default 4), reflect pad, stride 2",
               size_option="filter_size", max_first=True)
def _blur(channels: int, filter_size: int = 4, stride: int = 2, pad_type: str = "reflect",
          pad_off: int = 0) -> nn.Module:
    return BlurPool2d(channels, filter_size, stride, pad_type, pad_off)
