"""The zoo registry: names, errors, every model's forward pass, parameter counts, placement, seeding, CLI."""

import json

import pytest
import torch
import torchvision
from click.testing import CliRunner
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from torch import nn

from robustbench_lift.cli import cli
from robustbench_lift.errors import UsageError
from robustbench_lift.models import create_model, describe_model, list_models, model_spec
from robustbench_lift.models.spec import BACKBONES
from robustbench_lift.pooling import BlurPool2d, LiftDownPool2d, lifting_loss

# Channels at every down-sampling site, read off the architectures (torchvision source, antialiased-cnns' sites):
# ResNet: stem 64, then per stage the residual conv's width and the shortcut's input channels.
SITE_CHANNELS = {
    "resnet18": [64, 128, 64, 256, 128, 512, 256],
    "resnet50": [64, 128, 256, 256, 512, 512, 1024],
    "mobilenet_v2": [96, 144, 192, 576],  # expanded width (6x) of the stride-2 blocks' inputs 16, 24, 32, 96
    "vgg16_bn": [64, 128, 256, 512, 512],
    "cifar_resnet18": [128, 64, 256, 128, 512, 256],
}


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _runs_here(name: str) -> bool:
    """Every classification model but the published-only architectures (their module trees and strict loads:
    `test_models_archs.py`, on the meta device) and ResNet-101 beyond one model per placement (ResNet-50's blocks,
    deeper; the authors' layouts: `test_models_published.py`)."""
    spec = model_spec(name)
    if spec.task != "classification" or BACKBONES.get(spec.arch).published_only:
        return False
    return spec.arch != "resnet101" or name in ("resnet101-max", "resnet101-blur", "resnet101-lift",
                                                    "resnet101-flc", "resnet101-lps3", "resnet101-pasa3")


@pytest.mark.parametrize("name", [n for n in list_models() if _runs_here(n)])
def test_every_model_runs(name: str) -> None:  # segmentation models: tests/test_models_segmentation.py
    spec = model_spec(name)
    size = 32 if spec.cifar else 64  # 64: the smallest side at which every ImageNet form keeps >= 2 pixels to pool
    model = create_model(name, num_classes=10).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, size, size))
    assert logits.shape == (1, 10) and torch.isfinite(logits).all()


def test_names_listed_and_filtered() -> None:
    names = list_models()
    assert "resnet50-lift" in names and "cifar_resnet18-lift" in names and "alexnet-max" in names
    assert "alexnet-lift" not in names and "cifar_alexnet-max" not in names
    assert list_models(backbone="resnet50", pool="lift") == ["resnet50-lift"]
    assert list_models(pool="blur")[:2] == ["resnet18-blur", "resnet34-blur"]
    with pytest.raises(UsageError, match="closest: lift"):
        list_models(pool="lfit")


@pytest.mark.parametrize(("name", "closest"), [
    ("resnet50-lfit", "resnet50-lift"), ("resnt18-max", "resnet18-max"), ("alexnet-lift", "alexnet-max"),
    ("cifar_vgg16bn-blur", "cifar_vgg16_bn-blur"),
])
def test_unknown_name_lists_closest(name: str, closest: str) -> None:
    with pytest.raises(UsageError, match=f"unknown model '{name}'.*closest: .*{closest}"):
        create_model(name)


