"""The larger architectures torchvision and antialiased-cnns publish (ResNet-101/152, wide ResNets, ResNeXts,
DenseNets, every VGG), for max and blur: the zoo's module trees against both packages' own builders (on the meta
device: no memory, no compute), identical logits where cheap, the weight addresses against antialiased-cnns' own
`model_urls`, and DenseNet's old key names. Nothing is downloaded."""

import importlib
import re

import antialiased_cnns
import pytest
import torch
import torchvision
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from test_models_parity import _assert_same_logits, _scramble
from torch import nn

from robustbench_lift.errors import UsageError
from robustbench_lift.models import create_model, list_models, model_spec
from robustbench_lift.models.preprocess import IMAGENET_MEAN, IMAGENET_STD
from robustbench_lift.models.weights import ANTIALIASED_HASHES, load_weights

NEW = ["resnet101", "resnet152", "wide_resnet50_2", "wide_resnet101_2", "resnext50_32x4d", "resnext101_32x8d",
       "densenet121", "densenet161", "densenet169", "densenet201", "vgg11", "vgg11_bn", "vgg16", "vgg19", "vgg19_bn"]
AA_MODULES = ("resnet", "vgg", "densenet", "mobilenet")
"""antialiased-cnns 0.3's model files, each with its `model_urls`."""


@pytest.fixture(scope="module")
def images(photos: torch.Tensor) -> torch.Tensor:
    """Two real photographs, 64 x 64, normalised as for the ImageNet weights."""
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    return (photos[:2].float() / 255 - mean) / std


def _layout(model: nn.Module) -> list[tuple]:
    """Every computing module in order, with what decides its output: a package-independent description of the
    module tree (antialiased-cnns' `BlurPool` and ours differ in class and in their padding child)."""
    found, skip = [], ()
    for name, module in model.named_modules():
        if skip and name.startswith(skip):
            continue
        if hasattr(module, "filt"):  # a BlurPool: channels, filter, stride, padding mode
            pad = getattr(module, "pad_mode", None) or {"ReflectionPad2d": "reflect"}[type(module.pad).__name__]
            found.append((name, "blur", tuple(module.filt.shape), module.stride, pad))
            skip = f"{name}."
        elif isinstance(module, nn.Conv2d):
            found.append((name, "conv", module.in_channels, module.out_channels, module.kernel_size, module.stride,
                          module.padding, module.groups, module.bias is not None))
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            found.append((name, type(module).__name__, *(torch.nn.modules.utils._pair(getattr(module, a))
                                                          for a in ("kernel_size", "stride", "padding"))))
        elif isinstance(module, (nn.BatchNorm2d, nn.Linear, nn.ReLU, nn.Dropout, nn.AdaptiveAvgPool2d)):
            found.append((name, type(module).__name__, *(str(module).split("(", 1)[1:])))
    return found


def _state_shapes(model: nn.Module) -> dict[str, tuple]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


@pytest.mark.parametrize("arch", NEW)
def test_module_trees_are_torchvision_and_antialiased_cnns(arch: str, capsys) -> None:
    """`-max` is torchvision's builder's model, `-blur` antialiased-cnns' module for module: same state-dict keys
    and shapes (a strict load), and the same layers in the same order (the placement)."""
    with torch.device("meta"):
        ours_max, _ = model_spec(f"{arch}-max").build(10)
        ours_blur, _ = model_spec(f"{arch}-blur").build(10)
        reference_max = torchvision.models.get_model(arch, num_classes=10)
        reference_blur = getattr(antialiased_cnns, arch)(filter_size=4, num_classes=10)
    capsys.readouterr()  # antialiased-cnns prints a line per BlurPool it does not initialise
    assert _state_shapes(ours_max) == _state_shapes(reference_max)
    assert list(_state_shapes(ours_blur).items()) == list(_state_shapes(reference_blur).items())
    assert _layout(ours_blur) == _layout(reference_blur)
    assert _layout(ours_max) == _layout(reference_max)


