"""Frequency-filtered accuracy curves (issue 26 item 5): accuracy per level of each model-vs-human manipulation,
with 95% Wilson intervals that equal scipy's, in the report when the store holds subset freq cells."""

import numpy as np
import pytest
from report_fixtures import N_IMAGES, put

from robustbench_lift.report import build_report
from robustbench_lift.report.figures_filtered import filtered_accuracy, wilson_interval
from robustbench_lift.report.summary import load
from robustbench_lift.store import ResultStore

WRONG = {"net-a": {1: 2, 2: 5, 3: 11, 4: 16}, "net-b": {1: 1, 2: 2, 3: 6, 4: 12}}
"""Wrong counts (of N_IMAGES) of low_pass at levels 1..4 per model."""


def test_wilson_interval_equals_scipys():
    from scipy.stats import binomtest

    for correct, n in ((0, 20), (7, 20), (20, 20), (131, 160)):
        low, high = wilson_interval(np.array([correct]), np.array([n]))
        expected = binomtest(correct, n).proportion_ci(method="wilson")
        assert low[0] == pytest.approx(expected.low, abs=1e-12) and high[0] == pytest.approx(expected.high, abs=1e-12)


@pytest.fixture()
def store(tmp_path):
    path = tmp_path / "freq.db"
    with ResultStore(path) as results:
        for model, levels in WRONG.items():
            put(results, model, "c", "imagenet-otf", "clean", 0, 1)
            for level, wrong in levels.items():
                put(results, model, "c", "imagenet-otf", "low_pass", level, wrong)
    return path


def test_curves_show_each_models_accuracy_with_its_interval(store):
    figure = filtered_accuracy(load(store))
    (axes,) = figure.axes
    assert axes.get_title() == "low_pass" and [t.get_text() for t in axes.get_xticklabels()][:4] == ["0", "1", "3", "5"]
    for line, levels in zip(axes.lines[::3], WRONG.values()):  # each errorbar: its data line and 2 cap lines
        accuracy = [100 * (1 - w / N_IMAGES) for w in levels.values()]
        np.testing.assert_allclose(line.get_ydata(), accuracy)
    assert filtered_accuracy(load(store).query("corruption != 'low_pass'")) is None


def test_the_report_has_the_section(store, tmp_path):
    build_report(store, tmp_path / "report", grid=False, n_boot=0)
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Frequency-filtered accuracy" in html
    assert (tmp_path / "report" / "figures" / "filtered_accuracy.png").exists()
