"""LiftDownPool / LiftUpPool: exact inversion, closed forms, gradients, constraints and lifting_loss."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.pooling import (
    LiftDownPool1d,
    LiftDownPool2d,
    LiftSubbands2d,
    LiftUpPool1d,
    LiftUpPool2d,
    lifting_loss,
)


def randomise(pool: nn.Module, seed: int = 0) -> nn.Module:
    """Give every P and U non-zero 1x1 weights so that the lifting is far from the lazy wavelet."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for filt in (pool.predictor, pool.updater):
            filt.depthwise.copy_(torch.randn(filt.depthwise.shape, generator=gen))
            filt.pointwise.copy_(torch.randn(filt.pointwise.shape, generator=gen))
    return pool


SIZES = [(2, 2), (2, 3), (3, 2), (3, 3), (4, 7), (5, 5), (8, 8), (13, 6), (17, 31), (32, 33), (56, 56)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype,tolerance", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_lift2d_reconstructs_exactly(size, dtype, tolerance):
    gen = torch.Generator().manual_seed(sum(size))
    for batch, channels, taps in [(1, 1, 5), (3, 4, 5), (2, 3, 4), (2, 2, 1), (1, 3, 7)]:
        down = randomise(LiftDownPool2d(channels, taps), seed=batch + taps).to(dtype)
        x = 3 * torch.randn(batch, channels, *size, generator=gen, dtype=dtype)
        bands = down.decompose(x)
        assert bands.ll.shape == (batch, channels, (size[0] + 1) // 2, (size[1] + 1) // 2)
        error = (LiftUpPool2d(down)(bands) - x).abs().max().item()
        assert error <= tolerance, (size, batch, channels, taps, error)


@pytest.mark.parametrize("length", [2, 3, 4, 9, 64, 101])
@pytest.mark.parametrize("dtype,tolerance", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_lift1d_reconstructs_exactly(length, dtype, tolerance):
    down = randomise(LiftDownPool1d(3, 5)).to(dtype)
    x = 3 * torch.randn(2, 3, length, dtype=dtype)
    bands = down.decompose(x)
    assert bands.low.shape == (2, 3, (length + 1) // 2)
    assert (LiftUpPool1d(down)(bands) - x).abs().max().item() <= tolerance


def reflect_extend(x: torch.Tensor) -> torch.Tensor:
    """Append one reflected row/column to odd axes: x[..., H-2, :] and x[..., :, W-2]."""
    if x.shape[-2] % 2:
        x = torch.cat((x, x[..., -2:-1, :]), dim=-2)
    if x.shape[-1] % 2:
        x = torch.cat((x, x[..., :, -2:-1]), dim=-1)
    return x


@pytest.mark.parametrize("size", [(6, 8), (7, 9), (2, 5)])
def test_fresh_layer_is_the_lazy_wavelet(size):
    x = torch.randn(2, 3, *size)
    bands = LiftDownPool2d(3).decompose(x)  # 1x1 weights start at zero: P = U = 0
    e = reflect_extend(x)
    torch.testing.assert_close(bands.ll, e[..., 0::2, 0::2], rtol=0, atol=0)
    torch.testing.assert_close(bands.lh, e[..., 1::2, 0::2], rtol=0, atol=0)
    torch.testing.assert_close(bands.hl, e[..., 0::2, 1::2], rtol=0, atol=0)
    torch.testing.assert_close(bands.hh, e[..., 1::2, 1::2], rtol=0, atol=0)
    torch.testing.assert_close(LiftDownPool2d(3)(x), 4 * F.avg_pool2d(e, 2))


def reference_filter(filt, x_rows: torch.Tensor) -> torch.Tensor:
    """P or U applied to the rows of `x_rows` (N, C, L) with conv1d: an independent implementation."""
    taps = filt.kernel_size
    padded = F.pad(x_rows, ((taps - 1) // 2, taps // 2), mode="reflect")
    y = F.conv1d(padded, filt.depthwise, groups=x_rows.shape[1])
    return torch.tanh(F.relu(y) * filt.pointwise[None, :, None])


def reference_lift_rows(pool, x: torch.Tensor):
    """One lifting step along the last axis of (N, C, H, W) done row by row with conv1d."""
    n, c, h, w = x.shape
    rows = x.permute(0, 2, 1, 3).reshape(n * h, c, w)
    even, odd = rows[..., 0::2], rows[..., 1::2]
    d = odd - reference_filter(pool.predictor, even)
    s = even + reference_filter(pool.updater, d)
    c_u, c_p = ((s - odd) ** 2).mean(), (d ** 2).mean()
    unflat = lambda t: t.reshape(n, h, c, -1).permute(0, 2, 1, 3)  # noqa: E731
    return unflat(s), unflat(d), c_u, c_p


def reference_decompose(pool, x):
    s, d, cu1, cp1 = reference_lift_rows(pool, x)
    t = lambda y: y.transpose(-1, -2)  # noqa: E731  lifting along H = lifting the rows of the transpose
    ll, lh, cu2, cp2 = (t(v) if v.dim() == 4 else v for v in reference_lift_rows(pool, t(s)))
    hl, hh, cu3, cp3 = (t(v) if v.dim() == 4 else v for v in reference_lift_rows(pool, t(d)))
    return (ll, lh, hl, hh), (cu1 + cu2 + cu3) / 3, (cp1 + cp2 + cp3) / 3


def test_subbands_and_constraints_match_an_independent_implementation():
    pool = randomise(LiftDownPool2d(4, 5)).train()
    x = torch.randn(2, 4, 12, 10)
    expected_bands, c_u, c_p = reference_decompose(pool, x)
    bands = pool.decompose(x)
    for got, want in zip(bands[:4], expected_bands):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    (got_u, got_p), = pool.recorded_constraints()
    torch.testing.assert_close(got_u, c_u)
    torch.testing.assert_close(got_p, c_p)


def test_subset_pooling_sums_the_chosen_subbands():
    x = torch.randn(2, 3, 9, 8)
    full = randomise(LiftDownPool2d(3))
    bands = full.decompose(x)
    for subset in [("LL",), ("LL", "LH"), ("HH", "HL"), "HH"]:
        pool = LiftDownPool2d(3, subbands=subset)
        pool.load_state_dict(full.state_dict())
        names = (subset,) if isinstance(subset, str) else subset
        torch.testing.assert_close(pool(x), sum(getattr(bands, n.lower()) for n in names))
    with pytest.raises(UsageError, match="subset"):
        LiftDownPool2d(3, subbands=("LL", "XX"))
    with pytest.raises(UsageError, match="subset"):
        LiftDownPool2d(3, subbands=())


def test_lift_up_pool_uses_the_decoder_feature_as_ll():
    down = randomise(LiftDownPool2d(2, 3))
    x = torch.randn(1, 2, 8, 8)
    bands = down.decompose(x)
    decoder = torch.randn_like(bands.ll)
    up = LiftUpPool2d(down)
    assert up.predictor is down.predictor and up.updater is down.updater
    replaced = bands._replace(ll=decoder)
    torch.testing.assert_close(up(bands, ll=decoder), up(replaced))
    assert not torch.allclose(up(bands, ll=decoder), x)
    with pytest.raises(UsageError, match="shape"):
        up(bands, ll=torch.zeros(1, 2, 3, 3))


def test_gradcheck_down_and_up():
    down = randomise(LiftDownPool2d(2, 3)).double()
    up = LiftUpPool2d(down)
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: down.decompose(t)[:4], (x,))
    bands = [b.detach().requires_grad_() for b in down.decompose(x)[:4]]
    assert torch.autograd.gradcheck(lambda *b: up(LiftSubbands2d(*b, (5, 6))), bands)
    weight = down.predictor.pointwise
    assert torch.autograd.gradcheck(lambda w: torch.func.functional_call(
        down, {"predictor.pointwise": w}, (x.detach(),)), (weight.detach().clone().requires_grad_(),))
    down1 = randomise(LiftDownPool1d(2, 3)).double()
    x1 = torch.randn(1, 2, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: LiftUpPool1d(down1)(down1.decompose(t)), (x1,))


def test_bad_inputs_are_named():
    with pytest.raises(UsageError, match=r"H, W >= 2"):
        LiftDownPool2d(3)(torch.randn(1, 3, 1, 8))
    with pytest.raises(UsageError, match=r"\(N, C, L\)"):
        LiftDownPool1d(3)(torch.randn(3, 8))


class TwoLift(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool1 = randomise(LiftDownPool2d(4, 3), seed=1)
        self.pool2 = randomise(LiftDownPool2d(4, 5), seed=2)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.pool2(self.pool1(self.conv(x))).mean((2, 3)))


def test_lifting_loss_equals_hand_computation():
    model = TwoLift().train()
    x = torch.randn(2, 3, 16, 16)
    model(x)
    feature = model.conv(x)
    _, cu1, cp1 = reference_decompose(model.pool1, feature)
    _, cu2, cp2 = reference_decompose(model.pool2, model.pool1(feature))
    model.pool1.recorded_constraints(), model.pool2.recorded_constraints()  # the calls above re-recorded
    model(x)
    expected = 0.01 * (cu1 + cu2) + 0.1 * (cp1 + cp2)
    torch.testing.assert_close(lifting_loss(model, clear=False), expected)
    torch.testing.assert_close(lifting_loss(model, lambda_u=1.0, lambda_p=0.0), cu1 + cu2)
    # the terms were consumed: nothing (and no graph) is kept for the next step
    assert model.pool1.recorded_constraints() == [] and model.pool2.recorded_constraints() == []
    with pytest.raises(LiftbenchError, match="training mode"):
        lifting_loss(model)
    model.eval()(x)
    with pytest.raises(LiftbenchError, match="training mode"):
        lifting_loss(model)


def test_lifting_loss_is_zero_without_liftpool():
    model = nn.Sequential(nn.Conv2d(3, 3, 3), nn.MaxPool2d(2))
    model(torch.randn(1, 3, 8, 8))
    loss = lifting_loss(model)
    assert loss.item() == 0.0 and loss.shape == ()


def test_lifting_loss_trains_p_and_u():
    model = TwoLift().train()
    model(torch.randn(2, 3, 16, 16))
    lifting_loss(model).backward()
    assert model.pool1.predictor.pointwise.grad.abs().sum() > 0
    assert model.pool2.updater.depthwise.grad.abs().sum() > 0


def test_lifting_loss_sees_dataparallel_replicas():
    # DataParallel replicates with a shallow __dict__ copy; the replicas' forwards must reach the original.
    pool = randomise(LiftDownPool2d(3)).train()
    replicas = [pool._replicate_for_data_parallel() for _ in range(2)]
    shards = torch.randn(4, 3, 8, 8).chunk(2)
    replicas[0](shards[0])
    single = lifting_loss(pool, clear=False)
    torch.testing.assert_close(single, lifting_loss(replicas[0], clear=False))
    pool(shards[0])  # the same device key: the last forward replaces the earlier term
    torch.testing.assert_close(lifting_loss(pool), single)


def test_lifting_loss_under_ddp_and_compile(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        model = TwoLift().train()
        ddp = nn.parallel.DistributedDataParallel(model)
        x = torch.randn(2, 3, 16, 16)
        ddp(x).sum().backward(retain_graph=True)
        ddp_loss = lifting_loss(ddp)
        model(x)
        torch.testing.assert_close(ddp_loss, lifting_loss(model))
    finally:
        dist.destroy_process_group()
    eager = TwoLift().train()
    compiled = torch.compile(copy.deepcopy(eager), backend="aot_eager")
    for batch in (2, 3):  # a new batch size (the last batch of an epoch) recompiles with a dynamic batch
        y = torch.randn(batch, 3, 16, 16)
        compiled(y)
        eager(y)
        torch.testing.assert_close(lifting_loss(compiled), lifting_loss(eager))


def test_inductor_compiles_with_dynamic_spatial_sizes():
    pool = randomise(LiftDownPool2d(4)).train()
    compiled = torch.compile(copy.deepcopy(pool))
    for size in [(16, 16), (9, 7)]:  # the second size recompiles with dynamic H and W
        x = torch.randn(2, 4, *size, requires_grad=True)
        compiled(x).sum().backward()
        eager_x = x.detach().requires_grad_()
        pool(eager_x).sum().backward()
        torch.testing.assert_close(x.grad, eager_x.grad, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(lifting_loss(compiled), lifting_loss(pool), rtol=1e-4, atol=1e-6)


def test_channels_last_autocast_and_export():
    pool = randomise(LiftDownPool2d(8)).eval()
    x = torch.randn(2, 8, 14, 15)
    reference = pool(x)
    torch.testing.assert_close(pool(x.to(memory_format=torch.channels_last)), reference)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low_precision = pool(x)
    # P and U run in bf16; the lifting arithmetic stays in the input precision, so inversion stays exact
    assert low_precision.dtype == torch.float32
    torch.testing.assert_close(low_precision.float(), reference, rtol=0.05, atol=0.1)
    exported = torch.export.export(pool, (x,))
    torch.testing.assert_close(exported.module()(x), reference)




def test_gradients_of_channels_last_data_stay_channels_last():
    """Up pool of even sizes: its crop must not be a `narrow` even when a no-op, whose backward writes an NCHW
    gradient; the gradients reaching P and U would then be NCHW, their backward several times slower."""
    down = randomise(LiftDownPool2d(4))
    x = torch.randn(2, 4, 8, 8).contiguous(memory_format=torch.channels_last)
    bands = down.decompose(x)
    layouts = []

    def record(grad: torch.Tensor) -> None:
        layouts.append(grad.stride(1) == 1)  # channels innermost (P's are halves of a channels-last gradient)

    for filt in (down.predictor, down.updater):
        filt.register_forward_hook(lambda module, args, out: None if out.register_hook(record) else None)
    y = LiftUpPool2d(down)(bands)
    y.backward(torch.randn(y.shape).contiguous(memory_format=torch.channels_last))
    assert layouts == [True] * 6