@pytest.mark.parametrize(("arch", "filter_size"), [("densenet121", 4), ("densenet121", 3), ("resnext50_32x4d", 4)])
def test_blur_logits_are_antialiased_cnns(arch: str, filter_size: int, images: torch.Tensor, capsys) -> None:
    torch.manual_seed(2)
    reference = _scramble(getattr(antialiased_cnns, arch)(filter_size=filter_size, num_classes=10))
    capsys.readouterr()
    ours = create_model(f"{arch}-blur{filter_size}", num_classes=10)
    load_weights(ours, reference.state_dict(), "antialiased-cnns state dict")
    _assert_same_logits(ours, reference, images)


def test_densenet_loads_old_key_names(images: torch.Tensor) -> None:
    """torchvision's and antialiased-cnns' DenseNet files name `denselayer1.norm1.weight` `...norm.1.weight`:
    such a state dict loads strictly into `densenet121-max` and gives torchvision's logits."""
    torch.manual_seed(1)
    reference = _scramble(torchvision.models.get_model("densenet121", num_classes=10))
    old = {re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", key): value
           for key, value in reference.state_dict().items()}
    assert "features.denseblock1.denselayer1.norm.1.weight" in old  # the old form, as in the published files
    ours = create_model("densenet121-max", num_classes=10, seed=5)
    load_weights(ours, old, "old-style DenseNet state dict")
    _assert_same_logits(ours, reference, images)


def test_weight_addresses_are_antialiased_cnns() -> None:
    """Every file antialiased-cnns 0.3 publishes, per arch and tag, is the one the zoo downloads."""
    theirs = {key: url for module in AA_MODULES
              for key, url in importlib.import_module(f"antialiased_cnns.{module}").model_urls.items()}
    ours = {}
    for arch in ANTIALIASED_HASHES:
        for size in range(1, 8):
            ours.update({f"{arch}_{tag}": url for tag, url in model_spec(f"{arch}-blur{size}").weights.items()})
    assert ours == theirs


@pytest.mark.parametrize(("name", "default"), [
    ("resnet152-blur", "lpf4_finetune"), ("densenet121-blur3", "lpf3"), ("vgg16-blur", "lpf4_finetune"),
    ("resnet101-blur5", "lpf5"), ("vgg19_bn-max", "IMAGENET1K_V1"), ("resnext101_32x8d-max", "IMAGENET1K_V2"),
    ("resnet152-blur3", None),
])
def test_default_weights(name: str, default: str | None) -> None:
    """antialiased-cnns' default: the fine-tuned file for filter size 4, else from scratch; torchvision's
    DEFAULT member for max; none where nothing is published."""
    assert model_spec(name).default_weights == default


def test_only_max_and_blur_listed_and_accepted() -> None:
    assert list_models(backbone="densenet161") == ["densenet161-max", "densenet161-blur"]
    assert "resnet101-lift" in list_models()  # resnet101 takes every pooling
    with pytest.raises(UsageError, match="'vgg19-lift'.* max and blur only.*torchvision:vgg19 and pool lift"):
        model_spec("vgg19-lift")
    with pytest.raises(UsageError, match="unknown model 'cifar_densenet121-max'"):
        model_spec("cifar_densenet121-max")


def test_densenet_blur_sites() -> None:
    """blur: the stem's dense max is 3x3 (`max0`, then BlurPool `pool0`), the transitions' average pools become
    the BlurPool alone; `sites="stem"` rewrites the stem only."""
    with torch.device("meta"):
        model, placed = model_spec("densenet121-blur").build(10)
        stem_only, stem_placed = model_spec("densenet121-blur", sites="stem").build(10)
    assert [path for path, _ in placed] == ["features.pool0", *(f"features.transition{i}.pool" for i in (1, 2, 3))]
    assert model.features.max0.kernel_size == 3 and model.features.max0.padding == 1
    assert [path for path, _ in stem_placed] == ["features.pool0"]
    assert isinstance(stem_only.features.transition1.pool, nn.AvgPool2d)
    assert list(dict(stem_only.features.named_children()))[:5] == ["conv0", "norm0", "relu0", "max0", "pool0"]
