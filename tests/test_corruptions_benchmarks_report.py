"""The other benchmarks (3DCC, ImageNet-C-bar) through the metrics, the summary and the report: having no AlexNet
normaliser, their aggregates are mean errors of their own, labelled as such, never CE or mCE; evaluated on the
fly end to end on the demo data."""

import numpy as np
import pytest
import torch
from evaluate_fixtures import TinyNet
from PIL import Image
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from skimage import data

from corruptions.names import SUBSETS
from corruptions.registry import corrupt, resolve_backend
from corruptions.seeding import corrupt_indexed
from robustbench_lift.cli import main
from robustbench_lift.data.render import render_cifar_c
from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.corruption import corruption_summary
from robustbench_lift.report import figures
from robustbench_lift.report.build import grid_names
from robustbench_lift.report.summary import METRICS, load, summary_table
from robustbench_lift.report.tables import corruption_table, render
from robustbench_lift.suites.options import CorruptionOptions

# AlexNet's published errors (hendrycks/robustness README) at severities 1 and 3, written out independently.
ALEXNET_S1_S3 = {"gaussian_noise": (0.69528, 0.93554), "fog": (0.67474, 0.84378)}
ALEXNET_CLEAN = 0.43478


def test_corruptions_without_an_alexnet_error_get_mean_errors_only():
    """A mix of ImageNet-C, 3DCC and C-bar cells on an ImageNet model: CE and mCE from the two ImageNet-C
    corruptions alone (hand formula); each other benchmark its own mean error; `mean_err` without them."""
    errors = {("gaussian_noise", 1): 0.5, ("gaussian_noise", 3): 0.7, ("fog", 1): 0.4, ("fog", 3): 0.6,
              ("iso_noise", 1): 0.2, ("iso_noise", 3): 0.9, ("low_light", 3): 0.8,
              ("sparkles", 1): 0.1, ("plasma_noise", 3): 0.3}
    summary = corruption_summary(errors, clean_error=0.25, normalise=True)
    ce = {c: (errors[c, 1] + errors[c, 3]) / sum(a) for c, a in ALEXNET_S1_S3.items()}
    relative = {c: (errors[c, 1] + errors[c, 3] - 2 * 0.25) / (sum(a) - 2 * ALEXNET_CLEAN)
                for c, a in ALEXNET_S1_S3.items()}
    assert summary["mCE"] == pytest.approx(np.mean(list(ce.values())))
    assert summary["rel_mCE"] == pytest.approx(np.mean(list(relative.values())))
    assert summary["mean_err"] == pytest.approx(np.mean([0.5, 0.7, 0.4, 0.6]))
    assert summary["mean_err/3dcc"] == pytest.approx(np.mean([0.2, 0.9, 0.8]))
    assert summary["mean_err/cbar"] == pytest.approx(np.mean([0.1, 0.3]))
    assert summary["err/iso_noise"] == pytest.approx(0.55)
    normalised = {k.split("/")[1] for k in summary if k.startswith(("CE/", "rel_CE/"))}
    assert normalised == set(ALEXNET_S1_S3)


def test_a_benchmark_alone_has_no_mCE_nor_an_ImageNet_C_mean():
    summary = corruption_summary({(n, s): 0.1 * s for n in SUBSETS["cbar"] for s in (1, 2)}, 0.2, normalise=True)
    assert set(summary) == {"mean_err/cbar", *(f"err/{n}" for n in SUBSETS["cbar"])}
    assert summary["mean_err/cbar"] == pytest.approx(0.15)


def test_labels_say_mean_error():
    for benchmark, label in (("3dcc", "3dcc-2d"), ("cbar", "cbar"), ("freq", "freq")):  # 3dcc-2d: 3 of its 12
        metric = METRICS[f"mean_err/{benchmark}"]
        assert metric.label == f"{label} mean err." and not metric.higher_is_better
        assert "no AlexNet normaliser" in metric.description
    assert figures.FAMILIES[-3:] == ("3dcc", "cbar", "freq")


@pytest.fixture(scope="module")
def frame():
    """A 1000-class model (so ImageNet's normaliser would apply if it could) on 6 demo images, 3DCC on the fly."""
    return evaluate(TinyNet(1000), CorruptionOptions(corruptions=["3dcc"], severities=[1, 5], preset="imagenet"),
                    "demo",
                    run=RunOptions(limit=6, progress=False), options=ModelOptions(num_classes=1000))


