"""Weight compatibility: zoo models load torchvision's and antialiased-cnns' state dicts strictly and compute the
same logits (both reference models built locally at random initialisation; nothing is downloaded)."""

import antialiased_cnns
import pytest
import torch
import torchvision
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from torch import nn

from robustbench_lift.models import create_model

BASELINES = ["resnet18", "resnet34", "resnet50", "vgg13", "vgg13_bn", "vgg16_bn", "mobilenet_v2", "alexnet"]
ANTIALIASED = [("resnet18", 4), ("resnet34", 4), ("resnet50", 4), ("vgg16_bn", 4), ("mobilenet_v2", 4),
               ("resnet18", 5), ("mobilenet_v2", 2)]


def _scramble(model: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters, so that buffers must be copied too."""
    generator = torch.Generator().manual_seed(3)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
    return model.eval()


@pytest.fixture(scope="module")
def images(photos: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (photos[:2].float() / 255 - mean) / std


def _assert_same_logits(ours: nn.Module, reference: nn.Module, images: torch.Tensor) -> None:
    with torch.no_grad():
        expected, actual = reference(images), ours.eval()(images)
    assert expected.abs().max() > 1e-3  # the comparison is not between two near-zero outputs
    assert (actual - expected).abs().max() <= 1e-5


@pytest.mark.parametrize("arch", BASELINES)
def test_max_is_torchvision(arch: str, images: torch.Tensor) -> None:
    torch.manual_seed(1)
    reference = _scramble(torchvision.models.get_model(arch, num_classes=10))
    ours = create_model(f"{arch}-max", num_classes=10, seed=5)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())
    ours.load_state_dict(reference.state_dict(), strict=True)
    _assert_same_logits(ours, reference, images)


@pytest.mark.parametrize(("arch", "filter_size"), ANTIALIASED)
def test_blur_is_antialiased_cnns(arch: str, filter_size: int, images: torch.Tensor, capsys) -> None:
    torch.manual_seed(2)
    reference = _scramble(getattr(antialiased_cnns, arch)(filter_size=filter_size, num_classes=10))
    capsys.readouterr()  # antialiased-cnns prints a line per BlurPool it does not initialise
    name = f"{arch}-blur" if filter_size == 4 else f"{arch}-blur{filter_size}"
    ours = create_model(name, num_classes=10)
    ours.load_state_dict(reference.state_dict(), strict=True)
    _assert_same_logits(ours, reference, images)
    if arch != "mobilenet_v2":  # MobileNetV2 keeps torchvision's head (classifier.1); a load hook maps theirs
        assert list(ours.state_dict()) == list(reference.state_dict())


def test_blur_filter_size_keyword_equals_suffix() -> None:
    by_suffix, by_keyword = create_model("resnet18-blur5"), create_model("resnet18-blur", filter_size=5)
    assert by_suffix.layer2[0].conv2[0].filt.shape == by_keyword.layer2[0].conv2[0].filt.shape == (128, 1, 5, 5)
