"""LiftDownPool2d's fused pooling (`lift_fused`) against the module path (`decompose`) and finite differences."""

import itertools

import pytest
import torch
from test_pooling_lift import randomise

from robustbench_lift.pooling import LiftDownPool2d, lifting_loss
from robustbench_lift.pooling.lift_fused import LiftPool2dFunction, _rows_as_columns

CASES = [  # (kernel_size, (H, W), subbands): odd and tiny axes, even and odd K, K = 1, band subsets
    (5, (6, 10), "all"), (5, (9, 7), "all"), (5, (2, 2), "all"), (5, (3, 5), ("LL",)), (3, (4, 4), ("LH", "HH")),
    (2, (5, 6), "all"), (4, (7, 7), ("HL",)), (1, (4, 6), "all"), (7, (12, 5), ("LL", "HH")), (5, (2, 3), "all"),
]


def module_path(pool: LiftDownPool2d, x: torch.Tensor) -> torch.Tensor:
    """The pooling as the module defines it: the chosen sub-bands of `decompose`, summed, autograd throughout."""
    bands = pool.decompose(x)
    return sum(getattr(bands, name.lower()) for name in pool.subbands)


def loss_and_grads(pool: LiftDownPool2d, x: torch.Tensor, weight: torch.Tensor, fused: bool):
    """A task loss weighted by `weight` plus the lifting loss; returns the output, the loss and every gradient."""
    pool.zero_grad()
    x = x.detach().clone().requires_grad_()
    out = pool(x) if fused else module_path(pool, x)
    loss = (out * weight).sum() + lifting_loss(pool, lambda_u=0.3, lambda_p=0.7)
    loss.backward()
    return [out.detach(), loss.detach(), x.grad] + [p.grad.clone() for p in pool.parameters()]


@pytest.mark.parametrize("kernel_size,size,subbands", CASES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_pooling_equals_the_module_path_with_gradients(kernel_size, size, subbands, channels_last):
    pool = randomise(LiftDownPool2d(3, kernel_size, subbands), seed=kernel_size).double().train()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, *size, dtype=torch.float64, generator=gen)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(2, 3, (size[0] + 1) // 2, (size[1] + 1) // 2, dtype=torch.float64, generator=gen)
    fused, reference = (loss_and_grads(pool, x, weight, flag) for flag in (True, False))
    names = ["output", "loss", "x.grad"] + [n for n, _ in pool.named_parameters()]
    for name, got, want in zip(names, fused, reference):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10, msg=lambda m: f"{name}: {m}")  # noqa: B023
    assert fused[0].is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


@pytest.mark.parametrize("seed", range(3))
def test_float32_training_step_matches_the_module_path(seed):
    pool = randomise(LiftDownPool2d(16), seed).train()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 16, 28, 28, generator=gen).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(4, 16, 14, 14, generator=gen)
    for got, want in zip(*(loss_and_grads(pool, x, weight, flag) for flag in (True, False))):
        # float32 sums in another order: within 2e-5 of each tensor's largest magnitude (measured: <= 6e-6)
        assert (got - want).abs().max() <= 2e-5 * want.abs().max()


def test_gradcheck_of_the_function_and_its_constraints():
    pool = randomise(LiftDownPool2d(2, 3)).double()
    weights = [p.detach().clone().requires_grad_() for p in (
        pool.predictor.depthwise, pool.predictor.pointwise, pool.updater.depthwise, pool.updater.pointwise)]
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    for chosen in [(True, True, True, True), (False, True, False, True)]:
        # every output is checked: the pooled bands and both constraints
        assert torch.autograd.gradcheck(
            lambda t, *w: LiftPool2dFunction.apply(t, *w, chosen, torch.float64),  # noqa: B023
            (x, *weights))


def test_inference_equals_the_autograd_forward_and_records_constraints():
    pool = randomise(LiftDownPool2d(8)).train()
    x = torch.randn(2, 8, 15, 14)
    with torch.no_grad():
        no_grad = pool(x)
    (constraints_no_grad,) = pool.recorded_constraints()
    with_grad = pool(x.requires_grad_())
    (constraints_grad,) = pool.recorded_constraints()
    assert torch.equal(no_grad, with_grad)
    for a, b in zip(constraints_no_grad, constraints_grad):
        assert torch.equal(a, b)
    with torch.inference_mode():
        assert torch.equal(pool.eval()(x), no_grad)
    assert pool.recorded_constraints() == []  # eval mode records nothing


def test_autocast_runs_p_and_u_in_bfloat16_like_the_module_path():
    pool = randomise(LiftDownPool2d(8)).train()
    x = torch.randn(2, 8, 14, 15, generator=torch.Generator().manual_seed(0))
    results = []
    for fused in (True, False):
        pool.zero_grad()
        xg = x.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = pool(xg) if fused else module_path(pool, xg)
            loss = out.square().mean() + lifting_loss(pool)
        loss.backward()
        results.append([out, xg.grad] + [p.grad for p in pool.parameters()])
    assert results[0][0].dtype == torch.float32  # the lifting arithmetic stays in the input's precision
    # same bf16 convolutions on both paths: agreement to float32 rounding, not to bf16's precision, except where
    # oneDNN's float32 accumulation (its order depends on layout and threads) rounds a conv output to the
    # neighbouring bf16 value (seen on ~0.2% of outputs)
    fused, module = results[0][0], results[1][0]
    assert torch.isclose(fused, module, rtol=1e-5, atol=1e-5).double().mean() > 0.98
    torch.testing.assert_close(fused, module, rtol=2e-2, atol=2e-2)
    # gradients pass through bf16 convolutions on both paths, rounded at different points: bf16-level agreement
    # relative to each gradient's scale (measured <= 7e-3 over 8 inputs; a wrong sign or factor is O(1))
    for got, want in zip(results[0][1:], results[1][1:]):
        assert (got - want).abs().max() <= 2e-2 * want.abs().max()


def test_backward_can_run_twice_and_the_output_is_a_new_tensor():
    pool = randomise(LiftDownPool2d(4)).train()
    x = torch.randn(2, 4, 10, 10, requires_grad=True)
    out = pool(x)
    loss = out.square().sum() + lifting_loss(pool, clear=False)
    first = torch.autograd.grad(loss, [x, *pool.parameters()], retain_graph=True)
    second = torch.autograd.grad(loss, [x, *pool.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(first, second))  # backward leaves the saved tensors intact
    out = pool(x)
    out.relu_()  # an in-place op on the output (as a following ReLU(inplace=True) does) is allowed
    out.sum().backward()


@pytest.mark.parametrize("shape", list(itertools.product([1, 3], [2, 5], [4, 7], [6, 1])))
def test_rows_as_columns_is_a_channels_last_view_of_the_same_memory(shape):
    x = torch.randn(shape).contiguous(memory_format=torch.channels_last)
    columns = _rows_as_columns(x)
    n, c, h, w = shape
    assert columns.shape == (n * h, c, w, 1) and columns.data_ptr() == x.data_ptr()
    assert columns.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(columns[:, :, :, 0], x.permute(0, 2, 1, 3).reshape(n * h, c, w), rtol=0, atol=0)
