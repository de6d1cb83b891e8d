"""Report tables against values computed by hand from the stored error counts and the published AlexNet errors,
and from the p and shift predictions of the real suites (flip probability, top-5 distance, crop-pair agreement)."""

import numpy as np
import pandas as pd
import pytest
from report_fixtures import (
    ALEXNET,
    N_IMAGES,
    P_BASELINE,
    P_BASELINE_NAME,
    WRONG,
    all_by_hand,
    by_hand,
    p_by_hand,
    p_cell_by_hand,
    put_fake_suite,
    shift_by_hand,
    write_store,
)

from robustbench_lift.errors import UsageError
from robustbench_lift.report.aggregate import SUMMARIZERS
from robustbench_lift.report.summary import METRICS, summary_table
from robustbench_lift.report.tables import (
    SUMMARIES,
    best_mask,
    corruption_table,
    delta_table,
    perturbation_table,
    render,
    report_tables,
    severity_table,
    shift_table,
    task_summary,
    write_tables,
)
from robustbench_lift.store import ResultStore


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return write_store(tmp_path_factory.mktemp("tables") / "results.db")


P_SHIFT_METRICS = ("mFP", "mFR", "mT5D", "consistency", "shift_acc")


def test_summary_equals_hand_computed_values_with_cis_around_them(store):
    table = summary_table(store, n_boot=300)
    assert list(table.index) == sorted(WRONG)
    for model in WRONG:
        for metric, value in all_by_hand(model).items():
            assert table.loc[model, metric] == pytest.approx(value, abs=1e-9), (model, metric)
            assert table.loc[model, f"{metric}_lo"] <= value <= table.loc[model, f"{metric}_hi"], (model, metric)
        for metric in by_hand(model):
            assert table.loc[model, f"{metric}_hi"] - table.loc[model, f"{metric}_lo"] > 1  # 20 images: wide
        for metric in P_SHIFT_METRICS:  # 8 sequences / images resampled: an interval, not a point
            assert table.loc[model, f"{metric}_hi"] > table.loc[model, f"{metric}_lo"], (model, metric)
    assert table.attrs["skipped_suites"] == []
    assert table.attrs["p_baseline"] == P_BASELINE_NAME and table.attrs["shift_mode"] == "crop"


def test_p_without_baseline_reports_raw_flip_probability_only(tmp_path):
    table = summary_table(write_store(tmp_path / "r.db", p_baseline=False), ci=False)
    assert "mFR" not in table and "mT5D" not in table and table.attrs["p_baseline"] == "none"
    for model in WRONG:
        assert table.loc[model, "mFP"] == pytest.approx(p_by_hand(model)["mFP"])


def test_suite_without_summariser_is_skipped_until_one_is_registered(tmp_path):
    path = write_store(tmp_path / "r.db", p=False, shift=False)
    put_fake_suite(path)
    table = summary_table(path, n_boot=50)
    assert table.attrs["skipped_suites"] == ["fake"] and "consistency" not in table
    for model in WRONG:  # the fake cells (all wrong) change nothing
        for metric, value in by_hand(model).items():
            assert table.loc[model, metric] == pytest.approx(value)
    assert severity_table(path).loc["resnet-max", "1"] == pytest.approx(
        100 * np.mean([counts[0] for counts in WRONG["resnet-max"][1].values()]) / N_IMAGES)
    assert corruption_table(path).loc["gaussian_noise", "resnet-max"] == pytest.approx(
        100 * sum(w / N_IMAGES for w in WRONG["resnet-max"][1]["gaussian_noise"]) / sum(ALEXNET["gaussian_noise"]))

    def fake(cells, n_boot, seed, level):
        return {"consistency": 0.9, "consistency_lo": 0.85, "consistency_hi": 0.95}
    SUMMARIZERS.register("fake", fake)
    try:
        table = summary_table(path, n_boot=50)
    finally:
        SUMMARIZERS.unregister("fake")
    assert table["consistency"].tolist() == pytest.approx([90.0, 90.0]) and table.attrs["skipped_suites"] == []


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
    assert sorted(p.index) == ["gaussian_noise", "rotate", "translate"]  # difficulty 1 only
    for model in WRONG:
        for (name, difficulty), (fp, ut5d) in p_cell_by_hand(model).items():
            if difficulty != 1:
                continue
            base_fp, base_ut5d = P_BASELINE[(name, 1)]
            assert p.loc[name, f"{model} FP"] == pytest.approx(100 * fp)
            assert p.loc[name, f"{model} uT5D"] == pytest.approx(ut5d)
            assert p.loc[name, f"{model} FR"] == pytest.approx(100 * fp / base_fp)
            assert p.loc[name, f"{model} T5D"] == pytest.approx(100 * ut5d / base_ut5d)
    shift = shift_table(store)
    assert list(shift.index) == [0, 1, 2, 3, 4]  # demo images: max shift 32 // 8
    for model in WRONG:
        assert shift[model].tolist() == pytest.approx(shift_by_hand(model)[1])
    assert "crop shifts" in shift.attrs["title"]


