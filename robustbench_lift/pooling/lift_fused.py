"""LiftDownPool2d's pooling as one autograd Function: the maths of `lifting.lift` and `LiftingFilter`, fewer tensors.

The module path (`lift.py`) records every elementwise op in the autograd graph: each allocates a band-sized
tensor and many are kept for backward, about 29 input-sized allocations and 8 kept per layer for one
forward+backward. Here the same arithmetic writes into buffers it owns (`out=`, in place), keeps only the step
outputs and P's and U's ReLU masks, and a hand-written backward folds the reflection pad's adjoint straight into
the gradient: about 7 allocations and 2.5 kept. On the CPU allocation dominates (glibc maps every block over
32 MiB afresh, so each new band costs a page fault per 4 KiB), on the GPU memory traffic.

A step along `dim` with even `x_e` and odd `x_o` halves and `f(v) = tanh(a * relu(conv_w(pad(v))))`::

    d = x_o - f_P(x_e)        s = x_e + f_U(d)        c_u = mean((s - x_o)^2)        c_p = mean(d^2)

and backward, with `G_s`, `G_d` the gradients reaching s and d (constraint terms included):
`G_d += J_U^T G_s`, `dx_o = G_d - dc_u/dx_o`, `dx_e = G_s - J_P^T G_d`. Two identities keep it lean:
tanh(u) = 2 sigmoid(2u) - 1 (a third of torch.tanh's CPU cost, |error| < 2e-7, so the result matches
`decompose` to float32 rounding rather than bit for bit), and `dL/da = sum_k w_k (dL/dw_k / a)` (below), so
the scale's gradient needs no band-sized product. Under autocast the convolutions run in autocast's dtype and
the lifting arithmetic in the input's, as in `LiftingFilter`. Not twice differentiable.
"""

from contextlib import AbstractContextManager, nullcontext
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from robustbench_lift.pooling.lift_buffers import Filter, Workspace, add_pad_adjoint, pad_into, step_filters
from robustbench_lift.pooling.lifting import is_channels_last, pad_axis, split

BAND_ORDER = ("LL", "LH", "HL", "HH")


def _accumulator_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def _mean_square(x: Tensor) -> Tensor:
    return torch.linalg.vector_norm(x, dtype=_accumulator_dtype(x.dtype)).square() / x.numel()


class _Step(NamedTuple):
    """What one lifting step's backward needs besides its input: its outputs and where P's and U's ReLU was open."""

    approx: Tensor
    detail: Tensor
    open_p: Tensor
    open_u: Tensor


def _filter_into(source: Tensor, dim: int, filt: Filter, buffer: Tensor, keep: bool,
                 out_dtype: torch.dtype) -> tuple[Tensor, Tensor | None]:
    """`sigmoid(2a * relu(conv_w(pad(source))))` (`buffer` takes the padded input), and the ReLU mask if `keep`.

    The result is written over the convolution's output unless autocast gave that another dtype.
    """
    activation = F.conv2d(pad_into(buffer, source, dim, filt), filt.weight, groups=source.shape[1])
    open_mask = activation > 0 if keep else None
    activation.relu_()
    out = activation if activation.dtype == out_dtype else torch.empty_like(activation, dtype=out_dtype)
    return torch.mul(activation, 2 * filt.scale, out=out).sigmoid_(), open_mask


def _lift_forward(x: Tensor, dim: int, weights: tuple[Tensor, ...], conv_dtype: torch.dtype, keep: bool,
                  workspace: Workspace, constraints: list[Tensor] | None) -> _Step:
    """One step along `dim` (even length); appends its `(mean (s - x_o)^2, mean d^2)` to `constraints` if given."""
    predictor, updater = step_filters(dim, weights, conv_dtype)
    even, odd = split(x, dim)
    buffer = workspace.padded(even, dim, predictor, conv_dtype)
    # tanh(u) = 2 sigmoid(2u) - 1, with the factor 2 folded into the scale and the affine part into the update
    detail, open_p = _filter_into(even, dim, predictor, buffer, keep, x.dtype)
    torch.add(odd, detail, alpha=-2, out=detail).add_(1)
    approx, open_u = _filter_into(detail, dim, updater, buffer, keep, x.dtype)
    torch.add(even, approx, alpha=2, out=approx).sub_(1)
    if constraints is not None:
        residual = buffer.narrow(dim, predictor.left, even.shape[dim])
        residual = torch.sub(approx, odd, out=residual if residual.dtype == x.dtype else None)
        constraints += [_mean_square(residual), _mean_square(detail)]
    return _Step(approx, detail, open_p, open_u)


