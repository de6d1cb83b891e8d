"""The generic pooling swap on torchvision, timm and user ConvNets: sites, shapes, parameters, untouched layers."""

import copy

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.convnext import CNBlockConfig, ConvNeXt

from robustbench_lift.errors import UsageError
from robustbench_lift.models.sites import Pooling
from robustbench_lift.models.swap import describe_swap, parse_pool, plan_swap, swap_pooling

SIZE = 64
K = 5  # LiftPool's default kernel size

# Stride-2 layers after the stem conv, from each architecture's published layer table: the stem max-pool and
# (3x3 residual conv + 1x1 shortcut) of stages 2-4 in ResNet/ResNeXt; shortcut + 3x3 group conv of the 4 RegNet
# stages; the stride-2 MBConv / bneck stages of EfficientNet-B0 (4) and MobileNetV3-Small (4); ConvNeXt's three
# 2x2 down-sampling convs; ResNet-D: the max-pool plus (3x3 conv + 2x2 average-pool shortcut) of stages 2-4.
TORCHVISION = {"resnet18": 7, "resnext50_32x4d": 7, "regnet_x_400mf": 8, "efficientnet_b0": 4,
               "convnext_tiny": 3, "mobilenet_v3_small": 4}
TIMM = {"resnet26d": 7, "tf_efficientnet_b0": 4, "convnext_atto": 3, "mobilenetv3_small_050": 4}


def _build(source: str, name: str) -> nn.Module:
    """The architecture on the meta device (no memory, no initialisation); RegNet computes widths with `.tolist()`,
    which meta tensors cannot, so it is built for real."""
    with torch.device("cpu" if "regnet" in name else "meta"):
        if source == "torchvision":
            return torchvision.models.get_model(name)
        timm = pytest.importorskip("timm")
        return timm.create_model(name)


def _shapes(model: nn.Module, x: torch.Tensor) -> dict[str, tuple]:
    """Output shape of every named module that returns a tensor, for input `x`."""
    shapes, handles = {}, []
    for name, module in model.named_modules():
        def hook(module, args, out, name=name):
            if isinstance(out, torch.Tensor):
                shapes.setdefault(name, tuple(out.shape))
        handles.append(module.register_forward_hook(hook))
    with torch.no_grad():
        model.eval()(x)
    for handle in handles:
        handle.remove()
    return shapes


def _lift_params(channels: int) -> int:
    """The paper's count: P and U have C*K + C parameters each."""
    return 2 * (channels * K + channels)


@pytest.mark.parametrize(("source", "name"), [*(("torchvision", n) for n in TORCHVISION),
                                              *(("timm", n) for n in TIMM)])
def test_swap_keeps_every_shape_and_adds_only_the_pools(source, name):
    original = _build(source, name)
    swapped = copy.deepcopy(original)
    swap = swap_pooling(swapped, "lift", SIZE)
    assert len(swap.sites) == {**TORCHVISION, **TIMM}[name]

    device = next(original.parameters()).device
    x = torch.empty(1, 3, SIZE, SIZE, device=device)
    before, after = _shapes(original, x), _shapes(swapped, x)
    assert {key: after[key] for key in before} == before  # every original layer returns the shape it returned

    count = lambda m: sum(p.numel() for p in m.parameters())
    assert count(swapped) - count(original) == sum(_lift_params(site.channels) for site in swap.sites)
    old, new = original.state_dict(), swapped.state_dict()
    assert all(new[key].shape == value.shape for key, value in old.items())
    assert all(key.startswith(tuple(f"{s.pool_path}." for s in swap.sites)) for key in new.keys() - old.keys())

    site_paths = {site.path for site in swap.sites}
    layers = dict(swapped.named_modules())
    for path, module in original.named_modules():
        if path in site_paths or any(path.startswith(f"{p}.") for p in site_paths):
            continue
        assert type(layers[path]) is type(module) and layers[path].extra_repr() == module.extra_repr(), path
    for site in swap.sites:
        if site.rule != "pool":  # the conv keeps everything but its stride
            conv, was = layers[site.path], dict(original.named_modules())[site.path]
            assert isinstance(conv, type(was)) and conv.stride == (1, 1)
            assert (conv.kernel_size, conv.padding, conv.groups) == (was.kernel_size, was.padding, was.groups)


