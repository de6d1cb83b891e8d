"""LiftPool: LiftDownPool and LiftUpPool in 1-D and 2-D (Zhao & Snoek, ICLR 2021, arXiv 2104.00996).

LiftDownPool splits a signal into even and odd samples, predicts the odd from the even (detail
`d = x_o - P(x_e)`) and updates the even with the detail (approximation `s = x_e + U(d)`). In 2-D it lifts
along W, then lifts both results along H, giving the sub-bands LL, LH (from s) and HL, HH (from d); ONE
predictor and ONE updater serve all three 1-D passes, acting as `1 x K` kernels along W and `K x 1` along H.
Pooling returns the sum of the chosen sub-bands (all four by default). LiftUpPool runs the steps backwards
with the stored details and is exact for any P and U.

Where the paper is silent the choices are ours and documented in `docs/liftpool.md`: reflection padding,
K = 5, zero-initialised 1x1 weights (a fresh layer is the lazy wavelet), one reflected sample appended to an
odd axis, and the constraints as means over the three 1-D steps.

Example::

    >>> down = LiftDownPool2d(64)
    >>> x = torch.randn(2, 64, 33, 32)
    >>> down(x).shape
    torch.Size([2, 64, 17, 16])
    >>> bands = down.decompose(x)
    >>> torch.allclose(LiftUpPool2d(down)(bands), x, atol=1e-5)
    True
"""

import math
from collections.abc import Iterable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.memory import check_memory
from robustbench_lift.pooling.constraints import DEFAULT_LAMBDA_P, DEFAULT_LAMBDA_U
from robustbench_lift.pooling.lift_fused import lift_pool2d
from robustbench_lift.pooling.lifting import is_channels_last, lift, pad_axis, unlift
from robustbench_lift.pooling.registry import register_pool

SUBBANDS_1D = ("L", "H")
SUBBANDS_2D = ("LL", "LH", "HL", "HH")


class LiftSubbands1d(NamedTuple):
    """Output of `LiftDownPool1d.decompose`: low (L) and high (H) bands `(N, C, ceil(L/2))`, input length."""

    low: Tensor
    high: Tensor
    length: int


class LiftSubbands2d(NamedTuple):
    """Output of `LiftDownPool2d.decompose`: four `(N, C, ceil(H/2), ceil(W/2))` bands and the input (H, W)."""

    ll: Tensor
    lh: Tensor
    hl: Tensor
    hh: Tensor
    size: tuple[int, int]


