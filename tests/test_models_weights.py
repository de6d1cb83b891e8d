"""Checkpoints and pretrained weights: reading, strict loading, errors, metadata, the offline message."""

import hashlib
import os
import random
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)

from robustbench_lift import __version__
from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.models import create_model, load_model, read_checkpoint, save_checkpoint
from robustbench_lift.pooling import LiftDownPool2d

RESNET50_V2 = torchvision.models.ResNet50_Weights.IMAGENET1K_V2
META = {"recipe": {"epochs": 1, "lr": 0.1}, "dataset": "demo", "mean": [0.5] * 3, "std": [0.25] * 3}


def _logits(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(torch.linspace(-1, 1, 2 * 3 * 32 * 32).view(2, 3, 32, 32))


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """An empty torch hub cache under tmp_path and a download function that fails like a machine without network."""
    attempts: list[str] = []

    def no_network(url: str, dst: str, *args, **kwargs) -> None:
        attempts.append(url)
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return attempts


def test_save_load_round_trip_keeps_logits_and_meta(tmp_path: Path) -> None:
    model = create_model("cifar_resnet18-lift3", num_classes=10, seed=4, subbands=("LL", "HH"))
    path = save_checkpoint(model, tmp_path / "ckpt" / "model.pt", META)
    _, meta = read_checkpoint(path, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    assert meta == {"model": "cifar_resnet18-lift3", "pool_kwargs": {"kernel_size": 3, "subbands": ("LL", "HH")},
                    "num_classes": 10, **META, "version": __version__}
    loaded = load_model(path)
    assert torch.equal(_logits(loaded), _logits(model))
    assert loaded.layer2[0].conv2[0].subbands == ("LL", "HH")
    assert loaded.liftbench_meta["dataset"] == "demo" and loaded.liftbench_meta["mean"] == [0.5] * 3
    # Named explicitly, the recorded options are adopted; a different pooling is refused.
    assert torch.equal(_logits(create_model("cifar_resnet18-lift", weights=path)), _logits(model))
    with pytest.raises(UsageError, match="was saved from cifar_resnet18-lift3"):
        create_model("cifar_resnet18-blur", weights=path)
    with pytest.raises(UsageError, match="was saved from"):
        create_model("cifar_resnet18-lift", weights=path, subbands="all")


def test_save_needs_the_metadata(tmp_path: Path) -> None:
    model = create_model("cifar_mobilenet_v2-max", num_classes=10)
    with pytest.raises(UsageError, match=r"lacks \['recipe', 'dataset'\]"):
        save_checkpoint(model, tmp_path / "m.pt", {"mean": [0.5] * 3, "std": [0.25] * 3})
    with pytest.raises(UsageError, match="plain data"):
        save_checkpoint(model, tmp_path / "m.pt", {**META, "recipe": torch.optim.SGD})
    assert not list(tmp_path.iterdir())


def test_bare_state_dict_with_module_prefix(tmp_path: Path) -> None:
    reference = torchvision.models.resnet18(num_classes=10)
    path = tmp_path / "ddp.pth"
    torch.save({f"module.{k}": v for k, v in reference.state_dict().items()}, path)
    model = create_model("resnet18-max", weights=path, num_classes=10)
    assert torch.equal(_logits(model), _logits(reference))
    compiled_style = tmp_path / "compiled.pth"
    torch.save({"state_dict": {f"_orig_mod.{k}": v for k, v in reference.state_dict().items()}}, compiled_style)
    assert torch.equal(_logits(create_model("resnet18-max", weights=str(compiled_style), num_classes=10)),
                       _logits(reference))


def test_mismatches_are_named(tmp_path: Path) -> None:
    state = create_model("cifar_resnet18-max", num_classes=10).state_dict()
    broken = dict(state)
    del broken["fc.bias"]
    broken["head.weight"] = torch.zeros(1)
    torch.save(broken, tmp_path / "keys.pt")
    with pytest.raises(UsageError, match=r"missing keys \(1\): fc.bias; unexpected keys \(1\): head.weight"):
        create_model("cifar_resnet18-max", weights=tmp_path / "keys.pt", num_classes=10)
    torch.save(state, tmp_path / "shape.pt")
    with pytest.raises(UsageError, match=r"shapes differ \(2\): fc.weight \(10, 512\) in .* vs \(100, 512\)"):
        create_model("cifar_resnet18-max", weights=tmp_path / "shape.pt")


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a file"):
        create_model("resnet18-max", weights=tmp_path)
    with pytest.raises(UsageError, match="is not a file"):
        create_model("resnet18-max", weights=tmp_path / "missing.pt")
    with pytest.raises(UsageError, match="'IMAGENET1K_V9' are not published for resnet18-max; known: torchvision"):
        create_model("resnet18-max", weights="IMAGENET1K_V9")
    with pytest.raises(UsageError, match="not published for resnet50-max"):  # another architecture's weights
        create_model("resnet50-max", weights=torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
    with pytest.raises(UsageError, match="not published for resnet18-lift; known: none"):
        create_model("resnet18-lift", weights="DEFAULT")
    with pytest.raises(UsageError, match="unknown torchvision weights"):
        create_model("resnet18-max", weights="ResNet18_Weights.IMAGENET1K_V7")
    for seed in range(32):  # fixed garbage: unpickling it fails in many different ways
        (tmp_path / "junk.pt").write_bytes(random.Random(seed).randbytes(64))
        with pytest.raises(UsageError, match="not a checkpoint loadable"):
            read_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(UsageError, match="not a checkpoint loadable"):
        create_model("resnet18-max", weights=tmp_path / "junk.pt")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "pickled_module.pt")  # needs weights_only=False: refused
    with pytest.raises(UsageError, match="not a checkpoint loadable"):
        read_checkpoint(tmp_path / "pickled_module.pt")
    torch.save({"weights": [1, 2]}, tmp_path / "other.pt")
    with pytest.raises(UsageError, match="neither a state dict"):
        read_checkpoint(tmp_path / "other.pt")
    path = save_checkpoint(create_model("cifar_vgg13-max", num_classes=10), tmp_path / "ok.pt", META)
    with pytest.raises(UsageError, match="has sha256 .*, expected 00ff"):
        create_model("cifar_vgg13-max", weights=path, sha256="00ff")


@pytest.mark.parametrize(("name", "weights", "enum_or_file"), [
    ("resnet18-max", "DEFAULT", torchvision.models.ResNet18_Weights.DEFAULT),
    ("mobilenet_v2-max", "IMAGENET1K_V1", torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1),
    ("resnet50-max", RESNET50_V2, RESNET50_V2),
    ("resnet18-blur", "DEFAULT", "resnet18_lpf4_finetune-8cc58f59.pth"),  # antialiased-cnns 0.3 resnet.py
    ("vgg16_bn-blur3", "DEFAULT", "vgg16_bn_lpf3-1782878a.pth"),
])
def test_offline_names_the_file_to_place(offline: list[str], tmp_path: Path, name: str, weights, enum_or_file) -> None:
    file_name = enum_or_file if isinstance(enum_or_file, str) else enum_or_file.url.rsplit("/", 1)[1]
    expected = tmp_path / "torch" / "hub" / "checkpoints" / file_name
    with pytest.raises(LiftbenchError, match="place it at") as caught:
        create_model(name, weights=weights)
    assert str(expected) in str(caught.value) and len(offline) == 1 and offline[0].endswith(file_name)


def test_a_file_placed_in_the_cache_is_used_and_checked(offline: list[str], tmp_path: Path) -> None:
    reference = torchvision.models.resnet18(num_classes=10)
    staging = tmp_path / "staging.pth"
    torch.save(reference.state_dict(), staging)
    digest = hashlib.sha256(staging.read_bytes()).hexdigest()
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    staging.rename(cache / f"resnet18-{digest[:8]}.pth")
    model = create_model("resnet18-max", weights=f"https://example.org/w/resnet18-{digest[:8]}.pth", num_classes=10)
    assert torch.equal(_logits(model), _logits(reference)) and not offline
    wrong = torchvision.models.ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[1]  # its hash prefix is not ours
    (cache / f"resnet18-{digest[:8]}.pth").rename(cache / wrong)
    with pytest.raises(UsageError, match="does not match"):
        create_model("resnet18-max", weights="DEFAULT", num_classes=10)


def test_lift_checkpoint_keeps_lift_layers(tmp_path: Path) -> None:
    model = create_model("cifar_vgg13-lift", num_classes=10)
    loaded = load_model(save_checkpoint(model, tmp_path / "vgg.pt", META))
    assert sum(isinstance(m, LiftDownPool2d) for m in loaded.modules()) == 4
    assert torch.equal(_logits(loaded), _logits(model))


def test_saved_checkpoints_get_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        path = save_checkpoint(create_model("demo-max"), tmp_path / "ok.pt", META)
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644 and not list(tmp_path.glob("*.tmp"))