def test_real_forward_of_swapped_resnet18_at_an_odd_size():
    torch.manual_seed(0)
    original = torchvision.models.resnet18(num_classes=7).eval()
    swapped = copy.deepcopy(original)
    swap_pooling(swapped, "lift", 65)
    x = torch.randn(2, 3, 65, 65)
    before, after = _shapes(original, x), _shapes(swapped, x)
    assert {key: after[key] for key in before} == before
    assert swapped.training is False and all(not m.training for m in swapped.modules())


def test_skip_then_stride1_conv_equals_the_strided_1x1_conv_but_not_the_3x3():
    torch.manual_seed(0)
    original = torchvision.models.resnet18().eval()
    swapped = copy.deepcopy(original)
    swap_pooling(swapped, "skip", SIZE)
    x = torch.randn(2, 64, 16, 16)
    with torch.no_grad():
        shortcut = original.layer2[0].downsample[0](x)
        torch.testing.assert_close(swapped.layer2[0].downsample[0](x), shortcut, rtol=0, atol=1e-6)
        # a 3x3 conv on every other pixel is not the 3x3 conv's stride-2 sampling of the full-resolution map
        residual, pooled = original.layer2[0].conv1(x), swapped.layer2[0].conv1(x)
    assert residual.shape == pooled.shape and not torch.allclose(residual, pooled, atol=1e-3)


def test_patchify_downsampling_with_skip_is_the_original_convnext():
    torch.manual_seed(0)
    original = ConvNeXt([CNBlockConfig(8, 16, 1), CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)],
                        num_classes=5).eval()
    swapped = copy.deepcopy(original)
    swap = swap_pooling(swapped, "skip", SIZE)
    assert [site.rule for site in swap.sites] == ["conv-pool", "conv-pool"]
    for size in (64, 72, 70):  # the dense conv pads a zero row/column only where the size is even
        x = torch.randn(2, 3, size, size)
        with torch.no_grad():
            torch.testing.assert_close(swapped(x), original(x), rtol=1e-5, atol=1e-5)


def test_new_pools_follow_the_models_dtype_and_mode():
    model = torchvision.models.resnet18().double().train()
    swap = swap_pooling(model, "lift", SIZE)
    for site in swap.sites:
        pool = model.get_submodule(site.pool_path)
        assert pool.training and all(p.dtype == torch.float64 for p in pool.parameters())
        assert all((p == 0).all() for n, p in pool.named_parameters() if n.endswith("pointwise"))
    assert model(torch.randn(1, 3, SIZE, SIZE, dtype=torch.float64)).dtype == torch.float64


def test_blur_at_a_max_pool_is_maxblurpool_and_sites_stem_picks_it_alone():
    model = torchvision.models.resnet18()
    swap = swap_pooling(model, Pooling("blur", sites="stem"), SIZE)
    assert [site.path for site in swap.sites] == ["maxpool"]
    assert [type(m).__name__ for m in model.maxpool] == ["MaxPool2d", "BlurPool2d"]
    assert model.layer2[0].conv1.stride == (2, 2)


