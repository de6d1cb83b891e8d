"""Report of seg cells: the per-corruption and per-severity mIoU tables recomputed from the store's per-cell mIoUs,
their figures, and the HTML page with the seg summary (mIoU, consistency) and both sections."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from test_suite_seg import CELLS, CLASSES, PixelNet, build_tree

from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.report.build import build_report
from robustbench_lift.report.figures_segmentation import (
    miou_vs_severity,
    robustness_vs_consistency,
    seg_cd_table,
    seg_severity_table,
)
from robustbench_lift.store import load_results
from robustbench_lift.suites.options import SegmentationOptions


def test_build_report_writes_seg_tables_and_figures(tmp_path: Path) -> None:
    build_tree(tmp_path / "set")
    store = tmp_path / "r.db"
    for seed, name in ((0, "net-a"), (1, "net-b")):
        evaluate(PixelNet(seed=seed), SegmentationOptions(**CELLS), tmp_path / "set",
                 run=RunOptions(out=store, progress=False), options=ModelOptions(num_classes=CLASSES, name=name))
    written = build_report(store, tmp_path / "report", formats=("csv", "html"), grid=False, n_boot=20)
    names = {p.name for p in written}
    assert {"seg_corruption.csv", "seg_severity.csv", "miou_vs_severity.svg", "miou_per_corruption.png",
            "seg_robustness_vs_consistency.png"} <= names

    frame = load_results(store)
    miou = {(m, c, int(s)): v for m, c, s, v in zip(frame["model"], frame["corruption"], frame["severity"],
                                                   frame["miou"])}
    corruption = pd.read_csv(tmp_path / "report" / "tables" / "seg_corruption.csv", index_col=0)
    severity = pd.read_csv(tmp_path / "report" / "tables" / "seg_severity.csv", index_col=0)
    for model in ("net-a", "net-b"):
        column = next(c for c in corruption.columns if model in c)
        means = [100 * np.mean([miou[model, name, s] for s in (1, 3)]) for name in CELLS["corruptions"]]
        np.testing.assert_allclose(corruption.loc[CELLS["corruptions"], column].to_numpy(), means, atol=0.01)
        expected = [100 * miou[model, "clean", 0]] + [
            100 * np.mean([miou[model, c, s] for c in CELLS["corruptions"]]) for s in (1, 3)]
        np.testing.assert_allclose(severity[column].to_numpy(), expected, atol=0.01)
    assert sorted(corruption.index) == sorted(CELLS["corruptions"]) and list(severity.index) == [0, 1, 3]

    html = (tmp_path / "report" / "report.html").read_text()
    assert "Segmentation: mIoU by severity" in html and "Segmentation: mIoU per corruption" in html
    assert "seg consistency" in html and "clean mIoU" in html
    # the seg metrics have their own summary table; no classification summary of dashes for seg-only models
    assert "summary.csv" not in names and "Segmentation summary" in html
    seg_summary = pd.read_csv(tmp_path / "report" / "tables" / "seg_summary.csv", index_col=0)
    assert list(seg_summary.index) == ["net-a", "net-b"] and "clean_mIoU" in seg_summary
    for model in ("net-a", "net-b"):
        assert seg_summary.loc[model, "clean_mIoU"] == pytest.approx(100 * miou[model, "clean", 0], abs=1e-4)


def test_miou_vs_severity_draws_one_line_per_model() -> None:
    results = pd.DataFrame({"suite": "seg", "label": ["a", "a", "a", "b", "b", "b", "a"],
                            "corruption": ["clean", "fog", "snow", "clean", "fog", "snow", "shift"],
                            "severity": [0, 2, 2, 0, 2, 2, 0], "miou": [0.8, 0.5, 0.3, 0.7, 0.6, 0.4, np.nan]})
    table = seg_severity_table(results)
    lines = miou_vs_severity(table).axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["a", "b"]
    np.testing.assert_allclose(lines[0].get_ydata(), [80, 40])
    np.testing.assert_allclose(lines[1].get_xdata(), [0, 2])
    np.testing.assert_allclose(lines[1].get_ydata(), [70, 50])


def test_robustness_vs_consistency_places_each_model_with_its_intervals() -> None:
    summary = pd.DataFrame({"mean_mIoU": [30.0, 36.0, 50.0], "mean_mIoU_lo": [28.0, 33.0, np.nan],
                            "mean_mIoU_hi": [31.0, 39.0, np.nan], "seg_consistency": [95.0, 96.5, np.nan],
                            "seg_consistency_lo": [94.0, 96.0, np.nan], "seg_consistency_hi": [96.0, 97.5, np.nan]},
                           index=["max", "lift", "classifier"])
    ax = robustness_vs_consistency(summary).axes[0]
    points = [(c.get_label(), c.get_offsets()[0].tolist()) for c in ax.collections if c.get_label() in summary.index]
    assert points == [("max", [95.0, 30.0]), ("lift", [96.5, 36.0])]  # no seg consistency: no point
    segments = [seg.tolist() for c in ax.collections if c.get_label() not in summary.index for seg in c.get_segments()]
    assert [[95.0, 28.0], [95.0, 31.0]] in segments and [[96.0, 36.0], [97.5, 36.0]] in segments


def test_seg_cd_table_normalises_each_corruption_by_the_baseline_models_degradation() -> None:
    results = pd.DataFrame({"suite": "seg", "label": ["a"] * 5 + ["b"] * 2,
                            "corruption": ["clean", "fog", "fog", "snow", "snow", "fog", "snow"],
                            "severity": [0, 1, 3, 1, 3, 1, 1], "miou": [0.9, 0.6, 0.4, 0.5, 0.5, 0.7, 0.7],
                            "base_miou": [np.nan, 0.5, 0.3, 0.75, 0.25, np.nan, 0.6],
                            "seg_baseline": [None, "m", "m", "m", "m", None, "m"]})
    table = seg_cd_table(results)  # b lacks the baseline of one cell: no CD for b
    assert list(table.columns) == ["a"] and list(table.index) == ["snow", "fog"]  # the registry's order
    np.testing.assert_allclose(table["a"].to_numpy(), [100 * 1.0 / 1.0, 100 * (0.4 + 0.6) / (0.5 + 0.7)])
    assert "m = 100" in table.attrs["title"]
