"""Effective robustness (Taori et al. 2020) against a hand-made fit: `np.polyfit` on logits computed with `math`,
the report's table and figure over a store of ood cells with chosen accuracies, and `compare` on ood cells."""

import math
from pathlib import Path

import numpy as np
import pytest

from robustbench_lift.metrics.effective_robustness import effective_robustness, linear_fit
from robustbench_lift.report.figures_ood import effective_robustness_figure
from robustbench_lift.report.ood import effective_robustness_table
from robustbench_lift.report.paired import MCNEMAR, paired_comparison
from robustbench_lift.report.summary import load
from robustbench_lift.store import CellResult, ResultStore

N = 200
ACCURACY = {"m-a": (0.60, 0.40), "m-b": (0.70, 0.50), "m-c": (0.80, 0.65), "m-d": (0.75, 0.60)}
"""model -> (ImageNet accuracy on the set's classes, ImageNet-R accuracy), multiples of 1 / N."""


def hand_logit(p: float) -> float:
    return math.log(p / (1 - p))


def hand_er(id_acc: float, ood_acc: float, slope: float, intercept: float) -> float:
    return ood_acc - 1 / (1 + math.exp(-(slope * hand_logit(id_acc) + intercept)))


def test_linear_fit_recovers_a_line_and_fits_each_replicate():
    id_acc = np.array([0.55, 0.65, 0.72, 0.9])
    ood_acc = np.array([1 / (1 + math.exp(-(0.8 * hand_logit(p) - 0.5))) for p in id_acc])
    slope, intercept = linear_fit(id_acc, ood_acc)
    assert (slope, intercept) == pytest.approx((0.8, -0.5))
    assert effective_robustness(id_acc, ood_acc, slope, intercept) == pytest.approx(np.zeros(4), abs=1e-12)
    rng = np.random.default_rng(0)
    draws_id, draws_ood = rng.uniform(0.3, 0.9, (3, 5)), rng.uniform(0.2, 0.8, (3, 5))
    slopes, intercepts = linear_fit(draws_id, draws_ood)
    for b in range(3):
        fitted = np.polyfit([hand_logit(p) for p in draws_id[b]], [hand_logit(p) for p in draws_ood[b]], 1)
        assert (slopes[b], intercepts[b]) == pytest.approx(tuple(fitted))


def cell_arrays(accuracy: float) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(N) % 1000
    top1 = np.where(np.arange(N) < round(accuracy * N), labels, (labels + 1) % 1000)
    return labels, np.stack([top1, *[(top1 + k) % 1000 for k in range(2, 6)]], axis=1)


def write_ood_store(path: Path, accuracy: dict[str, tuple[float, float]], shift: str) -> Path:
    """A store of suite-ood cells: per model its `clean` and `shift` cells with the given accuracies."""
    with ResultStore(path) as results:
        for model, accuracies in accuracy.items():
            for cell, acc in zip(("clean", shift), accuracies):
                labels, predictions = cell_arrays(acc)
                results.put_cell(CellResult(model, model.encode().hex().ljust(64, "0"), "ood", shift, cell, 0,
                                            labels, predictions, 1 - acc, 0.0,
                                            {"num_classes": 1000, "ood_set": shift}, 1.0, {}))
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return write_ood_store(tmp_path_factory.mktemp("er") / "ood.db", ACCURACY, "imagenet-r")


def test_table_against_a_hand_made_fit(store):
    table = effective_robustness_table(store, n_boot=200)
    slope, intercept = np.polyfit([hand_logit(i) for i, _ in ACCURACY.values()],
                                  [hand_logit(o) for _, o in ACCURACY.values()], 1)
    for model, (id_acc, ood_acc) in ACCURACY.items():
        row = table.loc[model]
        assert row["ER"] == pytest.approx(100 * hand_er(id_acc, ood_acc, slope, intercept))
        assert (row["id acc."], row["ood acc."]) == pytest.approx((100 * id_acc, 100 * ood_acc))
        assert row["ER_lo"] < row["ER"] < row["ER_hi"]
    assert table.attrs["lines"]["imagenet-r"] == pytest.approx((slope, intercept))
    assert set(table["fit"]) == {"models"} and set(table["shift"]) == {"imagenet-r"}


def test_a_given_fit_is_used_as_it_is(store):
    table = effective_robustness_table(store, fits={"imagenet-r": (1.0, -0.5)}, n_boot=100)
    for model, (id_acc, ood_acc) in ACCURACY.items():
        assert table.loc[model, "ER"] == pytest.approx(100 * hand_er(id_acc, ood_acc, 1.0, -0.5))
    assert set(table["fit"]) == {"given"}


def test_figure_shows_every_model_and_the_line(store):
    figure = effective_robustness_figure(effective_robustness_table(store, n_boot=0))
    (ax,) = figure.axes
    points = [line for line in ax.lines if line.get_linestyle() == "None"]
    assert len(points) == len(ACCURACY)
    assert points[0].get_xdata()[0] == pytest.approx(hand_logit(0.60))
    assert any(line.get_label().startswith("fit") for line in ax.lines)


def test_compare_pairs_ood_cells(store):
    frame = load(str(store), predictions=True)
    a, b = (frame[frame["model"] == m].reset_index(drop=True) for m in ("m-a", "m-c"))
    result = paired_comparison(a, b, ("m-a", "m-c"), n_boot=200)
    metrics = result.metrics
    assert metrics.loc["ood_err/imagenet-r", "delta"] == pytest.approx(100 * (0.40 - 0.65))
    assert metrics.loc["id_err/imagenet-r", "delta"] == pytest.approx(100 * (0.60 - 0.80))
    assert set(metrics["test"]) == {MCNEMAR}