@pytest.mark.parametrize(("name", "kwargs", "message"), [
    ("resnet18-avg3", {}, "only blur, lift, aps, lps and pasa take a size suffix"),
    ("resnet18-lift3", {"kernel_size": 5}, "sets kernel_size=3 but kernel_size=5"),
    ("resnet18-max", {"kernel_size": 3}, "takes no pooling options"),
    ("resnet18-lift", {"filter_size": 3}, "unknown option"),
    ("resnet18-lift", {"sites": "middle"}, "sites must be one of"),
    ("cifar_resnet18-lift", {"sites": "stem"}, "selects no down-sampling site"),
    ("vgg13-lift", {"sites": "stem"}, "selects no down-sampling site"),
])
def test_bad_options(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        create_model(name, num_classes=10, **kwargs)


def test_spec() -> None:
    spec = model_spec("resnet50-blur5")
    assert (spec.backbone, spec.arch, spec.pooling) == ("resnet50", "resnet50", "blur")
    assert dict(spec.pool_kwargs) == {"filter_size": 5}
    assert spec.input_size == 224 and spec.num_classes == 1000 and spec.default_weights == "lpf5"
    assert model_spec("resnet50").name == "resnet50-max"
    assert set(model_spec("resnet50-max").weights) == {"IMAGENET1K_V1", "IMAGENET1K_V2"}
    # torchvision's ImageClassification preset is the normalisation of its ImageNet weights
    preset = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.transforms()
    for name in ("resnet50-max", "resnet50-lift", "resnet50-blur5"):
        assert model_spec(name).mean == tuple(preset.mean) and model_spec(name).std == tuple(preset.std), name
        assert all(isinstance(v, str) for v in model_spec(name).weights_sha256.values()), name
    cifar = model_spec("cifar_vgg13-lift3", subbands=("LL",))
    assert (cifar.input_size, cifar.num_classes, cifar.weights) == (32, 100, {})
    assert dict(cifar.pool_kwargs) == {"kernel_size": 3, "subbands": ("LL",)}
    assert model_spec("resnet50-lift").num_params() == _n_params(create_model("resnet50-lift"))


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50", "mobilenet_v2", "vgg16_bn", "cifar_resnet18"])
@pytest.mark.parametrize("kernel_size", [5, 3])
def test_lift_adds_exactly_its_predictors_and_updaters(backbone: str, kernel_size: int) -> None:
    spec_max, spec_lift = model_spec(f"{backbone}-max"), model_spec(f"{backbone}-lift", kernel_size=kernel_size)
    per_layer = [2 * (c * kernel_size + c) for c in SITE_CHANNELS[backbone]]  # P and U: C*K + C each
    assert spec_lift.num_params() - spec_max.num_params() == sum(per_layer)


def test_max_param_counts_equal_torchvision() -> None:
    for arch in ("resnet18", "resnet34", "resnet50", "vgg13", "vgg13_bn", "vgg16_bn", "mobilenet_v2", "alexnet"):
        with torch.device("meta"):
            reference = torchvision.models.get_model(arch)
        assert model_spec(f"{arch}-max").num_params() == _n_params(reference), arch


@pytest.mark.parametrize("pool", ["avg", "skip", "blur", "haar", "lift"])
def test_feature_maps_keep_torchvision_sizes(pool: str) -> None:
    """Every pooling down-samples where torchvision does: stage outputs have the baseline's shapes."""
    def stage_shapes(model: nn.Module) -> list[tuple[int, ...]]:
        shapes = []
        hooks = [getattr(model, f"layer{i}").register_forward_hook(lambda m, i, o: shapes.append(o.shape))
                 for i in range(1, 5)]
        with torch.no_grad():
            model.eval()(torch.randn(1, 3, 96, 96))
        for hook in hooks:
            hook.remove()
        return shapes

    assert stage_shapes(create_model(f"resnet18-{pool}")) == stage_shapes(torchvision.models.resnet18())


def test_lift_layers_feed_lifting_loss() -> None:
    model = create_model("resnet18-lift", num_classes=10).train()
    pools = [m for m in model.modules() if isinstance(m, LiftDownPool2d)]
    assert len(pools) == len(SITE_CHANNELS["resnet18"])
    model(torch.randn(2, 3, 64, 64))
    loss = lifting_loss(model)
    assert loss.ndim == 0 and loss.item() > 0
    loss.backward()
    assert all(p.predictor.pointwise.grad.abs().sum() > 0 for p in pools)
    assert lifting_loss(create_model("resnet18-max")) == 0


def test_stem_only_placement() -> None:
    model = create_model("resnet18-lift", sites="stem")
    assert isinstance(model.maxpool, LiftDownPool2d)
    assert sum(isinstance(m, LiftDownPool2d) for m in model.modules()) == 1
    assert model.layer2[0].conv1.stride == (2, 2) and model.layer2[0].downsample[0].stride == (2, 2)


def test_blur_keeps_a_dense_max_and_lift_replaces_it() -> None:
    blur, lift = create_model("resnet18-blur"), create_model("resnet18-lift")
    assert isinstance(blur.maxpool[0], nn.MaxPool2d) and blur.maxpool[0].stride == 1
    assert isinstance(blur.maxpool[1], BlurPool2d)
    assert not any(isinstance(m, nn.MaxPool2d) for m in lift.modules())
    assert not any(isinstance(m, nn.MaxPool2d) for m in create_model("vgg13-lift").modules())


def test_seeded_initialisation_leaves_global_rng_alone() -> None:
    state = torch.get_rng_state()
    a, b = create_model("cifar_resnet18-lift", seed=0), create_model("cifar_resnet18-lift", seed=0)
    c = create_model("cifar_resnet18-lift", seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.conv1.weight, c.conv1.weight)
    lift_a, lift_c = a.layer2[0].conv2[0], c.layer2[0].conv2[0]
    assert not torch.equal(lift_a.predictor.depthwise, lift_c.predictor.depthwise)


def test_describe_names_each_pool() -> None:
    text = describe_model("resnet50-lift")
    assert "7 down-sampling sites" in text
    for path in ("maxpool", "layer2.0.conv3.0", "layer2.0.downsample.0", "layer4.0.downsample.0"):
        assert any(line.split()[0] == path and "LiftDownPool2d" in line for line in text.splitlines()[3:]), path


def test_cli_lists_counts_and_describes() -> None:
    result = CliRunner().invoke(cli, ["models", "--backbone", "resnet18", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert list(rows) == [f"resnet18-{p}" for p in ("max", "avg", "skip", "blur", "lift", "haar", "aps", "lps", "flc",
                                                             "asap", "pasa", "dwt", "lps_circular", "dwt_haar",
                                                             "dwt_db2", "dwt_bior2.2")]
    assert rows["resnet18-max"]["params"] == _n_params(torchvision.models.resnet18())
    # torchvision publishes the multiply-accumulates of ResNet-18 at 224 (its "_ops", in G); FLOPs count 2 per MAC.
    macs = torchvision.models.ResNet18_Weights.DEFAULT.meta["_ops"]
    assert rows["resnet18-max"]["gflops"] == pytest.approx(2 * macs, rel=0.01)
    assert rows["resnet18-max"]["weights"] == ["IMAGENET1K_V1"] and rows["resnet18-lift"]["weights"] == []
    assert rows["resnet18-lift"]["sites"] == 7
    table = CliRunner().invoke(cli, ["models", "--pool", "lift", "--backbone", "cifar_resnet18"])
    assert table.exit_code == 0 and "cifar_resnet18-lift" in table.output
    described = CliRunner().invoke(cli, ["models", "--describe", "mobilenet_v2-blur"])
    assert described.exit_code == 0 and described.output.count("BlurPool2d") == 4
