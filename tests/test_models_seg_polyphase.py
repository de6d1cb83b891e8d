"""APS / LPS polyphase un-pooling as SegNet's up-sampling partner: the kept component back in place, zeros
elsewhere; exact circular-shift equivariance of the whole SegNet with circular padding; listed; evaluated by the
segmentation suite."""

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from test_suite_seg import CLASSES, build_tree
from torch import nn

from robustbench_lift.cli import cli
from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.models import create_model
from robustbench_lift.models.segnet import PolyphaseUnpool
from robustbench_lift.pooling import create_pool
from robustbench_lift.suites.options import SegmentationOptions


@pytest.mark.parametrize("name", ["aps", "lps"])
@pytest.mark.parametrize("size", [(8, 10), (7, 9)])
def test_unpool_restores_the_kept_component_and_zeros_elsewhere(name: str, size: tuple[int, int]) -> None:
    pool = create_pool(name, 4).eval()
    x = torch.randn(3, 4, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        restored = pool.unpool(pool(x), pool.last_choice, size)
    assert restored.shape == x.shape
    for n, k in enumerate(pool.last_choice.tolist()):
        kept = torch.zeros(size, dtype=torch.bool)
        kept[k // 2::2, k % 2::2] = True
        assert torch.equal(restored[n][:, kept], x[n][:, kept])
        assert torch.equal(restored[n][:, ~kept], torch.zeros_like(x[n][:, ~kept]))
    if name == "aps":  # the kept component has the largest l2 norm, odd sides extended circularly (APS's code)
        even = nn.functional.pad(x, (0, size[1] % 2, 0, size[0] % 2), mode="circular")
        norms = torch.stack([even[:, :, r::2, c::2].flatten(1).norm(dim=1) for r in (0, 1) for c in (0, 1)], dim=1)
        assert pool.last_choice.tolist() == norms.argmax(dim=1).tolist()


def test_lps_unpool_in_training_weights_every_component() -> None:
    """LPS in training mixes the components by its Gumbel-softmax sample; the un-pooling puts `w_k * y` into
    component k, as their `lps_upsampleV2` in train mode."""
    pool = create_pool("lps", 4).train()
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    y = pool(x)
    weights = pool.last_choice
    restored = pool.unpool(y, weights, (8, 8))
    for k in range(4):
        torch.testing.assert_close(restored[:, :, k // 2::2, k % 2::2], weights[:, k].view(-1, 1, 1, 1) * y)


@pytest.mark.parametrize("filter_size", [2, 3, 4, 5])
def test_unpool_with_blur_keeps_a_constant(filter_size: int) -> None:
    """Zero insertion then the binomial filter times 4: every binomial filter puts half its 1-D weight on each
    parity, so a constant comes back as the same constant (circular padding: no border)."""
    pool = create_pool("aps", 3, filter_size=filter_size).eval()
    constant = torch.full((2, 3, 4, 6), 0.7)
    restored = pool.unpool(constant, torch.tensor([0, 3]), (8, 12))
    torch.testing.assert_close(restored, torch.full((2, 3, 8, 12), 0.7))


def _circular(model: nn.Module) -> nn.Module:
    """Every convolution padded circularly (the setting of exact shift equivariance), in eval mode."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.padding_mode = "circular"
    return model.eval()


def _equivariance_error(model: nn.Module, x: torch.Tensor, shift: tuple[int, int]) -> float:
    """max |f(shift(x)) - shift(f(x))| over the batch, relative to max |f(x)|."""
    with torch.no_grad():
        out = model(torch.cat([x, torch.roll(x, shift, dims=(2, 3))]))
    half = x.shape[0]
    return ((out[half:] - torch.roll(out[:half], shift, dims=(2, 3))).abs().max() / out.abs().max()).item()


@pytest.mark.parametrize("name", ["demo_seg-aps", "demo_seg-lps"])
def test_polyphase_segnet_is_circularly_shift_equivariant(name: str) -> None:
    """A circular shift by odd and even amounts shifts the logits by the same amount, exactly (the input's
    32 px are a multiple of the demo SegNet's stride 8, so nothing is padded); max-unpooling is not."""
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    model = _circular(create_model(name, seed=3))
    assert all(isinstance(unpool, PolyphaseUnpool) for unpool in model.unpools)
    for shift in [(1, 3), (2, 6), (5, 0)]:
        assert _equivariance_error(model, x, shift) < 1e-5
    assert _equivariance_error(_circular(create_model("demo_seg-max", seed=3)), x, (1, 3)) > 0.05


@pytest.mark.parametrize("name", ["segnet_vgg16_bn-aps", "segnet_vgg16_bn-lps"])
def test_segnet_vgg16_bn_is_circularly_shift_equivariant(name: str) -> None:
    """The full SegNet (five stages, stride 32) at its smallest unpadded input, 128 px, shifted by an odd amount."""
    x = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(4))
    assert _equivariance_error(_circular(create_model(name)), x, (3, 1)) < 1e-5


def test_models_lists_and_describes_the_pairs() -> None:
    for pool in ("aps", "lps"):
        listed = CliRunner().invoke(cli, ["models", "--backbone", "segnet_vgg16_bn", "--pool", pool, "--json"])
        assert listed.exit_code == 0, listed.output
        assert f'"segnet_vgg16_bn-{pool}"' in listed.output
    described = CliRunner().invoke(cli, ["models", "--describe", "segnet_vgg16_bn-lps"])
    assert described.exit_code == 0, described.output
    assert described.output.count("PolyphaseUnpool") == 5 and "kept polyphase component" in described.output


@pytest.mark.filterwarnings("ignore:seg set-otf")  # the tree's 36x40 images are not the demo model's 32x32
def test_segmentation_suite_evaluates_a_polyphase_segnet(tmp_path: Path) -> None:
    pairs = build_tree(tmp_path / "set")
    frame = evaluate("demo_seg-aps", SegmentationOptions(corruptions=["gaussian_noise"], severities=[1]),
                     tmp_path / "set", run=RunOptions(progress=False, batch_size=2),
                     options=ModelOptions(num_classes=CLASSES)).set_index("corruption")
    assert sorted(frame.index) == ["clean", "gaussian_noise", "shift"]
    for cell in ("clean", "gaussian_noise"):
        counts = np.asarray(frame.loc[cell, "predictions"])
        assert counts.shape == (len(pairs), 2, CLASSES) and (counts[:, 0] <= counts[:, 1]).all()
        np.testing.assert_array_equal(frame.loc[cell, "labels"],
                                      [np.bincount(m[m != 255], minlength=CLASSES) for _, m in pairs.values()])
        assert 0 <= frame.loc[cell, "miou"] <= 1
    assert 0 <= frame.loc["shift", "consistency"] <= 1