def _lift_backward(x: Tensor, dim: int, step: _Step, grad_approx: Tensor | None, grad_detail: Tensor | None,
                   grad_x: Tensor, weights: tuple[Tensor, ...], conv_dtype: torch.dtype,
                   coef_u: Tensor | None, coef_p: Tensor | None, grad_weights: list[Tensor],
                   workspace: Workspace) -> None:
    """Write the gradient of the step's input `x` into `grad_x`; add P's and U's to `grad_weights` (wP, aP, wU, aU).

    `coef_u`, `coef_p` (`dL/dc * 2 / n`, or None) weigh the constraints' gradients; None band gradients are zeros.
    """
    predictor, updater = step_filters(dim, weights, conv_dtype)
    even, odd = split(x, dim)
    approx, detail = step.approx, step.detail
    grad_even, grad_odd = split(grad_x, dim)
    scratch = workspace.take("scratch", list(even.shape), even.dtype, even.device)
    buffer = workspace.padded(even, dim, predictor, conv_dtype)
    residual = torch.sub(approx, odd, out=scratch) if coef_u is not None else None
    _initialise(grad_even, grad_approx, residual, coef_u)  # dL/ds; dL/dx_e once P's term is added
    _initialise(grad_odd, grad_detail, detail, coef_p)  # dL/dd; dL/dx_o once c_u's direct term is added
    # s = x_e + f_U(d): U's input gradient reaches d.
    torch.sub(approx, even, out=scratch)
    _filter_backward(scratch, grad_even, step.open_u, detail, updater, dim, buffer, grad_weights[2:], 1.0, grad_odd)
    # d = x_o - f_P(x_e): dL/df_P = -dL/dd, and P's input gradient reaches x_e.
    torch.sub(odd, detail, out=scratch)
    _filter_backward(scratch, grad_odd, step.open_p, even, predictor, dim, buffer, grad_weights[:2], -1.0, grad_even)
    if coef_u is not None:
        grad_odd.addcmul_(torch.sub(approx, odd, out=scratch), -coef_u)


def _initialise(target: Tensor, grad: Tensor | None, term: Tensor | None, coef: Tensor | None) -> None:
    """`target = grad + coef * term`, where a None `grad` is zero and a None `coef` drops the term.

    `grad` may already be `target` (the same memory): then only the term is added.
    """
    if grad is None:
        torch.mul(term, coef, out=target) if coef is not None else target.zero_()
    elif coef is not None:
        torch.addcmul(grad, term, coef, out=target)
    elif not _same(grad, target):
        target.copy_(grad)


def _same(a: Tensor, b: Tensor) -> bool:
    return a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride()


def _filter_backward(output: Tensor, grad: Tensor, open_mask: Tensor, source: Tensor, filt: Filter, dim: int,
                     buffer: Tensor, grad_weights: list[Tensor], sign: float, grad_source: Tensor) -> None:
    """Back through `output = tanh(a * relu(z))`, `z = conv_w(pad(source))`; `output` is overwritten.

    `grad` is dL/d(output) up to `sign`; adds `sign *` the gradients to `grad_weights` and `grad_source`. The
    convolution is run backwards on `A = dL/dz / a` rather than dL/dz, so that one call also yields dL/da: where
    A != 0 the ReLU is open and relu(z) = z, so `dL/da = sum(A z) = sum_k w_k (dL/dw_k / a)`. The factor a is then
    applied to the (C, K) weight gradient and inside the pad adjoint's accumulation, not to a band.
    """
    grad_pre = torch.ops.aten.tanh_backward.grad_input(grad, output, grad_input=output)
    torch.ops.aten.threshold_backward.grad_input(grad_pre, open_mask, 0, grad_input=grad_pre)
    conv_grad, padded = grad_pre.to(filt.weight.dtype), pad_into(buffer, source, dim, filt)
    channels = source.shape[1]
    # The input gradient as a transposed convolution: oneDNN runs it as a forward pass, 1.2-2.5x faster than the
    # input half of convolution_backward here.
    grad_padded = F.conv_transpose2d(conv_grad, filt.weight, groups=channels)
    weight = filt.weight.view(-1, 1, filt.left + filt.right + 1, 1)  # as a K x 1 kernel, along H
    if dim == 3:
        # oneDNN's depthwise weight gradient is 2-4x faster along H than along W: run the W filter on the
        # (N*H, C, W, 1) view of the channels-last tensors, in which every row is a column (no copy).
        conv_grad, padded = _rows_as_columns(conv_grad), _rows_as_columns(padded)
    grad_weight = torch.ops.aten.convolution_backward(
        conv_grad, padded, weight, None, (1, 1), (0, 0), (1, 1), False, (0, 0), channels, (False, True, False))[1]
    grad_weight = grad_weight.to(grad_weights[0].dtype)
    grad_weights[1].add_((grad_weight * weight).sum((1, 2, 3)), alpha=sign)
    grad_weights[0].add_((grad_weight * filt.scale.view(-1, 1, 1, 1)).squeeze(3), alpha=sign)
    add_pad_adjoint(grad_source, grad_padded, dim, filt, sign)


