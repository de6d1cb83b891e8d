"""Segmentation models: shapes at any size, the up-samplers against their references (MaxUnpool2d, exact LiftUpPool
and Haar inversion), encoder weight loading, parameter counts from the published layer lists, gradients, zoo."""

import json

import pytest
import torch
import torch.nn.functional as F
import torchvision
from click.testing import CliRunner
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from torch import nn

from robustbench_lift.cli import cli
from robustbench_lift.data.demo import CLASSES
from robustbench_lift.errors import UsageError
from robustbench_lift.models import create_model, describe_model, list_models, model_spec, save_checkpoint
from robustbench_lift.models.deeplab import BandKeepingLiftDownPool2d
from robustbench_lift.pooling import LiftDownPool2d, lifting_loss, list_pools


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _conv(inputs: int, outputs: int, k: int = 3, bias: bool = True, bn: bool = True) -> int:
    """Parameters of a k x k conv (+ bias) and its BatchNorm (weight and bias)."""
    return k * k * inputs * outputs + bias * outputs + bn * 2 * outputs


def _randomise_lifting(model: nn.Module) -> None:
    """Non-zero P and U everywhere (fresh ones output 0, and any pairing would then invert)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, LiftDownPool2d):
                for filt in (module.predictor, module.updater):
                    filt.pointwise.copy_(torch.randn(filt.pointwise.shape, generator=generator))


@pytest.mark.parametrize("name", [*(f"demo_seg-{p}" for p in list_pools()), "segnet_vgg16_bn-max",
                                  "segnet_vgg16_bn-lift", "deeplabv3plus_resnet18-max", "deeplabv3plus_resnet18-lift",
                                  "deeplabv3plus_resnet34-blur", "deeplabv3plus_resnet50-lift"])
def test_logits_at_the_input_size(name: str) -> None:
    model = create_model(name).eval()
    classes = model_spec(name).num_classes
    sizes = [(37, 50), (5, 7)] if name.startswith("demo") else [(37, 50)]  # 5 x 7: pads to a minimum size
    with torch.no_grad():
        for height, width in sizes:
            logits = model(torch.randn(1, 3, height, width))
            assert logits.shape == (1, classes, height, width) and torch.isfinite(logits).all()


def test_segnet_max_unpools_at_the_encoder_indices() -> None:
    model = create_model("segnet_vgg16_bn-max").eval()
    pools, unpools = {}, {}
    for stage, index in enumerate(model.pool_index):
        model.features[index].register_forward_hook(lambda m, a, out, s=stage: pools.__setitem__(s, (a[0], *out)))
        model.unpools[stage].register_forward_hook(lambda m, a, out, s=stage: unpools.__setitem__(s, (a[0], out)))
    with torch.no_grad():
        model(torch.randn(1, 3, 45, 64))
    assert sorted(pools) == sorted(unpools) == list(range(5))
    for stage, (x, pooled, indices) in pools.items():
        expected, expected_indices = F.max_pool2d(x, 2, 2, return_indices=True)
        assert torch.equal(pooled, expected) and torch.equal(indices, expected_indices)
        decoder_input, output = unpools[stage]
        assert torch.equal(output, nn.MaxUnpool2d(2, 2)(decoder_input, indices, output_size=x.shape[-2:]))


@pytest.mark.parametrize("name", ["segnet_vgg16_bn-lift", "demo_seg-lift", "demo_seg-haar"])
def test_segnet_up_pools_invert_their_encoder_layer(name: str) -> None:
    """With the stored LL as the decoder feature, each stage's up-sampler gives back the pool's input exactly."""
    model = create_model(name).double().eval()
    _randomise_lifting(model)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():  # the encoder alone, stage by stage
        for index, layer in enumerate(model.features):
            if index not in model.pool_index:
                x = layer(x)
                continue
            stage = model.pool_index.index(index)
            unpool = model.unpools[stage]
            if isinstance(layer, LiftDownPool2d):  # stages 4 and 5 have 512 channels each: the right P and U?
                assert unpool.up.predictor is layer.predictor and unpool.up.updater is layer.updater
            pooled, kept = unpool.down(layer, x)
            torch.testing.assert_close(unpool(kept.ll, kept), x, rtol=0, atol=1e-10)
            x = pooled


def test_deeplab_lift_up_pools_invert_their_encoder_layer() -> None:
    model = create_model("deeplabv3plus_resnet18-lift").double().eval()
    _randomise_lifting(model)
    assert model.lift_paths == ("layer3.0.conv2.0", "layer2.0.conv2.0")
    seen = {}
    for path in model.lift_paths:
        pool = model.backbone.get_submodule(path)
        assert type(pool) is BandKeepingLiftDownPool2d
        pool.register_forward_hook(lambda m, a, out, p=path: seen.__setitem__(p, (a[0], m.kept)))
    with torch.no_grad():
        model(torch.randn(2, 3, 70, 45, dtype=torch.float64))
        for up, path in zip((model.up16, model.up8), model.lift_paths):
            pool = model.backbone.get_submodule(path)
            assert up.predictor is pool.predictor and pool.kept is None  # shared P; no bands outlive the pass
            x, bands = seen[path]
            torch.testing.assert_close(up(bands, ll=bands.ll), x, rtol=0, atol=1e-10)


def _vgg16_bn_state_dict() -> dict[str, torch.Tensor]:
    """torchvision vgg16_bn's state dict with random values: features materialised, the 100M-parameter classifier
    left on the meta device (the encoder must ignore it)."""
    with torch.device("meta"):
        vgg = torchvision.models.vgg16_bn()
    vgg.features.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for tensor in vgg.features.state_dict().values():
            tensor.copy_(torch.randint(0, 5, tensor.shape, generator=generator) if not tensor.is_floating_point()
                         else torch.randn(tensor.shape, generator=generator))
    return vgg.state_dict()


def test_torchvision_vgg16_bn_loads_into_the_segnet_encoder() -> None:
    state = _vgg16_bn_state_dict()
    features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    model = create_model("segnet_vgg16_bn-max")
    model.features.load_state_dict(features, strict=True)
    lift = create_model("segnet_vgg16_bn-lift")
    lift.load_encoder(state)  # only LiftPool's own P and U are not in torchvision's dict
    for key, value in features.items():
        assert torch.equal(lift.features.state_dict()[key], value), key
    del features["0.weight"]
    with pytest.raises(UsageError, match=r"missing \['0.weight'\]"):
        lift.load_encoder({f"features.{k}": v for k, v in features.items()})


def test_classification_weights_load_into_the_deeplab_backbone() -> None:
    torch.manual_seed(0)
    reference = torchvision.models.resnet18().state_dict()
    model = create_model("deeplabv3plus_resnet18-max")
    model.load_encoder(reference)
    assert all(torch.equal(v, reference[k]) for k, v in model.backbone.state_dict().items())
    lift = create_model("deeplabv3plus_resnet18-lift")
    lift.load_encoder(create_model("resnet18-lift", seed=3).state_dict())  # same keys, band-keeping pools too


def test_deeplab_dilates_layer4_as_torchvision_does() -> None:
    with torch.device("meta"):
        model = create_model("deeplabv3plus_resnet50-max")
        reference = torchvision.models.resnet50(replace_stride_with_dilation=[False, False, True])
    ours = {n: m for n, m in model.backbone.named_modules() if isinstance(m, nn.Conv2d)}
    theirs = {n: m for n, m in reference.named_modules() if isinstance(m, nn.Conv2d)}
    assert list(ours) == list(theirs)
    for name, conv in theirs.items():
        assert (ours[name].stride, ours[name].dilation, ours[name].padding) == (
            conv.stride, conv.dilation, conv.padding), name


def test_parameter_counts_follow_the_published_layer_lists() -> None:
    with torch.device("meta"):
        vgg_features = _n_params(torchvision.models.vgg16_bn().features)
        resnet50 = _n_params(torchvision.models.resnet50()) - (2048 * 1000 + 1000)
    # SegNet decoder (Badrinarayanan et al. 2017): conv5_3_D .. conv1_1_D mirror VGG-16, the last one gives classes.
    decoder = [(512, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 256), (256, 256), (256, 256),
               (256, 128), (128, 128), (128, 64), (64, 64)]
    segnet = vgg_features + sum(_conv(a, b) for a, b in decoder) + _conv(64, 21, bn=False)
    assert model_spec("segnet_vgg16_bn-max").num_params() == segnet
    assert round(segnet / 1e6, 1) == 29.5  # SegNet's published size
    # DeepLabV3+ head: ASPP (1x1, three 3x3 atrous, image pooling, projection), 48-channel low level, 2 3x3 convs
    aspp = _conv(2048, 256, 1, False) + 3 * _conv(2048, 256, 3, False) + _conv(2048, 256, 1, False) \
        + _conv(5 * 256, 256, 1, False)
    head = aspp + _conv(256, 48, 1, False) + _conv(256 + 48, 256, 3, False) + _conv(256, 256, 3, False) \
        + _conv(256, 21, 1, bn=False)
    assert model_spec("deeplabv3plus_resnet50-max").num_params() == resnet50 + head
    lifting = sum(2 * (c * 5 + c) for c in (64, 128, 256, 256, 512))  # P and U of the 5 sites; up-pools share them
    lift_decoder = _conv(256, 128, 1, False) + _conv(128 + 48, 256, 3, False) - _conv(256 + 48, 256, 3, False)
    assert model_spec("deeplabv3plus_resnet50-lift").num_params() == resnet50 + head + lifting + lift_decoder
    segnet_lifting = sum(2 * (c * 5 + c) for c in (64, 128, 256, 512, 512))
    assert model_spec("segnet_vgg16_bn-lift").num_params() == segnet + segnet_lifting


@pytest.mark.parametrize("name", ["demo_seg-lift", "deeplabv3plus_resnet18-lift"])
def test_gradients_reach_every_parameter(name: str) -> None:
    model = create_model(name).train()
    x = torch.randn(2, 3, 48, 40)
    labels = torch.randint(0, model_spec(name).num_classes, (2, 48, 40))
    labels[:, :5] = 255
    loss = F.cross_entropy(model(x), labels, ignore_index=255) + lifting_loss(model)
    loss.backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), param_name
        lifting = "predictor" in param_name or "updater" in param_name  # fresh P, U output 0: checked below
        assert param.grad.abs().sum() > 0 or lifting, param_name
    pools = [m for m in model.modules() if isinstance(m, LiftDownPool2d)]
    assert all(pool.predictor.pointwise.grad.abs().sum() > 0 for pool in pools)


def test_checkpoints_round_trip_with_shared_lifting_filters(tmp_path) -> None:
    trained = create_model("demo_seg-lift", seed=5).eval()
    _randomise_lifting(trained)
    path = save_checkpoint(trained, tmp_path / "seg.pt", {"recipe": {}, "dataset": "demo"})
    loaded = create_model("demo_seg-lift", weights=path).eval()
    assert loaded.unpools[0].up.predictor is loaded.features[6].predictor  # still one P, not two copies
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), trained(x))


def test_zoo_lists_describes_and_checks_segmentation_names() -> None:
    names = list_models()
    assert {"segnet_vgg16_bn-lift", "deeplabv3plus_resnet34-haar", "demo_seg-blur"} <= set(names)
    assert list_models(backbone="demo_seg") == [f"demo_seg-{p}" for p in list_pools()]
    spec = model_spec("demo_seg-lift3")
    assert (spec.task, spec.num_classes, spec.input_size, dict(spec.pool_kwargs)) == (
        "segmentation", len(CLASSES) + 1, 32, {"kernel_size": 3})
    assert model_spec("resnet18-lift").task == "classification" and model_spec("segnet_vgg16_bn-max").weights == {}
    assert "features.43" in describe_model("segnet_vgg16_bn-lift").splitlines()[-1]
    with pytest.raises(UsageError, match="has no stem"):
        create_model("demo_seg-lift", sites="stem")
    with pytest.raises(UsageError, match="takes no pooling options"):
        model_spec("segnet_vgg16_bn-max", kernel_size=3)
    with pytest.raises(UsageError, match="unknown model 'cifar_segnet_vgg16_bn-max'"):
        model_spec("cifar_segnet_vgg16_bn-max")
    result = CliRunner().invoke(cli, ["models", "--backbone", "demo_seg", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["demo_seg-lift"]["sites"] == 3 and rows["demo_seg-lift"]["gflops"] > 0
