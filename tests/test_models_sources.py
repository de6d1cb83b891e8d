"""One resolver for every model source: the zoo, torchvision, timm and user factories; never the network."""

import math
import sys
import textwrap

import pytest
import torch
import torchvision

from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.models import create_model
from robustbench_lift.models.preprocess import Preprocess
from robustbench_lift.models.sources import canonical_name, parse_model_args, resolve_model

FACTORY = '''
from torch import nn

def build(depth=1, width=8, num_classes=10, name="net"):
    """A small ConvNet: a stem, `depth` stride-2 convs, a 2x2 max-pool, a linear head."""
    layers = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU()]
    for _ in range(depth):
        layers += [nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU()]
        width *= 2
    model = nn.Sequential(*layers, nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(width, num_classes))
    model.name = name
    return model

def not_a_model():
    return 3
'''


@pytest.fixture()
def factory_file(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(FACTORY)
    return path


def test_parse_model_args_types_values_and_rejects_malformed_items():
    assert parse_model_args(["depth=18", "width=0.5", "name=x", "flag=True", "sizes=(1, 2)", "path=a/b.pt",
                             "empty="]) == {"depth": 18, "width": 0.5, "name": "x", "flag": True, "sizes": (1, 2),
                                            "path": "a/b.pt", "empty": ""}
    for bad in (["depth"], ["2x=1"], ["a=1", "a=2"]):
        with pytest.raises(UsageError, match="model argument"):
            parse_model_args(bad)


def test_zoo_names_resolve_to_one_canonical_identity():
    assert canonical_name("cifar_resnet10s") == canonical_name("cifar_resnet10s-max") == "cifar_resnet10s-max"
    assert canonical_name("resnet18", pool="lift3") == "resnet18-lift3"
    model, meta = resolve_model("cifar_resnet10s", pool="lift", num_classes=10)
    reference = create_model("cifar_resnet10s-lift", num_classes=10)
    assert meta["model"] == "cifar_resnet10s-lift" and meta["source"] == "zoo" and meta["num_classes"] == 10
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))
    assert (meta["input_size"], meta["resize"]) == (32, 32)
    with pytest.raises(UsageError, match="already names pooling blur"):
        resolve_model("resnet18-blur", pool="lift")
    with pytest.raises(UsageError, match="use torchvision:resnet18 with the pool"):
        resolve_model("resnet18", pool="lift", weights="DEFAULT")


def test_zoo_imagenet_normalisation_is_torchvisions():
    _, meta = resolve_model("resnet18")
    published = torchvision.models.ResNet18_Weights.DEFAULT.transforms()
    assert meta["mean"] == published.mean and meta["std"] == published.std
    assert Preprocess.from_meta(meta) == Preprocess(224, 256, "bilinear", published.mean, published.std)


def test_torchvision_weights_file_loads_also_into_the_swapped_model(tmp_path):
    torch.manual_seed(3)
    saved = torchvision.models.resnet18(num_classes=5).state_dict()
    torch.save(saved, tmp_path / "r18.pth")
    model, meta = resolve_model("torchvision:resnet18", weights=tmp_path / "r18.pth", num_classes=5)
    assert all(torch.equal(model.state_dict()[key], value) for key, value in saved.items())
    assert meta["model"] == "torchvision:resnet18" and meta["num_classes"] == 5
    published = torchvision.models.ResNet18_Weights.DEFAULT.transforms()
    assert (meta["input_size"], meta["resize"], meta["interpolation"]) == (
        published.crop_size[0], published.resize_size[0], published.interpolation.value)

    swapped, meta = resolve_model("torchvision:resnet18", weights=tmp_path / "r18.pth", num_classes=5, pool="lift")
    assert meta["model"] == "torchvision:resnet18-lift" and len(meta["transfer"]["loaded"]) == len(saved)
    assert set(meta["transfer"]["new"]) == swapped.state_dict().keys() - saved.keys()
    assert all(torch.equal(swapped.state_dict()[key], value) for key, value in saved.items())
    with pytest.raises(UsageError, match=r"(?s)does not fit torchvision:resnet18:.*2 of another shape"):
        resolve_model("torchvision:resnet18", weights=tmp_path / "r18.pth", num_classes=7)


