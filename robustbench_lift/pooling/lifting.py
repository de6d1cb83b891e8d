"""The lifting scheme along one axis of a 4-D tensor: split, predict, update, and its exact inverse.

Shared by the learned LiftPool layers (`lift.py`) and the fixed Haar pooling (`haar.py`). A step along axis
`dim` (2 = H, 3 = W) of a `(N, C, H, W)` tensor is, with `x_e = x[0::2]` and `x_o = x[1::2]` on that axis::

    d = x_o - P(x_e)        (detail, high-pass)
    s = x_e + U(d)          (approximation, low-pass)

and the inverse, exact for any P and U, is ``x_e = s - U(d)``, ``x_o = d + P(x_e)``, interleave. An odd axis is
first extended by one reflected sample (our choice, `docs/liftpool.md`); the inverse crops it again.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

Operator = Callable[[Tensor, int], Tensor]
"""A predictor or updater: `(x, dim) -> tensor of x's shape`, acting along axis `dim` of a (N, C, H, W) tensor."""


def pad_axis(x: Tensor, dim: int, left: int, right: int) -> Tensor:
    """Reflection-pad axis `dim` (2 or 3) of a 4-D tensor by `left` and `right` samples (no edge repeat).

    Eager mode uses `F.pad(mode="reflect")`, one kernel whose backward is a single pass. Under `torch.compile`
    it is a `cat` of flipped edges instead: `F.pad` followed by a `K x 1` conv breaks inductor when the height
    is dynamic (PyTorch 2.14). An axis too short to reflect once, such as the 1-sample halves of a 2-pixel
    map, is indexed with a repeated (periodic) reflection.
    """
    if left == 0 and right == 0:
        return x
    length = x.shape[dim]
    if length > max(left, right):
        if not torch.compiler.is_compiling():
            return F.pad(x, (left, right, 0, 0) if dim == 3 else (0, 0, left, right), mode="reflect")
        edges = (x.narrow(dim, 1, left).flip(dim), x, x.narrow(dim, length - 1 - right, right).flip(dim))
        return torch.cat(edges, dim)
    return x.index_select(dim, reflect_index(length, left, right, x.device))


def reflect_index(length: int, left: int, right: int, device: torch.device) -> Tensor:
    """Source index of every sample of an axis of `length` reflection-padded by `left`, `right` (periodic when
    short)."""
    positions = torch.arange(-left, length + right, device=device)
    if length == 1:
        return torch.zeros_like(positions)
    period = 2 * (length - 1)
    index = positions.remainder(period)
    return torch.where(index < length, index, period - index)


def is_channels_last(x: Tensor) -> bool:
    """True for a 4-D tensor stored channels-last (and not also contiguous, as size-1 axes can make it)."""
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def _memory_order(x: Tensor) -> tuple[int, ...]:
    """The permutation that views `x` in its memory order: NHWC for channels-last data, else the identity."""
    return (0, 2, 3, 1) if is_channels_last(x) else tuple(range(x.dim()))


def _inverse(order: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(order.index(axis) for axis in range(len(order)))


def split(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Even and odd samples along `dim`, after extending an odd-length axis by one reflected sample."""
    if x.shape[dim] % 2:
        x = pad_axis(x, dim, 0, 1)
    # unbind's backward is one stack; strided slicing would zero-fill a full-size gradient per half. Splitting
    # the memory-order view makes that stack a blockwise copy whose result keeps x's layout; on channels-last
    # data a stack of NCHW views would transpose element by element and return an NCHW gradient.
    order = _memory_order(x)
    at = order.index(dim)
    halves = x.permute(order).unflatten(at, (-1, 2)).unbind(at + 1)
    return halves[0].permute(_inverse(order)), halves[1].permute(_inverse(order))


def merge(even: Tensor, odd: Tensor, dim: int, length: int) -> Tensor:
    """Interleave `even` and `odd` along `dim` and crop to the original `length` (inverse of `split`)."""
    order = _memory_order(even)  # interleave in memory order, as in `split`, so the result keeps the layout
    at = order.index(dim)
    merged = torch.stack((even.permute(order), odd.permute(order)), dim=at + 1).flatten(at, at + 1)
    merged = merged.permute(_inverse(order))
    # Crop only an extended axis: narrow's backward writes into a new contiguous (NCHW) gradient, which would turn
    # every later gradient of channels-last data NCHW (slow element-wise backward and layout copies).
    return merged if merged.shape[dim] == length else merged.narrow(dim, 0, length)


def lift(x: Tensor, dim: int, predict: Operator, update: Operator, constraints: bool = False,
         ) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor] | None]:
    """One lifting step along `dim`.

    Returns the approximation `s` and detail `d`, each of half (ceil) length along `dim`, and, if asked for,
    the step's constraints `(c_u, c_p) = (mean((s - x_o)^2), mean(d^2))` as scalars (else None).
    """
    even, odd = split(x, dim)
    detail = odd - predict(even, dim)
    approx = even + update(detail, dim)
    if not constraints:
        return approx, detail, None
    return approx, detail, (_mean_square(approx - odd), _mean_square(detail))


def _mean_square(x: Tensor) -> Tensor:
    # The fused norm materialises no squared copy, and its backward is one pass in x's layout; mse_loss's
    # backward zero-fills an NCHW gradient, three times slower on channels-last bands.
    return torch.linalg.vector_norm(x).square() / x.numel()


def unlift(approx: Tensor, detail: Tensor, dim: int, length: int, predict: Operator, update: Operator) -> Tensor:
    """Invert `lift` along `dim`, returning a tensor of `length` samples on that axis."""
    even = approx - update(detail, dim)
    odd = detail + predict(even, dim)
    return merge(even, odd, dim, length)
