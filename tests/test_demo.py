"""The shipped demo models and `liftbench demo`: weights as recorded, accuracy as claimed, the demo end to end."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)

from robustbench_lift.cli import cli
from robustbench_lift.data.demo import MEAN, STD, demo_dataset
from robustbench_lift.demo import demo_models, run_demo
from robustbench_lift.errors import UsageError
from robustbench_lift.models import create_model, read_checkpoint
from robustbench_lift.models.demo import MANIFEST, demo_train_command, shipped_demo_weights
from robustbench_lift.models.weights import file_sha256
from robustbench_lift.pooling import list_pools
from robustbench_lift.store import load_results

SHIPPED = shipped_demo_weights()


def test_one_demo_model_per_pooling_is_shipped_weights_only() -> None:
    # asap, flc's windowed variant, has no demo model of its own (docs/poolings.md)
    assert sorted(SHIPPED) == sorted(set(list_pools()) - {"asap"})
    for weights in SHIPPED.values():  # fp32 weights and metadata, no optimizer state: 4 bytes a parameter + 3 %
        parameters = sum(p.numel() for p in create_model(f"demo-{weights.path.stem.split('-', 1)[1]}").parameters())
        assert weights.path.stat().st_size <= 4 * parameters * 1.03 + 64 * 2 ** 10, weights.path.name
    for pool, weights in SHIPPED.items():
        assert file_sha256(weights.path) == weights.sha256, pool
        _, meta = read_checkpoint(weights.path)
        assert meta["model"] == f"demo-{pool}" and meta["dataset"] == "demo" and meta["num_classes"] == 10
        assert weights.command == demo_train_command(pool, meta["recipe"]["epochs"], meta["recipe"]["seed"])


@pytest.mark.parametrize("pool", sorted(SHIPPED))
def test_shipped_accuracy_is_the_recorded_one_and_high(pool: str) -> None:
    """Clean accuracy on the 2,000 demo test images by a plain loop, against the manifest's figure."""
    images, labels = demo_dataset("test")
    model = create_model(f"demo-{pool}", weights="DEFAULT").eval()
    x = (images.float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        predicted = torch.cat([model(batch).argmax(1) for batch in x.split(500)])
    accuracy = (predicted == labels).double().mean().item()
    assert accuracy == pytest.approx(SHIPPED[pool].test_acc, abs=2e-3) and accuracy >= 0.85


def test_demo_end_to_end_on_a_small_subset(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--limit", "6", "--pool", "max", "--pool", "lift", "--out", str(out),
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    cells = load_results(out / "results.db")
    assert set(cells["model"]) == {"demo-max", "demo-lift", "demo_seg-max", "demo_seg-lift"}
    assert set(cells["suite"]) == {"c", "p", "shift", "seg", "freq"}
    freq = cells[cells["suite"] == "freq"]
    assert len(freq) == 2 * (1 + 34) and (freq["n"] == 6).all()  # clean + every 4th frequency of 32 x 32
    corrupted = cells[(cells["suite"] == "c") & (cells["corruption"] != "clean")]
    assert len(corrupted) == 2 * 19 * 5 and (corrupted["n"] == 6).all()
    # 32 px images: CIFAR-10-C's severity constants
    assert (corrupted["dataset"] == "demo-otf-cifar").all()
    assert all(f["preset"] == "cifar" for f in corrupted["fingerprint"])
    p_cells = cells[cells["suite"] == "p"]
    # and CIFAR-10-P's perturbation constants and lengths (translate: 16 frames, motion_blur: 21)
    assert (p_cells["dataset"] == "demo-otf-cifar").all()
    assert all(f["preset"] == "cifar" for f in p_cells["fingerprint"])
    flipping = p_cells[(p_cells["model"] == "demo-max") & (p_cells["flip_prob"] > 0)]
    assert len(flipping) and np.allclose(flipping["fr"], 1.0)  # demo-max is the FR baseline of the demo
    seg = cells[cells["suite"] == "seg"]
    assert set(seg["model"]) == {"demo_seg-max", "demo_seg-lift"}
    assert len(seg) == 2 * (1 + 4 * 3 + 1)  # per model: clean, 4 corruptions x 3 severities, shift
    # mCD relative to demo_seg-max: every lift cell carries the baseline's mIoU of the same cell
    seg_corrupted = seg[~seg["corruption"].isin(["clean", "shift"])]
    both = seg_corrupted.pivot_table(index=["corruption", "severity"], columns="model", values="miou")
    lift = seg[seg["model"] == "demo_seg-lift"].set_index(["corruption", "severity"])
    assert np.allclose(lift.loc[both.index, "base_miou"], both["demo_seg-max"])
    report = (out / "report.html").read_text()
    assert "demo-lift" in report and "demo-max" in report and "| demo-lift" in result.output
    classification, segmentation = result.output.split("Segmentation summary (%):")  # one table per task
    assert "Classification summary (%):" in classification and "| demo-lift" in classification
    assert "mIoU" not in classification and "demo_seg" not in classification
    assert "| demo_seg-lift" in segmentation and "mCE" not in segmentation and "| demo-max" not in segmentation
    assert "Segmentation: predictions under corruption" in report
    assert (out / "figures" / "seg_qualitative.png").is_file()
    assert all((out / "figures" / f"freq_{name}.png").is_file() for name in ("heat_maps", "differences", "sites"))
    rerun = CliRunner().invoke(cli, ["demo", "--limit", "6", "--pool", "max", "--pool", "lift", "--out", str(out),
                                     "--no-progress", "--no-report"])
    assert rerun.exit_code == 0 and load_results(out / "results.db").equals(cells)  # resumed: nothing recomputed


def test_unknown_pool_or_suite_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no shipped demo weights for pooling lfit"):
        demo_models(["lfit"])
    with pytest.raises(UsageError, match="unknown demo suite"):
        run_demo(tmp_path, suites=["q"])
    assert json.loads(MANIFEST.read_text())  # the manifest the zoo reads is valid JSON
