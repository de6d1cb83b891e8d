"""Polyphase down-sampling: keep one of the four 2x2 polyphase components of `(N, C, H, W)`, chosen per sample.

The shared machinery of APS (`aps.py`) and LPS (`lps.py`): an optional binomial blur at stride 1, the view of
`x` as its components, selection by per-sample weights over the four components, and the residual shortcut
reusing its block's choice, and the un-pooling that puts a map back into the chosen component (SegNet's decoder).
Component `k` holds the pixels at row offset `k // 2` and column offset `k % 2`
(`pixel_unshuffle`'s order, LPS's); APS's code orders 1 and 2 the other way round, which only matters for ties.
Sources and the authors' code behaviour: docs/poolings.md.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.pooling.blur import binomial_filter

POLYPHASE_PADS = ("circular", "reflect", "replicate", "zero")
"""Padding of the optional blur; both papers' code pads circularly (their exact shift invariance needs it)."""


def _pad_mode(pad_type: str) -> str:
    if pad_type not in POLYPHASE_PADS:
        raise UsageError(f"pad_type must be one of {POLYPHASE_PADS}, got {pad_type!r}")
    return "constant" if pad_type == "zero" else pad_type


class CircularPad(torch.autograd.Function):
    """`F.pad(x, padding, mode="circular")` with a one-pass backward: each padded strip's gradient is added to
    the samples it copied. `F.pad`'s own backward runs a chain of full-size zero fills and copies, several times
    the cost of the blur or convolution that follows it."""

    @staticmethod
    def forward(ctx, x: Tensor, padding: tuple[int, int, int, int]) -> Tensor:
        ctx.padding = padding
        return F.pad(x, padding, mode="circular")

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        left, right, top, bottom = ctx.padding
        height, width = grad.shape[-2] - top - bottom, grad.shape[-1] - left - right
        rows = {0: slice(top, top + height), -1: slice(0, top), 1: slice(top + height, None)}  # source strips
        cols = {0: slice(left, left + width), -1: slice(0, left), 1: slice(left + width, None)}
        into_rows = {0: slice(None), -1: slice(height - top, None), 1: slice(0, bottom)}  # where they wrap to
        into_cols = {0: slice(None), -1: slice(width - left, None), 1: slice(0, right)}
        out = grad[..., rows[0], cols[0]].clone()
        for r in (0, -1, 1):
            for c in (0, -1, 1):
                if r or c:
                    out[..., into_rows[r], into_cols[c]] += grad[..., rows[r], cols[c]]
        return out, None


def circular_pad(x: Tensor, padding: tuple[int, int, int, int]) -> Tensor:
    """`x` `(..., H, W)` circularly padded by `(left, right, top, bottom)`, each at most the side it wraps."""
    return CircularPad.apply(x, tuple(padding))


