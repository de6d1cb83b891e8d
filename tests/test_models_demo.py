"""The demo models in the zoo: names, architecture, normalisation, and loading shipped weights by sha256."""

import json
import sys
from pathlib import Path

import pytest
import torch
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)

from robustbench_lift.data.demo import MEAN, STD
from robustbench_lift.errors import UsageError
from robustbench_lift.models import create_model, demo, list_models, model_spec, save_checkpoint
from robustbench_lift.models.weights import file_sha256
from robustbench_lift.pooling import list_pools

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from ship_demo_models import ship_demo_model  # noqa: E402  (a maintainer script, not part of the package)


@pytest.fixture
def manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty demo weights folder in place of the shipped one."""
    monkeypatch.setattr(demo, "DEMO_DIR", tmp_path)
    monkeypatch.setattr(demo, "MANIFEST", tmp_path / "manifest.json")
    demo.shipped_demo_weights.cache_clear()
    yield tmp_path / "manifest.json"
    demo.shipped_demo_weights.cache_clear()


def test_demo_names_are_the_narrow_cifar_resnet_with_ten_classes() -> None:
    assert list_models(backbone="demo") == [f"demo-{pool}" for pool in list_pools()]
    spec = model_spec("demo-lift")
    assert (spec.backbone, spec.pooling, spec.num_classes, spec.input_size) == ("cifar_resnet10s", "lift", 10, 32)
    assert (spec.mean, spec.std) == (MEAN, STD)
    same = create_model("cifar_resnet10s-lift", num_classes=10)
    model = create_model("demo-lift")
    assert model.liftbench_meta["model"] == "demo-lift" and model.liftbench_meta["mean"] == MEAN
    assert [(k, v.shape) for k, v in model.state_dict().items()] == [(k, v.shape) for k, v in same.state_dict().items()]
    widths = [getattr(model, f"layer{i}")[0].bn2.num_features for i in range(1, 5)]
    assert widths == [16, 32, 64, 128] and "resnet10s-max" not in list_models()
    with pytest.raises(UsageError, match="unknown model 'resnet10s-max'"):
        create_model("resnet10s-max")


def test_shipped_weights_load_by_default_and_are_checked(manifest: Path) -> None:
    assert model_spec("demo-max").weights == {}
    with pytest.raises(UsageError, match="not published for demo-max"):
        create_model("demo-max", weights="DEFAULT")
    trained = create_model("demo-max", seed=3)
    path = save_checkpoint(trained, manifest.parent / "demo-max.pt",
                           {"recipe": {"epochs": 1}, "dataset": "demo", "mean": list(MEAN), "std": list(STD)})
    entry = {"file": path.name, "sha256": file_sha256(path), "test_acc": 0.5,
             "command": demo.demo_train_command("max", 1)}
    manifest.write_text(json.dumps({"max": entry}))
    demo.shipped_demo_weights.cache_clear()
    spec = model_spec("demo-max")
    assert spec.default_weights == "demo" and "shipped with liftbench" in spec.weights_source
    assert spec.weights_sha256 == {"demo": entry["sha256"]}
    assert model_spec("demo-blur5").weights == {}  # other options: not the shipped model
    loaded = create_model("demo-max", weights="DEFAULT").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), trained.eval()(x))
    manifest.write_text(json.dumps({"max": {**entry, "sha256": "0" * 64}}))
    demo.shipped_demo_weights.cache_clear()
    with pytest.raises(UsageError, match="expected 0000"):
        create_model("demo-max", weights="DEFAULT")


def test_ship_demo_model_copies_and_records_the_checkpoint(manifest: Path, tmp_path: Path) -> None:
    trained = create_model("demo-lift", seed=1)
    meta = {"recipe": {"epochs": 7, "seed": 3}, "dataset": "demo", "test_acc": 0.91}
    source = save_checkpoint(trained, tmp_path / "run" / "final.pt", meta)
    shipped = ship_demo_model(source)
    assert shipped.path == manifest.parent / "demo-lift.pt" and shipped.path.read_bytes() == source.read_bytes()
    assert shipped.sha256 == file_sha256(source) and shipped.test_acc == 0.91
    assert shipped.command == "liftbench train --model demo-lift --data demo --epochs 7 --seed 3 --out runs/demo-lift"
    assert json.loads(manifest.read_text())["lift"]["sha256"] == shipped.sha256
    other = save_checkpoint(create_model("cifar_resnet10s-lift", num_classes=10), tmp_path / "other.pt",
                            {**meta, "mean": list(MEAN), "std": list(STD)})
    with pytest.raises(ValueError, match="expected a demo-<pool> model"):
        ship_demo_model(other)