def test_evaluated_on_the_fly_the_summary_is_a_labelled_mean_error(frame):
    cells = frame[frame["corruption"] != "clean"]
    assert sorted(set(cells["corruption"])) == sorted(SUBSETS["3dcc"]) and set(cells["severity"]) == {1, 5}
    assert set(cells["n"]) == {6} and set(cells["dataset"]) == {"demo-otf"}
    table = summary_table(frame, ci=False)
    assert "mean_err/3dcc" in table and not {"mCE", "rel_mCE", "mean_err"} & set(table)
    assert table["mean_err/3dcc"].iloc[0] == pytest.approx(100 * cells["top1_err"].mean())
    assert "3dcc-2d mean err." in render(table, "md")
    per_corruption = corruption_table(frame)
    assert per_corruption.attrs["quantity"] == "mean top-1 error over severities (%)"
    expected = 100 * cells.groupby("corruption")["top1_err"].mean()
    assert per_corruption.iloc[:, 0].to_dict() == pytest.approx(expected.to_dict())
    assert list(per_corruption.index) == list(SUBSETS["3dcc"])  # the registry's order, not by name
    assert sorted(grid_names(load(frame))) == sorted(SUBSETS["3dcc"])
    axes = figures.mce_vs_clean(table).axes[0]
    assert axes.get_ylabel() == "3dcc-2d mean err. (%)"


@pytest.mark.parametrize("name", SUBSETS["3dcc"] + SUBSETS["cbar"])
def test_corrupt_has_the_torch_backend_and_the_benchmark_constants_only(name):
    benchmark = "3dcc" if name in SUBSETS["3dcc"] else "cbar"
    images = torch.zeros((1, 3, 32, 32), dtype=torch.uint8)
    with pytest.raises(UsageError, match=f"'{name}' \\({benchmark}\\) is not in imagecorruptions"):
        corrupt(images, name, 1, backend="reference")
    with pytest.raises(UsageError, match="no 'cifar' preset"):
        corrupt(images, name, 1, preset="cifar")
    assert {resolve_backend("auto", name, torch.device(d)) for d in ("cpu", "cuda")} == {"torch"}


def test_evaluate_refuses_the_reference_backend_and_the_cifar_preset():
    with pytest.raises(UsageError, match="'iso_noise' \\(3dcc\\) is not in imagecorruptions"):
        evaluate(TinyNet(10), CorruptionOptions(corruptions=["3dcc"], backend="reference"), "demo",
                 run=RunOptions(limit=2, progress=False))
    with pytest.raises(UsageError, match="'sparkles' \\(cbar\\) has its benchmark's constants only"):
        evaluate(TinyNet(10), CorruptionOptions(corruptions=["sparkles"], preset="cifar"), "demo",
                 run=RunOptions(limit=2, progress=False))


def test_rendered_by_the_cli_and_evaluated_as_a_tree(tmp_path, capsys):
    """`liftbench render --corruptions 3dcc` writes the 224 px JPEG tree; evaluating it (names outside the 19)
    summarises as the 3DCC mean error."""
    clean = tmp_path / "clean"
    for name, image in (("cat", data.chelsea()), ("coffee", data.coffee())):
        (clean / name).mkdir(parents=True)
        Image.fromarray(image).save(clean / name / f"{name}.png")
    with pytest.raises(SystemExit) as ok:
        main(["render", "--data", str(clean), "--out", str(tmp_path / "c"), "--corruptions", "3dcc",
              "--severities", "4", "--backend", "auto"])
    assert ok.value.code == 0 and "wrote 6 images" in capsys.readouterr().out
    with Image.open(tmp_path / "c" / "color_quant" / "4" / "cat" / "cat.JPEG") as written:
        assert written.size == (224, 224) and written.format == "JPEG"
    frame = evaluate(TinyNet(2), CorruptionOptions(clean=clean, corruptions=["3dcc"], severities=[4]), tmp_path / "c",
                     run=RunOptions(progress=False))
    assert set(frame["corruption"]) == {"clean", *SUBSETS["3dcc"]} and set(frame["n"]) == {2}
    table = summary_table(frame, ci=False)
    cells = frame[frame["corruption"] != "clean"]
    assert table["mean_err/3dcc"].iloc[0] == pytest.approx(100 * cells["top1_err"].mean())
    assert "mean_err" not in table


def test_cifar_arrays_need_the_imagenet_preset_and_fail_before_writing(tmp_path):
    images = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(UsageError, match="'iso_noise' \\(3dcc\\) has its benchmark's constants only"):
        render_cifar_c(images, np.zeros(2), tmp_path / "cifar", corruptions="fog,3dcc", progress=False)
    assert not list((tmp_path / "cifar").glob("*.npy"))
    render_cifar_c(images + 100, np.zeros(2), tmp_path / "cifar", corruptions="color_quant", preset="imagenet",
                   progress=False)
    stacked = np.load(tmp_path / "cifar" / "color_quant.npy")
    expected = [corrupt_indexed(torch.full((2, 3, 32, 32), 100, dtype=torch.uint8), [0, 1], "color_quant", s, 0)
                for s in range(1, 6)]
    assert np.array_equal(stacked, torch.cat(expected).permute(0, 2, 3, 1).numpy())
