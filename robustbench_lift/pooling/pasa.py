"""Pixel-adaptive spatial anti-aliasing, PASA (Zou et al., "Delving deeper into anti-aliasing in ConvNets",
BMVC 2020): a low-pass filter predicted per location and per channel group, applied before subsampling.

A `k x k` convolution (C -> G k^2, no bias) and a BatchNorm predict, at every location, G filters of k^2 taps;
a softmax makes them non-negative. Their released code (`Downsample_PASA_group_softmax`, the released
`resnet101_k3_pasa_group8_softmax` weights) takes the softmax over all G k^2 values jointly, so the G filters of a
location together sum to one (their issue 6: "softmax on groups gives more freedom"); `softmax="group"` normalises
each group's filter to one instead, as the paper's text reads. Channel `c` uses group `c // (C / G)`.
Reflect padding of `k // 2`, then the output is taken at every second location starting at 0.

Speed: the weighted sum runs as `k^2` strided slices of the padded input times that tap's weights, accumulated
in the output (`tap_sum`), with the matching loop as its backward: no `k^2`-times-the-output `unfold` tensor,
and one gradient buffer instead of one per slice. The filter-predicting `k x k` convolution (C -> G k^2 channels)
at full resolution in training (BatchNorm's statistics) stays the layer's main cost (docs/benchmarks.md).
"""

from collections.abc import Iterator
from math import gcd

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from robustbench_lift.errors import UsageError
from robustbench_lift.pooling.registry import register_pool

SOFTMAXES = ("joint", "group")
DEFAULT_GROUP = 8
"""Their released models' group count (`--group 8`)."""


def _taps(kernel_size: int, stride: int, out: tuple[int, int]) -> Iterator[tuple[int, tuple]]:
    """Per tap `t = i k + j`: the slice of the padded input it reads at the `out` output locations."""
    rows, cols = (stride * (side - 1) + 1 for side in out)
    for tap in range(kernel_size ** 2):
        i, j = divmod(tap, kernel_size)
        yield tap, (..., slice(i, i + rows, stride), slice(j, j + cols, stride))


def tap_sum(grouped: Tensor, weights: Tensor, stride: int) -> Tensor:
    """`out[n, g, c, y, x] = sum_t grouped[n, g, c, stride y + t // k, stride x + t % k] weights[n, g, t, y, x]`:
    `grouped` the padded input `(N, G, C/G, H_p, W_p)`, `weights` `(N, G, k^2, H_out, W_out)`."""
    kernel_size = round(weights.shape[2] ** 0.5)
    out = None
    for tap, window in _taps(kernel_size, stride, weights.shape[-2:]):
        weight = weights[:, :, tap, None]
        out = grouped[window] * weight if out is None else out.addcmul_(grouped[window], weight)
    return out


class TapSum(torch.autograd.Function):
    """`tap_sum` with its gradients by the same loop over taps: the input's accumulated into one buffer."""

    @staticmethod
    def forward(ctx, grouped: Tensor, weights: Tensor, stride: int) -> Tensor:
        ctx.save_for_backward(grouped, weights)
        ctx.stride = stride
        return tap_sum(grouped, weights, stride)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        grouped, weights = ctx.saved_tensors
        kernel_size = round(weights.shape[2] ** 0.5)
        grad_input = torch.zeros_like(grouped) if ctx.needs_input_grad[0] else None
        grad_weights = torch.empty_like(weights) if ctx.needs_input_grad[1] else None
        for tap, window in _taps(kernel_size, ctx.stride, weights.shape[-2:]):
            if grad_input is not None:
                grad_input[window].addcmul_(grad, weights[:, :, tap, None])
            if grad_weights is not None:
                grad_weights[:, :, tap] = (grad * grouped[window]).sum(dim=2)
        return grad_input, grad_weights, None


class PASAPool2d(nn.Module):
    """PASA `(N, C, H, W) -> (N, C, ceil(H/stride), ceil(W/stride))`; attribute names as their layer's.

    Args:
        channels: C, divisible by `group`.
        kernel_size: odd filter size k (their 3 and 5); the `pasa3` / `pasa5` suffix.
        group: G, the number of channel groups with their own filters; it must divide C. Default: 8, or
            `gcd(8, C)` when 8 does not divide C (so the layer fits any ConvNet).
        stride: subsampling factor.
        softmax: "joint" over all G k^2 taps (their code, default) or "group" (each filter sums to one).
    """

    def __init__(self, channels: int, kernel_size: int = 3, group: int | None = None, stride: int = 2,
                 softmax: str = "joint") -> None:
        super().__init__()
        group = gcd(DEFAULT_GROUP, channels) if group is None else group
        if kernel_size % 2 == 0 or kernel_size < 1:
            raise UsageError(f"pasa kernel_size must be odd and positive, got {kernel_size}")
        if group < 1 or channels % group:
            raise UsageError(f"pasa group={group} must divide the {channels} channels; pass a divisor of {channels}")
        if softmax not in SOFTMAXES:
            raise UsageError(f"pasa softmax must be one of {SOFTMAXES}, got {softmax!r}")
        self.channels, self.kernel_size, self.group, self.stride, self.softmax = (
            channels, kernel_size, group, stride, softmax)
        self.conv = nn.Conv2d(channels, group * kernel_size ** 2, kernel_size, bias=False)
        self.bn = nn.BatchNorm2d(group * kernel_size ** 2)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")

    def filters(self, padded: Tensor) -> Tensor:
        """Per-location filters at the output locations, `(N, G, k^2, H_out * W_out)`, non-negative."""
        if self.training:  # BatchNorm's batch statistics are over every location, as in their code
            logits = self.bn(self.conv(padded))[:, :, ::self.stride, ::self.stride]
        else:  # running statistics act per location, so only the kept locations need computing
            logits = self.bn(F.conv2d(padded, self.conv.weight.to(padded.dtype), stride=self.stride))
        n, _, height, width = logits.shape
        logits = logits.reshape(n, self.group, self.kernel_size ** 2, height * width)
        if self.softmax == "joint":
            return logits.flatten(1, 2).softmax(dim=1).view_as(logits)
        return logits.softmax(dim=2)

    def forward(self, x: Tensor) -> Tensor:
        n, c, height, width = x.shape
        pad = self.kernel_size // 2
        padded = F.pad(x, (pad,) * 4, mode="reflect")
        out = ((height - 1) // self.stride + 1, (width - 1) // self.stride + 1)
        weights = self.filters(padded).reshape(n, self.group, self.kernel_size ** 2, *out)
        grouped = padded.view(n, self.group, c // self.group, *padded.shape[-2:])
        return TapSum.apply(grouped, weights, self.stride).reshape(n, c, *out)

    def extra_repr(self) -> str:
        return (f"{self.channels}, kernel_size={self.kernel_size}, group={self.group}, stride={self.stride}, "
                f"softmax={self.softmax}")


@register_pool("pasa", "pixel-adaptive anti-aliasing (Zou 2020): predicted per-location softmax filters per "
                       "channel group (kernel 3, group 8), stride 2", size_option="kernel_size", max_first=True)
def _pasa(channels: int, kernel_size: int = 3, group: int | None = None, stride: int = 2,
          softmax: str = "joint") -> nn.Module:
    return PASAPool2d(channels, kernel_size, group, stride, softmax)