def test_torchvision_pretrained_offline_names_the_url_and_the_cache(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("no network in tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    target = tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[1]
    for weights in ("DEFAULT", "IMAGENET1K_V1", "ResNet18_Weights.IMAGENET1K_V1"):
        with pytest.raises(LiftbenchError, match=f"could not download {url}.*place it at {target}"):
            resolve_model("torchvision:resnet18", weights=weights)
    with pytest.raises(UsageError, match="neither a checkpoint file nor weights of torchvision:resnet18"):
        resolve_model("torchvision:resnet18", weights="ResNet50_Weights.IMAGENET1K_V1")
    with pytest.raises(UsageError, match="closest: resnet18"):
        resolve_model("torchvision:resnet81")


def test_timm_model_without_pretrained_weights_carries_timms_config():
    timm = pytest.importorskip("timm")
    model, meta = resolve_model("timm:resnet18", pool="lift")
    cfg = timm.models.get_pretrained_cfg("resnet18")
    assert meta["model"] == f"timm:resnet18.{cfg.tag}-lift" == canonical_name(f"timm:resnet18.{cfg.tag}", pool="lift")
    assert (meta["input_size"], meta["interpolation"]) == (cfg.input_size[1], cfg.interpolation)
    assert meta["resize"] == math.floor(cfg.input_size[1] / cfg.crop_pct)  # timm's eval transform
    assert (tuple(meta["mean"]), tuple(meta["std"])) == (cfg.mean, cfg.std)
    assert len(model.liftbench_swap.sites) == 7 and meta["num_classes"] == 1000


def test_timm_pretrained_offline_and_timm_missing(monkeypatch, tmp_path):
    timm = pytest.importorskip("timm")
    huggingface_hub = pytest.importorskip("huggingface_hub")

    def offline(*args, **kwargs):
        raise OSError("no network in tests")

    def not_cached(*args, **kwargs):
        raise huggingface_hub.errors.LocalEntryNotFoundError("offline and not in the cache")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", not_cached)
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    cfg = timm.models.get_pretrained_cfg("resnet18")
    with pytest.raises(LiftbenchError, match=f"Hugging Face Hub repository {cfg.hf_hub_id}.*{cfg.url}"):
        resolve_model("timm:resnet18", weights="DEFAULT")
    monkeypatch.setitem(sys.modules, "timm", None)
    monkeypatch.setitem(sys.modules, "timm.models", None)
    with pytest.raises(UsageError, match=r'pip install -e "\.\[timm\]"'):
        resolve_model("timm:resnet18")


def test_factory_file_with_model_args_and_pool(factory_file):
    spec = f"{factory_file}:build"
    args = parse_model_args(["depth=2", "width=4", "name=tiny"])
    model, meta = resolve_model(spec, model_args=args, num_classes=3)
    assert model.name == "tiny" and model[-1].out_features == 3 and model[2].out_channels == 8
    assert meta["model"] == f"{factory_file}:build[depth=2,name='tiny',width=4]" and meta["num_classes"] == 3
    swapped, meta = resolve_model(spec, model_args=args, pool="lift")
    assert [site.path for site in swapped.liftbench_swap.sites] == ["2", "4", "6"]
    assert meta["model"].startswith(f"{factory_file}:build-lift[") and meta["num_classes"] == 10
    for bad, message in ((f"{factory_file}:missing", "no callable 'missing'"),
                         (f"{factory_file}:not_a_model", "returned int, not an nn.Module"),
                         (f"{factory_file.parent / 'absent.py'}:build", "does not exist")):
        with pytest.raises(UsageError, match=message):
            resolve_model(bad)
    with pytest.raises(UsageError, match=r"takes \(depth=1"):
        resolve_model(spec, model_args={"dpeth": 2})


def test_package_module_factory(tmp_path, monkeypatch):
    package = tmp_path / "mynets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "small.py").write_text(textwrap.dedent(FACTORY))
    monkeypatch.syspath_prepend(str(tmp_path))
    model, meta = resolve_model("mynets.small:build", model_args={"width": 2})
    assert meta["model"] == "mynets.small:build[width=2]" and model[0].out_channels == 2
    with pytest.raises(UsageError, match="cannot import 'mynets.absent'"):
        resolve_model("mynets.absent:build")


def test_random_initialisation_is_seeded_and_leaves_the_global_rng(factory_file):
    state = torch.random.get_rng_state()
    first, _ = resolve_model(f"{factory_file}:build", pool="lift", seed=4)
    second, _ = resolve_model(f"{factory_file}:build", pool="lift", seed=4)
    other, _ = resolve_model(f"{factory_file}:build", pool="lift", seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    assert not torch.equal(first[0].weight, other[0].weight)


def test_preprocess_checks_its_values():
    assert Preprocess(224, 256).crop_fraction == 0.875
    for bad in ((256, 224), (224, 256, "cubic"), (224, 256, "bilinear", (0.5, 0.5), (0.2, 0.2, 0.2))):
        with pytest.raises(UsageError):
            Preprocess(*bad)


def test_a_broken_factory_is_a_usage_error_naming_the_file(tmp_path, monkeypatch):
    """Hostile factories: a syntax error, an import-time or call-time raise, bad `--model-arg` values that the
    factory's layers reject; each a `UsageError` naming the factory and the error, never a traceback."""
    (tmp_path / "syntax.py").write_text("def build(:\n")
    (tmp_path / "raises_on_import.py").write_text("raise RuntimeError('no GPU here')\n")
    (tmp_path / "good.py").write_text(textwrap.dedent(FACTORY) + "\ndef boom():\n    raise KeyError('kaput')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    good = tmp_path / "good.py"
    for spec, args, message in (
            (f"{tmp_path / 'syntax.py'}:build", {}, r"syntax\.py.*SyntaxError: invalid syntax"),
            (f"{tmp_path / 'raises_on_import.py'}:build", {}, r"raises_on_import\.py.*RuntimeError: no GPU here"),
            ("syntax:build", {}, r"'syntax'.*SyntaxError"),
            (f"{good}:boom", {}, r"good\.py:boom\(\) raised KeyError: 'kaput'"),
            (f"{good}:build", {"num_classes": "abc"}, r"good\.py:build\(num_classes='abc'\) raised TypeError"),
            (f"{good}:build", {"num_classes": -3}, r"good\.py:build\(num_classes=-3\) raised RuntimeError.*-3")):
        with pytest.raises(UsageError, match=message):
            resolve_model(spec, model_args=args)
