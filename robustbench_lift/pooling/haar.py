"""Haar pooling: the fixed Haar wavelet written as a lifting scheme (no parameters).

Predictor `P(x_e) = x_e` and updater `U(d) = d / 2` give `d = x_o - x_e` and `s = (x_e + x_o) / 2`, so LL is
the 2x2 average and LH, HL, HH are the vertical, horizontal and diagonal differences. Pools return LL by
default (the classic Haar pooling); "all" sums the four sub-bands as LiftPool does.
"""

from collections.abc import Iterable

from torch import Tensor, nn

from robustbench_lift.pooling.lift import SUBBANDS_2D, LiftSubbands2d, _parse_subbands
from robustbench_lift.pooling.lifting import lift, unlift
from robustbench_lift.pooling.registry import register_pool


def _identity(x: Tensor, dim: int) -> Tensor:
    return x


def _half(x: Tensor, dim: int) -> Tensor:
    return 0.5 * x


def haar_decompose(x: Tensor) -> LiftSubbands2d:
    """Haar sub-bands of `x` `(N, C, H, W)` (odd sizes reflect-extended as in LiftPool), plus its size."""
    s, d, _ = lift(x, 3, _identity, _half)
    ll, lh, _ = lift(s, 2, _identity, _half)
    hl, hh, _ = lift(d, 2, _identity, _half)
    return LiftSubbands2d(ll, lh, hl, hh, (x.shape[-2], x.shape[-1]))


def haar_reconstruct(bands: LiftSubbands2d) -> Tensor:
    """Exact inverse of `haar_decompose`."""
    height, width = bands.size
    s = unlift(bands.ll, bands.lh, 2, height, _identity, _half)
    d = unlift(bands.hl, bands.hh, 2, height, _identity, _half)
    return unlift(s, d, 3, width, _identity, _half)


class HaarPool2d(nn.Module):
    """Fixed Haar pooling `(N, C, H, W) -> (N, C, ceil(H/2), ceil(W/2))`: the sum of the chosen sub-bands."""

    def __init__(self, subbands: str | Iterable[str] = "LL") -> None:
        super().__init__()
        self.subbands = _parse_subbands(subbands, SUBBANDS_2D)

    def forward(self, x: Tensor) -> Tensor:
        bands = haar_decompose(x)
        return sum(getattr(bands, name.lower()) for name in self.subbands)

    def extra_repr(self) -> str:
        return f"subbands={self.subbands}"


@register_pool("haar", "fixed Haar wavelet lifting: LL (2x2 average) by default, or 'all' sub-bands summed")
def _haar(channels: int, subbands: str | Iterable[str] = "LL") -> nn.Module:
    return HaarPool2d(subbands)