def _rows_as_columns(x: Tensor) -> Tensor:
    """(N, C, H, W) channels-last -> (N*H, C, W, 1) channels-last, the same memory (a copy if x is not dense)."""
    n, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(n * h, w, 1, c).permute(0, 3, 1, 2)


def _pool_forward(x: Tensor, weights: tuple[Tensor, ...], chosen: tuple[bool, ...], with_constraints: bool,
                  conv_dtype: torch.dtype, keep: bool) -> tuple[Tensor, Tensor | None, Tensor | None, list[_Step]]:
    """W step, then an H step on each of its outputs; the chosen bands summed, the constraints averaged."""
    constraints: list[Tensor] | None = [] if with_constraints else None
    workspace = Workspace()
    with _autocast_off(x.device.type):
        first = _lift_forward(x, 3, weights, conv_dtype, keep, workspace, constraints)
        low = _lift_forward(_even_rows(first.approx), 2, weights, conv_dtype, keep, workspace, constraints)
        high = _lift_forward(_even_rows(first.detail), 2, weights, conv_dtype, keep, workspace, constraints)
    picked = [band for band, take in zip((low.approx, low.detail, high.approx, high.detail), chosen) if take]
    if keep:  # the bands are kept for backward: sum into a new tensor
        pooled = torch.add(picked[0], picked[1]) if len(picked) > 1 else picked[0].clone()
        picked = picked[2:]
    else:
        pooled, picked = picked[0], picked[1:]
    for band in picked:
        pooled.add_(band)
    c_u, c_p = (sum(constraints[i::2]) / 3 for i in (0, 1)) if constraints is not None else (None, None)
    return pooled, c_u, c_p, [first, low, high]


class LiftPool2dFunction(torch.autograd.Function):
    """`(x, wP, aP, wU, aU) -> (sum of the chosen sub-bands, c_u, c_p)` for x `(N, C, H, W)` with W even."""

    @staticmethod
    def forward(ctx, x: Tensor, w_p: Tensor, a_p: Tensor, w_u: Tensor, a_u: Tensor, chosen: tuple[bool, ...],
                conv_dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
        weights = (w_p, a_p, w_u, a_u)
        pooled, c_u, c_p, steps = _pool_forward(x, weights, chosen, True, conv_dtype, keep=True)
        ctx.save_for_backward(x, *weights, *(tensor for step in steps for tensor in step))
        ctx.chosen, ctx.conv_dtype = chosen, conv_dtype
        ctx.set_materialize_grads(False)
        return pooled, c_u, c_p

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_pooled: Tensor | None, grad_c_u: Tensor | None, grad_c_p: Tensor | None):
        x, *saved = ctx.saved_tensors
        weights = tuple(saved[:4])
        first, low, high = (_Step(*saved[i:i + 4]) for i in (4, 8, 12))
        grad_weights = [torch.zeros_like(w, dtype=_accumulator_dtype(w.dtype)) for w in weights]
        band_grads = [grad_pooled if take else None for take in ctx.chosen]

        def coefs(numel: int) -> tuple[Tensor | None, Tensor | None]:
            # c = (sum over the 3 steps of sum(v^2) / n) / 3, so dc/dv = 2 v / (3 n)
            return tuple(None if g is None else g * (2 / (3 * numel)) for g in (grad_c_u, grad_c_p))

        grad_x = torch.empty_like(x)
        grad_first = split(grad_x, 3)  # the H steps write dL/ds and dL/dd of the W step straight into these
        workspace = Workspace()  # sized for the W step, the largest, which runs last
        workspace.take("scratch", list(first.approx.shape), x.dtype, x.device)
        workspace.padded(first.approx, 3, step_filters(3, weights, ctx.conv_dtype)[0], ctx.conv_dtype)
        with _autocast_off(x.device.type):
            for source, step, grads, target in ((first.approx, low, band_grads[:2], grad_first[0]),
                                                (first.detail, high, band_grads[2:], grad_first[1])):
                source = _even_rows(source)
                grad_source = target if source.shape[2] == x.shape[2] else torch.empty_like(source)
                _lift_backward(source, 2, step, *grads, grad_source, weights, ctx.conv_dtype,
                               *coefs(step.approx.numel()), grad_weights, workspace)
                if grad_source is not target:
                    target.copy_(_fold_rows(grad_source, x.shape[2]))
            _lift_backward(x, 3, first, *grad_first, grad_x, weights, ctx.conv_dtype,
                           *coefs(first.approx.numel()), grad_weights, workspace)
        grads = [g.to(w.dtype) for g, w in zip(grad_weights, weights)]
        return (grad_x, *grads, None, None)


