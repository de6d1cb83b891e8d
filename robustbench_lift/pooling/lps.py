"""Learnable polyphase sampling, LPS (Rojas-Gomez et al., "Learnable polyphase sampling for shift invariant and
equivariant convolutional networks", NeurIPS 2022).

A small network scores each polyphase component: two 3x3 convolutions (C -> hid -> hid, ReLU between, circular
"same" padding) shared by the four components, averaged over channels and positions to one logit each. Training
mixes the components by a Gumbel-softmax sample of the logits (soft, temperature `gumbel_tau`, a buffer the
recipe anneals); evaluation keeps the argmax component. `lps3` blurs with the 3x3 binomial filter first and
scores the blurred components, as their code does by default.

Speed: both convolutions (and the blur) pad with `circular_pad`, whose backward folds the padding back in one
pass; `F.pad`'s circular mode, as `Conv2d(padding_mode="circular")` runs it, costs several full-size zero fills
and copies in the backward.
"""

from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustbench_lift.pooling.polyphase import PolyphasePool2d, circular_pad, stacked_components
from robustbench_lift.pooling.registry import register_pool

HIDDEN_DIVISOR = 8
"""Default hidden width = channels / 8: their ImageNet ResNet-18 config (64, 128, 256, 512 -> 8, 16, 32, 64)."""


class LogitNet(nn.Module):
    """`(4 N, C, H', W')` components (those of sample `n` at `4 n .. 4 n + 3`) -> `(N, 4)` logits; attribute
    names and layers as their `LPSLogitLayersV2`. The convolutions' circular "same" padding is applied by
    `circular_pad` (the same numbers, a cheaper backward)."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, hidden, 3, padding="same", padding_mode="circular")
        self.conv2 = nn.Conv2d(hidden, hidden, 3, padding="same", padding_mode="circular")
        self.relu = nn.ReLU()

    @staticmethod
    def same(conv: nn.Conv2d, x: Tensor) -> Tensor:
        return F.conv2d(circular_pad(x, (1, 1, 1, 1)), conv.weight, conv.bias)

    def forward(self, components: Tensor) -> Tensor:
        scores = self.same(self.conv2, self.relu(self.same(self.conv1, components)))
        return scores.mean(dim=(1, 2, 3)).view(-1, 4)


class LPSPool2d(PolyphasePool2d):
    """LPS `(N, C, H, W) -> (N, C, ceil(H/2), ceil(W/2))`; odd sides zero-extended, as their `split_polyV2`.

    Args:
        channels: C.
        filter_size: binomial blur 1..7 before the split (1: none).
        hidden: width of the logit network (default channels // 8, at least 1).
        pad_type: padding of the blur ("circular", their default; "reflect", "replicate", "zero").
    """

    def __init__(self, channels: int, filter_size: int = 1, hidden: int | None = None,
                 pad_type: str = "circular") -> None:
        super().__init__(channels, filter_size, pad_type, odd_pad="zero")
        self.get_logits = LogitNet(channels, hidden or max(1, channels // HIDDEN_DIVISOR))
        self.register_buffer("gumbel_tau", torch.tensor(1.0))

    def logits(self, view: Tensor) -> Tensor:
        """`(N, 4)` logits of the components of a `polyphase_view`, component `k` at row/col offset `k//2, k%2`;
        in the network's own dtype even under autocast, so that mixed precision picks the same component."""
        dtype = self.get_logits.conv1.weight.dtype
        meta = view.device.type == "meta"  # autocast has no meta device (the swap traces shapes there)
        with nullcontext() if meta else torch.autocast(view.device.type, enabled=False):
            return self.get_logits(stacked_components(view).flatten(0, 1).to(dtype))

    def choose(self, view: Tensor) -> Tensor:
        logits = self.logits(view)
        if self.training:  # F.gumbel_softmax's soft sample, with the temperature kept a tensor (no host sync)
            gumbels = -torch.empty_like(logits).exponential_().log()
            return ((logits + gumbels) / self.gumbel_tau.to(logits.dtype)).softmax(dim=1)
        return logits.argmax(dim=1)

    def follow(self, leader: PolyphasePool2d) -> None:
        """As `PolyphasePool2d.follow`; a follower never scores, so its logit network is dropped (their shortcut
        has none)."""
        super().follow(leader)
        self.get_logits = None


@register_pool("lps", "learnable polyphase sampling (Rojas-Gomez 2022): Gumbel-softmax over the four components "
                      "in training, argmax in evaluation; optional blur (lps3)", size_option="filter_size",
               undecimated="adaptive")
def _lps(channels: int, filter_size: int = 1, hidden: int | None = None, pad_type: str = "circular") -> nn.Module:
    return LPSPool2d(channels, filter_size, hidden, pad_type)
