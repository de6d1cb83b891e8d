"""A checkpoint of the original architecture loads into its pooling-swapped model, with a correct report."""

import pytest
import torch
import torchvision

from robustbench_lift.models.swap import swap_pooling
from robustbench_lift.models.transfer import transfer_weights
from robustbench_lift.pooling import create_pool


@pytest.fixture(scope="module")
def original() -> dict[str, torch.Tensor]:
    """State dict of a torchvision ResNet-18 at a seeded random initialisation (stands in for ImageNet weights)."""
    torch.manual_seed(1)
    return torchvision.models.resnet18().state_dict()


def _swapped(num_classes: int = 1000) -> torch.nn.Module:
    torch.manual_seed(2)
    model = torchvision.models.resnet18(num_classes=num_classes)
    swap_pooling(model, "lift", 64)
    return model


def _pool_keys(model: torch.nn.Module) -> set[str]:
    """Keys of the added pools, from the pools' own state dicts (a fresh LiftPool of each site's width)."""
    return {f"{site.pool_path}.{key}" for site in model.liftbench_swap.sites
            for key in create_pool("lift", site.channels).state_dict()}


def test_original_checkpoint_loads_with_pools_new(original, tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save({f"module.{k}": v for k, v in original.items()}, path)  # as DataParallel saves it
    model = _swapped()
    report = transfer_weights(model, path)
    assert set(report.loaded) == set(original) and set(report.new) == _pool_keys(model)
    assert report.complete and not (report.missing or report.unexpected or report.mismatched)
    state = model.state_dict()
    assert all(torch.equal(state[key], value) for key, value in original.items())
    pointwise = [state[key] for key in report.new if key.endswith("pointwise")]
    assert len(pointwise) == 2 * len(model.liftbench_swap.sites) and all((w == 0).all() for w in pointwise)
    text = report.format()
    assert f"checkpoint {path}: loaded {len(original)} tensors, {len(report.new)} new" in text


def test_a_new_head_is_reported_and_left_alone(original):
    model = _swapped(num_classes=10)
    head = model.fc.weight.clone()
    report = transfer_weights(model, original)
    assert report.mismatched == (("fc.weight", (1000, 512), (10, 512)), ("fc.bias", (1000,), (10,)))
    assert not report.complete and torch.equal(model.fc.weight, head)
    assert set(report.loaded) == set(original) - {"fc.weight", "fc.bias"}
    assert "fc.weight (1000, 512) in the checkpoint vs (10, 512)" in report.format()


def test_swapped_checkpoint_loads_completely_and_extra_keys_are_unexpected(original):
    source = _swapped()
    transfer_weights(source, original)
    saved = {**source.state_dict(), "extra.weight": torch.zeros(3)}
    saved.pop("layer1.0.bn1.running_mean")
    model = _swapped()
    report = transfer_weights(model, saved, source="fine-tuned")
    assert report.new == () and report.unexpected == ("extra.weight",)
    assert report.missing == ("layer1.0.bn1.running_mean",) and not report.complete
    assert report.format().startswith("fine-tuned: loaded")