class _Uncovered(nn.Module):
    """A stem, a covered stride-2 conv, and an Inception-style 3x3 stride-2 conv without padding."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.ok = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.valid = nn.Conv2d(8, 8, 3, stride=2)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))

    def forward(self, x):
        return self.head(self.valid(self.ok(self.stem(x))))


def test_uncovered_layers_are_named_and_nothing_changes():
    model = _Uncovered()
    before = {name: type(m) for name, m in model.named_modules()}
    # `valid` sees 16x16: stride 2 gives (16 - 3) // 2 + 1 = 7; pooled to 8, a 3x3 conv without padding gives 6
    with pytest.raises(UsageError, match=r"valid \(Conv2d 3x3 stride 2.*gives \(6, 6\), not \(7, 7\)") as error:
        swap_pooling(model, "lift", SIZE)
    assert "ok" not in str(error.value).replace("cannot", "")
    assert {name: type(m) for name, m in model.named_modules()} == before and model.ok.stride == (2, 2)
    assert not hasattr(model, "liftbench_swap")


def test_a_vision_transformer_has_nothing_to_swap():
    timm = pytest.importorskip("timm")
    with torch.device("meta"):
        model = timm.create_model("vit_tiny_patch16_224")
    with pytest.raises(UsageError, match=r"no down-sampling layer.*patch_embed\.proj \(Conv2d 16x16 stride 16\)"):
        plan_swap(model, "lift")


def test_describe_lists_every_site_and_a_second_swap_is_refused():
    model = torchvision.models.resnet18()
    swap = swap_pooling(model, "lift3", SIZE)
    text = describe_swap(model)
    assert all(site.path in text for site in swap.sites) and "stem conv keeps its stride: conv1" in text
    assert f"+{sum(2 * (s.channels * 3 + s.channels) for s in swap.sites)} parameters" in text
    with pytest.raises(UsageError, match="already swapped"):
        swap_pooling(model, "lift")
    with pytest.raises(UsageError, match="has not been swapped"):
        describe_swap(torchvision.models.resnet18())
    with pytest.raises(UsageError, match="unknown pooling 'lfit'"):
        plan_swap(torchvision.models.resnet18(), "lfit")


def test_parse_pool_reads_the_zoos_size_suffix():
    assert parse_pool("blur5", pad_type="zero") == Pooling("blur", {"filter_size": 5, "pad_type": "zero"})
    assert parse_pool(Pooling("lift"), kernel_size=3, sites="stem") == Pooling("lift", {"kernel_size": 3}, "stem")
    with pytest.raises(UsageError, match="only blur, lift, aps, lps and pasa take a size suffix"):
        parse_pool("skip3")


def test_a_new_poolings_placement_rules_are_its_registration():
    """A pooling registered with a size option and max_first gets the size suffix in pool names and zoo names, and
    antialiased-cnns' dense max-pool in front at max-pool sites, with no other file changed."""
    from robustbench_lift.models import create_model, model_spec
    from robustbench_lift.pooling.registry import POOLS, register_pool

    register_pool("wide", "a test pooling: average over a width", size_option="width", max_first=True)(
        lambda channels, width=2: nn.AvgPool2d(width, 2))
    try:
        assert parse_pool("wide3") == Pooling("wide", {"width": 3})
        assert model_spec("cifar_resnet10s-wide3").pool_kwargs == {"width": 3}
        model = create_model("cifar_resnet10s", pool="wide3")
        assert model.liftbench_meta["model"] == "cifar_resnet10s-wide3"
        stem = [type(m).__name__ for m in Pooling("wide", {"width": 3}).at_max_site(8)]
        assert stem == ["MaxPool2d", "AvgPool2d"]
    finally:
        POOLS.unregister("wide")
    with pytest.raises(UsageError, match="unknown pooling 'wide3'"):
        parse_pool("wide3")


def test_cli_describes_every_site_of_any_model_and_names_what_is_left(capsys):
    from robustbench_lift.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["models", "--describe", "torchvision:resnet18", "--pool", "lift"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and out.startswith("torchvision:resnet18-lift (input 224x224)")
    sites = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert sites == ["maxpool", *(f"layer{i}.0.{layer}" for i in (2, 3, 4) for layer in ("conv1", "downsample.0"))]
    with pytest.raises(SystemExit) as exit_info:
        main(["models", "--describe", "torchvision:vit_b_16", "--pool", "lift"])
    assert exit_info.value.code == 2 and "conv_proj" in capsys.readouterr().err