def polyphase_view(x: Tensor, odd_pad: str) -> Tensor:
    """`x` `(N, C, H, W)` as `(N, C, H', 2, W', 2)` with `H' = ceil(H/2)`, `W' = ceil(W/2)`: `[..., r, :, c]` is
    the component at row offset `r`, column offset `c`. An odd side is first extended by one sample at its end,
    `odd_pad` "circular" (APS's code) or "zero" (LPS's code)."""
    height, width = x.shape[-2:]
    if height % 2 or width % 2:
        x = F.pad(x, (0, width % 2, 0, height % 2), mode="constant" if odd_pad == "zero" else odd_pad)
    n, c, height, width = x.shape
    return x.view(n, c, height // 2, 2, width // 2, 2)


def stacked_components(view: Tensor) -> Tensor:
    """The four components of a `polyphase_view` side by side, `(N, 4, C, H', W')` (one copy), component `k` at
    row offset `k // 2`, column offset `k % 2`."""
    return view.permute(0, 3, 5, 1, 2, 4).flatten(1, 2)


def component_norms(view: Tensor) -> Tensor:
    """l2 norm of each component of a `polyphase_view` over channels and positions, `(N, 4)`, accumulated in
    float32 at least so that half precision picks the same component."""
    return torch.linalg.vector_norm(view, dim=(1, 2, 4), dtype=torch.promote_types(view.dtype, torch.float32)
                                    ).flatten(1)


def select(view: Tensor, choice: Tensor) -> Tensor:
    """The chosen component of a `polyphase_view`, `(N, C, H', W')`. `choice` is either `(N,)` component
    indices (a gather: the other components cost nothing and get no gradient) or `(N, 4)` weights (the weighted
    sum of the components, LPS's Gumbel-softmax in training)."""
    if choice.dtype == torch.long:
        return view[torch.arange(view.shape[0], device=view.device), :, :, choice // 2, :, choice % 2]
    # components side by side (one copy), then one (1 x 4) @ (4 x C H' W') product per sample: several times
    # faster forward and backward than a broadcast product summed over the interleaved offset axes
    n, c, height, _, width, _ = view.shape
    components = stacked_components(view).reshape(n, 4, -1)
    return torch.bmm(choice.to(view.dtype).view(n, 1, 4), components).view(n, c, height, width)


class PolyphasePool2d(nn.Module):
    """Blur (optional) then keep the chosen polyphase component: `(N, C, H, W) -> (N, C, ceil(H/2), ceil(W/2))`.

    Subclasses implement `choose(view)`, returning a `select` choice. `last_choice` holds that of the last forward;
    after `follow(leader)` the layer uses its leader's `last_choice` instead of choosing (a ResNet shortcut
    reusing its main branch's choice, as both papers' ResNets do; `share_shortcut_choice` wires a model).

    Args:
        channels: C.
        filter_size: binomial blur size 1..7 before the selection (1: none); the `aps3` / `lps3` suffix.
        pad_type: padding of the blur, one of `POLYPHASE_PADS`.
        odd_pad: how an odd side is extended to even before the split ("circular" or "zero").
    """

    def __init__(self, channels: int, filter_size: int, pad_type: str, odd_pad: str) -> None:
        super().__init__()
        if not 1 <= filter_size <= 7:
            raise UsageError(f"filter_size must be in 1..7, got {filter_size}")
        self.channels, self.filter_size, self.odd_pad = channels, filter_size, odd_pad
        self.pad_mode = _pad_mode(pad_type)
        self.padding = ((filter_size - 1) // 2, filter_size // 2) * 2
        if filter_size > 1:
            self.register_buffer("filt", binomial_filter(filter_size).expand(channels, 1, -1, -1).clone())
        self.last_choice: Tensor | None = None
        self._leader: tuple[PolyphasePool2d, ...] = ()  # a tuple, so the leader is not registered as a child

    def choose(self, view: Tensor) -> Tensor:
        raise NotImplementedError

    def follow(self, leader: "PolyphasePool2d") -> None:
        """Use `leader`'s last choice from now on (the leader must run first, on the same batch)."""
        self._leader = (leader,)

    def blur(self, x: Tensor) -> Tensor:
        """The binomial low-pass at stride 1 (identity for filter_size 1)."""
        if self.filter_size == 1:
            return x
        x = circular_pad(x, self.padding) if self.pad_mode == "circular" else F.pad(x, self.padding, mode=self.pad_mode)
        return F.conv2d(x, self.filt.to(x.dtype), groups=x.shape[1])

    def forward(self, x: Tensor) -> Tensor:
        view = polyphase_view(self.blur(x), self.odd_pad)
        if self._leader:
            choice = self._leader[0].last_choice
            if choice is None or choice.shape[0] != x.shape[0]:
                raise LiftbenchError(f"{type(self).__name__} follows a layer that has not run on this batch of "
                                     f"{x.shape[0]}: run the block's main branch before its shortcut")
        else:
            choice = self.choose(view)
        self.last_choice = choice
        return select(view, choice)

    def unpool(self, y: Tensor, choice: Tensor, size: tuple[int, int]) -> Tensor:
        """The up-sampling partner (APS-U, LPS's un-pooling): `y` `(N, C, H', W')` placed into component `choice`
        of a zero map `(N, C, size)` (`polyphase_unpool`); with a blur (`filter_size > 1`) followed by the same
        binomial low-pass times 4, the gain that zero insertion takes away (a constant map stays constant)."""
        up = polyphase_unpool(y, choice, size)
        return 4 * self.blur(up) if self.filter_size > 1 else up

    def extra_repr(self) -> str:
        return f"{self.channels}, filter_size={self.filter_size}, pad={self.pad_mode}, follows={bool(self._leader)}"


def polyphase_unpool(y: Tensor, choice: Tensor, size: tuple[int, int]) -> Tensor:
    """The inverse placement of `select`: `y` `(N, C, H', W')` into a zero map `(N, C, 2H', 2W')`, cropped to `size`
    (`(H, W)` before `polyphase_view` extended odd sides). `choice` `(N,)` component indices: `y` exactly at the
    chosen component, zeros elsewhere (the equivariant counterpart of max-unpooling); `(N, 4)` weights: component
    `k` holds `choice[:, k] * y` (LPS's un-pooling in training, with the down layer's Gumbel-softmax sample)."""
    n, c, height, width = y.shape
    if choice.dtype != torch.long:
        up = y[:, :, :, None, :, None] * choice.to(y.dtype).view(n, 1, 1, 2, 1, 2)
    else:
        up = y.new_zeros(n, c, height, 2, width, 2)
        up[torch.arange(n, device=y.device), :, :, choice // 2, :, choice % 2] = y
    return up.reshape(n, c, 2 * height, 2 * width)[..., :size[0], :size[1]]


def share_shortcut_choice(model: nn.Module) -> int:
    """Make the polyphase pool of every residual shortcut follow the polyphase pool of its block's main branch,
    for blocks laid out as torchvision's BasicBlock/Bottleneck (a `downsample` child) with exactly one such pool
    on each side: the zoo's spliced `downsample.0` and `--pool` swap's `downsample.0.pool` alike. Returns the
    number of shortcuts linked."""
    linked = 0
    for block in model.modules():
        shortcut = getattr(block, "downsample", None)
        if not isinstance(shortcut, nn.Module):
            continue
        followers = [m for m in shortcut.modules() if isinstance(m, PolyphasePool2d)]
        inside = {id(m) for m in followers}
        leaders = [m for m in block.modules() if isinstance(m, PolyphasePool2d) and id(m) not in inside]
        if len(followers) == 1 and len(leaders) == 1:
            followers[0].follow(leaders[0])
            linked += 1
    return linked