def test_report_tables_leave_out_suites_without_rows(tmp_path):
    tables = report_tables(write_store(tmp_path / "c.db", p=False, shift=False), n_boot=20)
    assert set(tables) == {"summary", "corruption", "severity"}
    with_all = report_tables(write_store(tmp_path / "all.db"), baseline="resnet-max", n_boot=20)
    assert set(with_all) == {"summary", "deltas", "corruption_deltas", "corruption", "severity", "perturbation",
                             "shift"}


def test_deltas_and_best_marks(store):
    summary = summary_table(store, ci=False)
    deltas = delta_table(summary, "resnet-max")
    assert (deltas.loc["resnet-max"] == 0).all()
    assert list(deltas.columns) == ["clean_err", "mCE", "rel_mCE", "mean_err", *P_SHIFT_METRICS]
    for metric, value in all_by_hand("resnet-lift").items():
        assert deltas.loc["resnet-lift", metric] == pytest.approx(value - all_by_hand("resnet-max")[metric])
    with pytest.raises(UsageError, match="did you mean resnet-max"):
        delta_table(summary, "resnet-mx")
    frame = pd.DataFrame({"mCE": [70.0, 60.0, 60.0], "consistency": [80.0, 90.0, np.nan]}, index=list("abc"))
    mask = best_mask(frame, "column", [False, True])
    assert mask["mCE"].tolist() == [False, True, True] and mask["consistency"].tolist() == [False, True, False]


def hand_best(metric: str) -> set[str]:
    """Models with the best hand-computed value of `metric` (highest consistency and shift accuracy, else
    lowest)."""
    values = {model: round(all_by_hand(model)[metric], 9) for model in WRONG}
    best = (max if metric in ("consistency", "shift_acc") else min)(values.values())
    return {model for model, value in values.items() if value == best}


def test_renderings_mark_best_and_escape(store, tmp_path):
    summary = summary_table(store, n_boot=50)
    metric_cols = ["clean_err", "mCE", "rel_mCE", "mean_err", *P_SHIFT_METRICS]
    best = best_mask(summary[metric_cols], "column", [m in ("consistency", "shift_acc") for m in metric_cols])
    bold = {model: sum(model in hand_best(m) for m in metric_cols) for model in WRONG}
    md = render(summary, "md", best)
    header = md.splitlines()[0]
    assert all(label in header for label in ("mFP", "mFR", "mT5D", "consistency"))
    for model in WRONG:
        row = next(line for line in md.splitlines() if line.startswith(f"| {model} "))
        assert row.count("**") == 2 * bold[model], model
    lift_row = next(line for line in md.splitlines() if line.startswith("| resnet-lift"))
    assert f"{by_hand('resnet-lift')['mCE']:.1f} [" in lift_row
    assert f"{all_by_hand('resnet-lift')['consistency']:.1f} [" in lift_row
    odd_name = {"resnet-lift": "res_net&lift"}
    tex = render(summary.rename(index=odd_name), "tex", best.rename(index=odd_name))
    assert tex.startswith(r"\begin{tabular}{l" + "r" * len(metric_cols) + "}")
    assert r"\toprule" in tex and r"\bottomrule" in tex
    assert r"res\_net\&lift" in tex and tex.count(r"\textbf{") == sum(bold.values())
    tex_header = tex.splitlines()[2]
    assert tex_header.split(" & ")[5:] == ["mFP", "mFR", "mT5D", "consistency", r"shift acc. \\"]
    html = render(summary, "html", best)
    assert html.count("<strong>") == sum(bold.values()) and html.count("<tr>") == 3
    csv = pd.read_csv(pd.io.common.StringIO(render(summary, "csv")), index_col=0)
    for metric in ("mCE", *P_SHIFT_METRICS):
        assert csv.loc["resnet-max", metric] == pytest.approx(all_by_hand("resnet-max")[metric], abs=1e-4)
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
    ResultStore(empty).close()
    with pytest.raises(UsageError, match="no results"):
        summary_table(empty)


def test_classification_and_segmentation_summaries_are_separate_tables():
    nan = float("nan")
    summary = pd.DataFrame({"clean_err": [20.0, nan], "clean_err_lo": [18.0, nan], "clean_err_hi": [22.0, nan],
                            "mean_err": [30.0, nan], "clean_mIoU": [nan, 61.5], "mCD": [nan, 90.0]},
                           index=pd.Index(["net", "seg-net"], name="model"))
    classification, segmentation = task_summary(summary, "classification"), task_summary(summary, "segmentation")
    assert list(classification.index) == ["net"] and list(segmentation.index) == ["seg-net"]
    assert list(classification.columns) == ["clean_err", "clean_err_lo", "clean_err_hi", "mean_err"]
    assert list(segmentation.columns) == ["clean_mIoU", "mCD"]
    assert segmentation.loc["seg-net"].tolist() == [61.5, 90.0]
    assert {SUMMARIES[name][0] for name in SUMMARIES} == {m.task for m in METRICS.values()}
