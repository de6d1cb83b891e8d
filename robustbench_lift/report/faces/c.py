"""Suite "c" (ImageNet-C style corruptions, with its clean cell): error metrics, CE per corruption, error by
severity, the paired per-corruption deltas (`report.deltas`) and their figures."""

from typing import Any

from corruptions.names import BENCHMARK_LABELS, BENCHMARKS
from robustbench_lift.metrics.corruption import BENCHMARK_MEAN_ERRORS
from robustbench_lift.report.face import Face, Figure, Metric, Section, Table

CLEAN_ERR = Metric("clean err.", False, "top-1 error on clean images (%)")


def _mce_vs_clean(frame: Any, tables: dict) -> Any:
    from robustbench_lift.report import figures

    summary = tables["summary"][0]
    if "clean_err" in summary and set(figures.CORRUPTION_AGGREGATES) & set(summary):
        return figures.mce_vs_clean(summary)
    return None


def _ce_per_corruption(frame: Any, tables: dict) -> Any:
    from robustbench_lift.report import figures

    return figures.ce_per_corruption(tables["corruption"][0]) if "corruption" in tables else None


def _error_vs_severity(frame: Any, tables: dict) -> Any:
    from robustbench_lift.report import figures

    return figures.error_vs_severity(frame) if "corruption" in tables else None


def _filtered_accuracy(frame: Any, tables: dict) -> Any:
    from robustbench_lift.report.figures_filtered import filtered_accuracy

    return filtered_accuracy(frame)


def _forest(frame: Any, tables: dict) -> Any:
    from robustbench_lift.report import figures

    return figures.forest_plot(tables["corruption_deltas"][0]) if "corruption_deltas" in tables else None


FACE = Face(
    suite="c", priority=0,
    metrics={
        "clean_err": CLEAN_ERR,
        "mCE": Metric("mCE", False, "mean corruption error, AlexNet = 100 (%)"),
        "rel_mCE": Metric("rel. mCE", False, "relative mCE: error increase over clean, AlexNet = 100 (%)"),
        "mean_err": Metric("mean corr. err.", False, "unnormalised top-1 error over the corrupted cells, other "
                           "benchmarks' apart (%)"),
        **{key: Metric(f"{BENCHMARK_LABELS[benchmark]} mean err.", False, "unnormalised top-1 error over "
                       f"{BENCHMARKS[benchmark]}'s corrupted cells; no AlexNet normaliser, so no mCE (%)")
           for benchmark, key in BENCHMARK_MEAN_ERRORS.items()},
    },
    summarize="robustbench_lift.report.aggregate:error_summary",
    units="robustbench_lift.report.paired:error_units",
    tables=(Table("corruption", "robustbench_lift.report.tables:corruption_table", higher_is_better=False),
            Table("severity", "robustbench_lift.report.tables:severity_table")),
    figures=(Figure("mce_vs_clean", _mce_vs_clean), Figure("ce_per_corruption", _ce_per_corruption),
             Figure("error_vs_severity", _error_vs_severity), Figure("forest", _forest),
             Figure("filtered_accuracy", _filtered_accuracy)),
    sections=(
        Section("Paired difference per corruption", "corruption_deltas", "forest", "Each model's corruption error "
                "minus the baseline's on the same images, with its paired 95% CI; bold: Holm-adjusted p < 0.05 over "
                "the corruptions."),
        Section("Corruption error vs clean error", None, "mce_vs_clean", "One point per model; bars are 95% CIs."),
        Section("Per-corruption error", "corruption", "ce_per_corruption", "Best model per corruption in bold."),
        Section("Error by severity", "severity", "error_vs_severity", "Top-1 error averaged over the corruptions of "
                "each severity (each family in the figure); severity 0 is the clean set."),
        Section("Frequency-filtered accuracy", None, "filtered_accuracy", "Subset freq (model-vs-human's "
                "manipulations): top-1 accuracy at each level of each manipulation, with 95% Wilson intervals over "
                "the cell's images."),
    ),
)
