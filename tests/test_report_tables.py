"""Report tables against values computed by hand from the stored error counts and the published AlexNet errors."""

import numpy as np
import pandas as pd
import pytest
from report_fixtures import AGREEMENT, ALEXNET, N_IMAGES, P_VALUES, WRONG, by_hand, write_store

from robustbench_lift import summary as engine_summary
from robustbench_lift.errors import UsageError
from robustbench_lift.report.summary import summary_table
from robustbench_lift.report.tables import (best_mask, corruption_table, delta_table, perturbation_table, render,
                                            report_tables, severity_table, shift_table, write_tables)


@pytest.fixture
def store(tmp_path):
    return write_store(tmp_path / "results.db")


def test_summary_equals_hand_computed_values_with_cis_around_them(store):
    table = summary_table(store, n_boot=300)
    assert list(table.index) == sorted(WRONG)
    for model in WRONG:
        for metric, value in by_hand(model).items():
            assert table.loc[model, metric] == pytest.approx(value, abs=1e-9), (model, metric)
            assert table.loc[model, f"{metric}_lo"] <= value <= table.loc[model, f"{metric}_hi"]
            assert table.loc[model, f"{metric}_hi"] - table.loc[model, f"{metric}_lo"] > 1  # 20 images: wide
    # p and shift rows have no summariser yet: their metrics are absent, not zero.
    assert not {"mFR", "mT5D", "mFP", "consistency"} & set(table.columns)
    assert table.attrs["skipped_suites"] == ["p", "shift"]


def test_suite_metrics_appear_once_a_summariser_is_registered(store, monkeypatch):
    def fake_shift(cells, n_boot, seed, level):
        return {"consistency": 0.9, "consistency_lo": 0.85, "consistency_hi": 0.95}
    monkeypatch.setitem(engine_summary.SUMMARIZERS, "shift", fake_shift)
    table = summary_table(store, n_boot=50)
    assert table["consistency"].tolist() == pytest.approx([90.0, 90.0])
    assert table.attrs["skipped_suites"] == ["p"]


def test_corruption_table_is_ce_for_imagenet_and_mean_error_otherwise(store, tmp_path):
    table = corruption_table(store)
    assert list(table.index) == list(ALEXNET)  # ImageNet-C order
    for model, (_, cells) in WRONG.items():
        for corruption, counts in cells.items():
            expected = 100 * sum(w / N_IMAGES for w in counts) / sum(ALEXNET[corruption])
            assert table.loc[corruption, model] == pytest.approx(expected)
    cifar = corruption_table(write_store(tmp_path / "cifar.db", num_classes=10, dataset="cifar10-c"))
    assert cifar.attrs["quantity"].startswith("mean top-1 error")
    assert cifar.loc["snow", "resnet-max"] == pytest.approx(100 * np.mean([9, 12, 11, 14, 17]) / N_IMAGES)


def test_severity_table_averages_over_corruptions(store):
    table = severity_table(store)
    assert list(table.columns) == ["clean", "1", "2", "3", "4", "5"]
    clean, cells = WRONG["resnet-lift"]
    assert table.loc["resnet-lift", "clean"] == pytest.approx(100 * clean / N_IMAGES)
    for s in range(5):
        expected = 100 * np.mean([counts[s] for counts in cells.values()]) / N_IMAGES
        assert table.loc["resnet-lift", str(s + 1)] == pytest.approx(expected)


def test_perturbation_and_shift_tables_from_their_rows(store):
    p = perturbation_table(store)
    assert p.loc["rotate", "resnet-max FP"] == pytest.approx(100 * P_VALUES["resnet-max"]["rotate"][0])
    assert p.loc["translate", "resnet-lift uT5D"] == pytest.approx(P_VALUES["resnet-lift"]["translate"][1])
    shift = shift_table(store)
    assert list(shift.index) == [0, 1, 2, 3]
    assert shift["resnet-lift"].tolist() == pytest.approx([100 * a for a in AGREEMENT["resnet-lift"]])


def test_report_tables_leave_out_suites_without_rows(tmp_path):
    tables = report_tables(write_store(tmp_path / "c.db", p=False, shift=False), n_boot=20)
    assert set(tables) == {"summary", "corruption", "severity"}
    with_all = report_tables(write_store(tmp_path / "all.db"), baseline="resnet-max", n_boot=20)
    assert set(with_all) == {"summary", "deltas", "corruption", "severity", "perturbation", "shift"}


def test_deltas_and_best_marks(store):
    summary = summary_table(store, ci=False)
    deltas = delta_table(summary, "resnet-max")
    assert (deltas.loc["resnet-max"] == 0).all()
    for metric, value in by_hand("resnet-lift").items():
        assert deltas.loc["resnet-lift", metric] == pytest.approx(value - by_hand("resnet-max")[metric])
    with pytest.raises(UsageError, match="did you mean resnet-max"):
        delta_table(summary, "resnet-mx")
    frame = pd.DataFrame({"mCE": [70.0, 60.0, 60.0], "consistency": [80.0, 90.0, np.nan]}, index=list("abc"))
    mask = best_mask(frame, "column", [False, True])
    assert mask["mCE"].tolist() == [False, True, True] and mask["consistency"].tolist() == [False, True, False]


def test_renderings_mark_best_and_escape(store, tmp_path):
    summary = summary_table(store, n_boot=50)
    metric_cols = ["clean_err", "mCE", "rel_mCE", "mean_err"]
    best = best_mask(summary[metric_cols], "column")
    md = render(summary, "md", best)
    lift_row = next(line for line in md.splitlines() if line.startswith("| resnet-lift"))
    assert lift_row.count("**") == 2 * len(metric_cols)  # resnet-lift is best everywhere
    assert f"{by_hand('resnet-lift')['mCE']:.1f} [" in lift_row
    odd_name = {"resnet-lift": "res_net&lift"}
    tex = render(summary.rename(index=odd_name), "tex", best.rename(index=odd_name))
    assert tex.startswith(r"\begin{tabular}{lrrrr}") and r"\toprule" in tex and r"\bottomrule" in tex
    assert r"res\_net\&lift" in tex and r"\textbf{" in tex
    html = render(summary, "html", best)
    assert html.count("<strong>") == len(metric_cols) and html.count("<tr>") == 3
    csv = pd.read_csv(pd.io.common.StringIO(render(summary, "csv")), index_col=0)
    assert csv.loc["resnet-max", "mCE"] == pytest.approx(by_hand("resnet-max")["mCE"], abs=1e-4)
    written = write_tables({"summary": (summary, best)}, tmp_path / "t", ["md", "csv", "tex"])
    assert sorted(p.name for p in written) == ["summary.csv", "summary.md", "summary.tex"]
    with pytest.raises(UsageError, match="format"):
        write_tables({"summary": (summary, best)}, tmp_path / "t", ["markdown"])


def test_stores_are_merged_and_conflicts_refused(tmp_path):
    a = write_store(tmp_path / "a.db", models=("resnet-max",))
    b = write_store(tmp_path / "b.db", models=("resnet-lift",))
    assert list(summary_table([a, b], ci=False).index) == ["resnet-max", "resnet-lift"]  # order of the stores
    worse = write_store(tmp_path / "worse.db", models=("resnet-max",), scale=1.2)
    with pytest.raises(UsageError, match="different results"):
        summary_table([a, worse], ci=False)
    empty = tmp_path / "empty.db"
    from robustbench_lift.store import ResultStore
    ResultStore(empty).close()
    with pytest.raises(UsageError, match="no results"):
        summary_table(empty)