def _even_rows(x: Tensor) -> Tensor:
    """x with one reflected row appended if its height is odd (the lifting's extension of an odd axis)."""
    return pad_axis(x, 2, 0, 1) if x.shape[2] % 2 else x


def _fold_rows(grad: Tensor, height: int) -> Tensor:
    """Adjoint of `_even_rows` for a map of `height` rows: the appended row's gradient goes to its source row."""
    if grad.shape[2] == height:
        return grad
    folded = grad.narrow(2, 0, height)
    folded.narrow(2, height - 2, 1).add_(grad.narrow(2, height, 1))
    return folded


def conv_dtype_for(x: Tensor) -> torch.dtype:
    """The dtype P's and U's convolutions run in: autocast's where it would cast `x`, else x's own."""
    device = x.device.type
    if (torch.amp.is_autocast_available(device) and torch.is_autocast_enabled(device)
            and x.dtype in (torch.float32, torch.float16, torch.bfloat16)):
        return torch.get_autocast_dtype(device)
    return x.dtype


def _autocast_off(device: str) -> AbstractContextManager:
    """The dtypes are chosen explicitly (`conv_dtype_for`); devices without autocast (meta) need no switch."""
    return torch.autocast(device, enabled=False) if torch.amp.is_autocast_available(device) else nullcontext()


def lift_pool2d(x: Tensor, weights: tuple[Tensor, Tensor, Tensor, Tensor], subbands: tuple[str, ...],
                constraints: bool) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
    """Sum of the chosen sub-bands of x `(N, C, H, W)`, H, W >= 2, and the layer's mean `(c_u, c_p)` if asked.

    `weights` are P's and U's `(depthwise (C, 1, K), pointwise (C,))`. The result equals
    `LiftDownPool2d.decompose` summed (to float rounding) and keeps x's memory format; the work runs channels-last.
    """
    memory_format = torch.channels_last if is_channels_last(x) else torch.contiguous_format
    x = x.contiguous(memory_format=torch.channels_last)
    if x.shape[3] % 2:  # an odd axis gains one reflected sample; H's is added after the W step, inside
        x = pad_axis(x, 3, 0, 1)
    chosen = tuple(band in subbands for band in BAND_ORDER)
    weights = tuple(w.to(x.dtype) if i % 2 else w for i, w in enumerate(weights))  # scales act in x's dtype
    conv_dtype = conv_dtype_for(x)
    if torch.is_grad_enabled() and (x.requires_grad or any(w.requires_grad for w in weights)):
        pooled, c_u, c_p = LiftPool2dFunction.apply(x, *weights, chosen, conv_dtype)
    else:
        pooled, c_u, c_p, _ = _pool_forward(x, weights, chosen, constraints, conv_dtype, keep=False)
    return pooled.contiguous(memory_format=memory_format), ((c_u, c_p) if constraints else None)