class LiftingFilter(nn.Module):
    """A predictor or updater: reflection pad, depthwise K-tap conv, ReLU, per-channel 1x1 conv, Tanh.

    `C*K + C` parameters. The same weights act along W (`1 x K` kernel) or H (`K x 1`) as `forward`'s `dim`
    says. The 1x1 weights start at zero, so a fresh filter outputs zero.
    """

    def __init__(self, channels: int, kernel_size: int = 5) -> None:
        super().__init__()
        if channels < 1 or kernel_size < 1:
            raise UsageError(f"LiftingFilter needs channels >= 1 and kernel_size >= 1, got {channels}, {kernel_size}")
        check_memory(4 * channels * kernel_size, f"LiftingFilter({channels}, kernel_size={kernel_size})",
                     "use a kernel size of a few taps (the paper's is 5)")
        self.kernel_size = kernel_size
        self.depthwise = nn.Parameter(torch.empty(channels, 1, kernel_size))
        self.pointwise = nn.Parameter(torch.zeros(channels))
        nn.init.kaiming_uniform_(self.depthwise, a=math.sqrt(5))  # nn.Conv2d's default initialisation

    def forward(self, x: Tensor, dim: int) -> Tensor:
        """Filter `x` `(N, C, H, W)` along `dim` (2 = H, 3 = W); same shape out, values in (-1, 1)."""
        taps = self.kernel_size
        x = pad_axis(x, dim, (taps - 1) // 2, taps // 2)  # the extra tap of an even K goes to the right
        weight = self.depthwise.unsqueeze(5 - dim)  # (C, 1, 1, K) along W, (C, 1, K, 1) along H
        y = F.relu_(F.conv2d(x, weight, groups=x.shape[1]))
        # In place where autograd allows: each avoided allocation of a band-sized tensor is a pass saved.
        # With a graph, ReLU's saved output must survive the scaling; without one (inference) it need not.
        scale = self.pointwise.view(1, -1, 1, 1)
        return torch.tanh_(y * scale if y.requires_grad else y.mul_(scale))

    def extra_repr(self) -> str:
        return f"{self.pointwise.numel()}, kernel_size={self.kernel_size}"


def _parse_subbands(subbands: str | Iterable[str], valid: tuple[str, ...]) -> tuple[str, ...]:
    chosen = valid if subbands == "all" else ((subbands,) if isinstance(subbands, str) else tuple(subbands))
    unknown = [band for band in chosen if band not in valid]
    if not chosen or unknown or len(set(chosen)) != len(chosen):
        raise UsageError(f"subbands must be 'all' or a non-empty subset of {valid} without repeats, got {subbands!r}")
    return tuple(band for band in valid if band in chosen)


class _LiftDownPool(nn.Module):
    """Shared state of the 1-D and 2-D down-pools: P, U, the chosen sub-bands and the recorded constraints."""

    bands: tuple[str, ...]

    def __init__(self, channels: int, kernel_size: int, subbands: str | Iterable[str]) -> None:
        super().__init__()
        self.subbands = _parse_subbands(subbands, self.bands)
        self.predictor = LiftingFilter(channels, kernel_size)
        self.updater = LiftingFilter(channels, kernel_size)
        # A dict, not a tensor attribute: DataParallel replicas copy __dict__ shallowly, so they all write into
        # this one object (keyed by device) and `lifting_loss` on the wrapped model sees every replica's terms.
        self._constraints: dict[str, tuple[Tensor, Tensor]] = {}

    def _record(self, device: torch.device, steps: list[tuple[Tensor, Tensor] | None]) -> None:
        """Keep the mean `(c_u, c_p)` over the layer's 1-D steps (computed in training mode only)."""
        if self.training:
            self._constraints[str(device)] = tuple(sum(terms) / len(steps) for terms in zip(*steps))

    def recorded_constraints(self, clear: bool = True) -> list[tuple[Tensor, Tensor]]:
        """The `(c_u, c_p)` pairs of the last training-mode forward, one per device; `clear` forgets them."""
        terms = list(self._constraints.values())
        if clear:
            self._constraints.clear()
        return terms

    def extra_repr(self) -> str:
        return f"subbands={self.subbands}"


class LiftDownPool1d(_LiftDownPool):
    """1-D LiftDownPool over `(N, C, L)`: returns the sum of the chosen bands, `(N, C, ceil(L/2))`."""

    bands = SUBBANDS_1D

    def __init__(self, channels: int, kernel_size: int = 5, subbands: str | Iterable[str] = "all") -> None:
        super().__init__(channels, kernel_size, subbands)

    def decompose(self, x: Tensor) -> LiftSubbands1d:
        """Low and high bands of `x` `(N, C, L)`, L >= 2, plus its length for `LiftUpPool1d`."""
        if x.dim() != 3 or x.shape[-1] < 2:
            raise UsageError(f"LiftDownPool1d expects (N, C, L) with L >= 2, got shape {tuple(x.shape)}")
        low, high, step = lift(x.unsqueeze(2), 3, self.predictor, self.updater, self.training)
        self._record(x.device, [step])
        return LiftSubbands1d(low.squeeze(2), high.squeeze(2), x.shape[-1])

    def forward(self, x: Tensor) -> Tensor:
        bands = self.decompose(x)
        return sum(bands.low if name == "L" else bands.high for name in self.subbands)


class LiftDownPool2d(_LiftDownPool):
    """2-D LiftDownPool over `(N, C, H, W)`: returns the sum of the chosen sub-bands, `(N, C, ceil(H/2), ceil(W/2))`.

    Args:
        channels: C; P and U have `C*K + C` parameters each.
        kernel_size: K, taps of the depthwise convs of P and U.
        subbands: "all" (LL + LH + HL + HH, the paper's default) or a subset such as `("LL",)`.
    """

    bands = SUBBANDS_2D

    def __init__(self, channels: int, kernel_size: int = 5, subbands: str | Iterable[str] = "all") -> None:
        super().__init__(channels, kernel_size, subbands)

    def decompose(self, x: Tensor) -> LiftSubbands2d:
        """All four sub-bands of `x` `(N, C, H, W)`, H, W >= 2, plus its size for `LiftUpPool2d`."""
        _check_shape(x)
        memory_format = torch.channels_last if is_channels_last(x) else torch.contiguous_format
        # The depthwise convs of P and U run several times faster on channels-last data (oneDNN, cuDNN).
        x = x.contiguous(memory_format=torch.channels_last)
        s, d, step_w = lift(x, 3, self.predictor, self.updater, self.training)
        ll, lh, step_s = lift(s, 2, self.predictor, self.updater, self.training)
        hl, hh, step_d = lift(d, 2, self.predictor, self.updater, self.training)
        self._record(x.device, [step_w, step_s, step_d])
        bands = (band.contiguous(memory_format=memory_format) for band in (ll, lh, hl, hh))
        return LiftSubbands2d(*bands, (x.shape[-2], x.shape[-1]))

    def forward(self, x: Tensor) -> Tensor:
        """The sum of the chosen sub-bands of `decompose(x)`, computed by `lift_fused` with fewer tensors.

        Under `torch.compile` the module path runs instead, which inductor fuses itself.
        """
        if torch.compiler.is_compiling():
            bands = self.decompose(x)
            return sum(getattr(bands, name.lower()) for name in self.subbands)
        _check_shape(x)
        weights = (self.predictor.depthwise, self.predictor.pointwise, self.updater.depthwise, self.updater.pointwise)
        pooled, constraints = lift_pool2d(x, weights, self.subbands, self.training)
        if constraints is not None:
            self._record(x.device, [constraints])
        return pooled


def _check_shape(x: Tensor) -> None:
    if x.dim() != 4 or min(x.shape[-2:]) < 2:
        raise UsageError(f"LiftDownPool2d expects (N, C, H, W) with H, W >= 2, got shape {tuple(x.shape)}")


class LiftUpPool1d(nn.Module):
    """Inverse of a `LiftDownPool1d`, sharing its P and U: `(low, high, length) -> (N, C, length)`."""

    def __init__(self, down: LiftDownPool1d) -> None:
        super().__init__()
        self.predictor = down.predictor
        self.updater = down.updater

    def forward(self, bands: LiftSubbands1d, low: Tensor | None = None) -> Tensor:
        """Reconstruct the signal; `low` (e.g. a decoder feature) replaces the stored low band if given."""
        low = bands.low if low is None else low
        _check_like(low, bands.high, "low")
        x = unlift(low.unsqueeze(2), bands.high.unsqueeze(2), 3, bands.length, self.predictor, self.updater)
        return x.squeeze(2)


class LiftUpPool2d(nn.Module):
    """Inverse of a `LiftDownPool2d`, sharing its P and U: sub-bands -> `(N, C, H, W)`.

    In an encoder-decoder the decoder feature takes the place of LL and the encoder's stored LH, HL, HH
    supply the details: `up(down.decompose(x), ll=decoder_feature)`.
    """

    def __init__(self, down: LiftDownPool2d) -> None:
        super().__init__()
        self.predictor = down.predictor
        self.updater = down.updater

    def forward(self, bands: LiftSubbands2d, ll: Tensor | None = None) -> Tensor:
        ll = bands.ll if ll is None else ll
        _check_like(ll, bands.lh, "ll")
        height, width = bands.size
        s = unlift(ll, bands.lh, 2, height, self.predictor, self.updater)
        d = unlift(bands.hl, bands.hh, 2, height, self.predictor, self.updater)
        return unlift(s, d, 3, width, self.predictor, self.updater)


def _check_like(band: Tensor, stored: Tensor, name: str) -> None:
    if band.shape != stored.shape:
        raise UsageError(f"{name} must have the stored sub-bands' shape {tuple(stored.shape)}, got {tuple(band.shape)}")


def lifting_loss(
    model: nn.Module,
    lambda_u: float = DEFAULT_LAMBDA_U,
    lambda_p: float = DEFAULT_LAMBDA_P,
    clear: bool = True,
) -> Tensor:
    """`lambda_u * sum(c_u) + lambda_p * sum(c_p)` over every LiftDownPool in `model` (paper: c_u and c_p).

    Uses the constraints recorded by the last training-mode forward (every replica's, under DataParallel),
    and with `clear=True` forgets them so no autograd graph outlives the step. A model without LiftDownPool
    gives a zero scalar. Works on DataParallel / DistributedDataParallel wrappers and compiled modules.
    """
    pools = [m for m in model.modules() if isinstance(m, _LiftDownPool)]
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    total = torch.zeros((), device=device)
    if not pools:
        return total
    recorded = [pool.recorded_constraints(clear) for pool in pools]
    if not any(recorded):
        raise LiftbenchError(
            f"lifting_loss: the model's {len(pools)} LiftDownPool layers recorded no constraints; "
            "call it after a forward pass in training mode (model.train())")
    for replicas in filter(None, recorded):
        # Each DataParallel replica saw a shard of the batch: average them so the value matches one device.
        layer = sum((lambda_u * c_u + lambda_p * c_p).to(device) for c_u, c_p in replicas) / len(replicas)
        total = total + layer
    return total


@register_pool("lift", "LiftPool (Zhao & Snoek 2021): learned lifting down-pool, sub-bands summed (K=5 taps)",
               size_option="kernel_size")
def _lift(channels: int, kernel_size: int = 5, subbands: str | Iterable[str] = "all") -> nn.Module:
    return LiftDownPool2d(channels, kernel_size, subbands)
