"""The fused LiftPool's buffers: per-step P/U filters, a reusable workspace, and the reflection pad and its
adjoint written in place (`lift_fused.py` holds the arithmetic and the autograd Function)."""

from typing import NamedTuple

import torch
from torch import Tensor

from robustbench_lift.pooling.lifting import pad_axis, reflect_index


class Filter(NamedTuple):
    """P or U for one step: conv weight `(C, 1, 1, K)` along W or `(C, 1, K, 1)` along H, scale `(1, C, 1, 1)`."""

    weight: Tensor
    scale: Tensor
    left: int
    right: int


def step_filters(dim: int, weights: tuple[Tensor, ...], conv_dtype: torch.dtype) -> tuple[Filter, Filter]:
    taps = weights[0].shape[-1]
    left, right = (taps - 1) // 2, taps // 2  # the extra tap of an even K goes to the right, as in LiftingFilter
    return tuple(Filter(w.unsqueeze(5 - dim).to(conv_dtype), a.view(1, -1, 1, 1), left, right)
                 for w, a in (weights[:2], weights[2:]))


class Workspace:
    """Scratch tensors of one forward or backward call, each allocated once and reused by the three steps.

    The steps run in turn and nothing written here outlives the step that wrote it; a slot grows if a later
    step needs more.
    """

    def __init__(self) -> None:
        self._slots: dict[str, Tensor] = {}

    def take(self, slot: str, shape: list[int], dtype: torch.dtype, device: torch.device) -> Tensor:
        """A channels-last `(N, C, H, W)` tensor over the slot's memory."""
        n, c, h, w = shape
        flat = self._slots.get(slot)
        if flat is None or flat.numel() < n * c * h * w or flat.dtype != dtype:
            flat = self._slots[slot] = torch.empty(n * c * h * w, dtype=dtype, device=device)
        return flat[:n * c * h * w].view(n, h, w, c).permute(0, 3, 1, 2)

    def padded(self, like: Tensor, dim: int, filt: Filter, dtype: torch.dtype) -> Tensor:
        """Room for `like` reflection-padded along `dim` for `filt`."""
        shape = list(like.shape)
        shape[dim] += filt.left + filt.right
        return self.take("padded", shape, dtype, like.device)


def pad_into(buffer: Tensor, source: Tensor, dim: int, filt: Filter) -> Tensor:
    """Write `source` reflection-padded along `dim` into `buffer` (as `pad_axis`, without a new tensor)."""
    length, left, right = source.shape[dim], filt.left, filt.right
    if length <= max(left, right):  # too short to reflect once: pad_axis' periodic reflection
        return buffer.copy_(pad_axis(source, dim, left, right))
    buffer.narrow(dim, left, length).copy_(source)
    if left:
        buffer.narrow(dim, 0, left).copy_(source.narrow(dim, 1, left).flip(dim))
    if right:
        buffer.narrow(dim, left + length, right).copy_(source.narrow(dim, length - 1 - right, right).flip(dim))
    return buffer


def add_pad_adjoint(target: Tensor, grad: Tensor, dim: int, filt: Filter, alpha: float) -> None:
    """`target += alpha * scale * (adjoint of the reflection pad)(grad)`, scale P's or U's per-channel factor.

    The adjoint sends each padded sample's gradient back to the sample it was copied from.
    """
    length, left, right = target.shape[dim], filt.left, filt.right
    if length <= max(left, right):
        index = reflect_index(length, left, right, grad.device)
        target.index_add_(dim, index, (grad * filt.scale).to(target.dtype), alpha=alpha)
        return
    target.addcmul_(grad.narrow(dim, left, length), filt.scale, value=alpha)
    if left:
        target.narrow(dim, 1, left).addcmul_(grad.narrow(dim, 0, left).flip(dim), filt.scale, value=alpha)
    if right:
        target.narrow(dim, length - 1 - right, right).addcmul_(
            grad.narrow(dim, left + length, right).flip(dim), filt.scale, value=alpha)
