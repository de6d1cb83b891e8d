"""Adaptive polyphase sampling, APS (Chaman & Dokmanic, "Truly shift-invariant convolutional neural networks",
CVPR 2021): per sample, keep the polyphase component with the largest l2 norm over channels and positions.

A circular shift of the input by one sample moves every component to another one (and shifts it circularly),
leaving the set of norms unchanged, so the output is the same up to a circular shift of the output: exact shift
invariance for inputs with even sides. `aps3` blurs with the 3x3 binomial filter first (their `filter_size`).
"""

from torch import Tensor, nn

from robustbench_lift.pooling.polyphase import PolyphasePool2d, component_norms
from robustbench_lift.pooling.registry import register_pool


class APSPool2d(PolyphasePool2d):
    """APS `(N, C, H, W) -> (N, C, ceil(H/2), ceil(W/2))`; odd sides extended circularly, as their `aps_pad`.

    Args:
        channels: C.
        filter_size: binomial blur 1..7 before the selection (1: none, their default for `resnet18_aps`).
        pad_type: padding of the blur ("circular", their default; "reflect", "replicate", "zero").
    """

    def __init__(self, channels: int, filter_size: int = 1, pad_type: str = "circular") -> None:
        super().__init__(channels, filter_size, pad_type, odd_pad="circular")

    def choose(self, view: Tensor) -> Tensor:
        return component_norms(view).argmax(dim=1)


@register_pool("aps", "adaptive polyphase sampling (Chaman 2021): max-l2-norm component, optional blur (aps3)",
               size_option="filter_size", undecimated="adaptive")
def _aps(channels: int, filter_size: int = 1, pad_type: str = "circular") -> nn.Module:
    return APSPool2d(channels, filter_size, pad_type)
