"""Two models, or two runs of one model, compared image by image (`report.paired`).

For every metric both sides measured: A, B, delta = B - A in points with its paired percentile-bootstrap CI,
the two-sided p-value (McNemar's exact test for clean_err, one cell's error; else the bootstrap's) Holm-adjusted
over the reported metrics, and a verdict for B against A
("better" / "worse" by the metric's direction, or "no significant difference" when p_holm >= alpha). Per
cell with one top-1 per image: the exact McNemar test on the discordant images and Cohen's kappa (error
consistency). The two sides must be paired: the same cells, images, order and settings (`--allow-mixed`
accepts different settings such as precision, never different images), and whole (`summary.check_complete`).
"""

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from robustbench_lift.errors import UsageError
from robustbench_lift.report.paired import PairedComparison, paired_comparison
from robustbench_lift.report.summary import ResultsLike, check_complete, closest, load

ALPHA = 0.05
"""Default significance level of the verdicts, `check --require-significant` and the report's marks."""


def _only_model(frame: pd.DataFrame, model: str | None, origin: str) -> str:
    """The label of `model`, or of the store's only model."""
    labels = list(dict.fromkeys(frame["label"]))
    if model is not None:
        return closest(model, labels, f"model of {origin}")
    if len(labels) > 1:
        raise UsageError(f"{origin} holds {len(labels)} models ({', '.join(labels)}); choose one with --model")
    return labels[0]


def sides(a: str, b: str, results: ResultsLike | None = None, model: str | None = None,
          datasets: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, str]]:
    """The cells (with predictions) of A and of B and their display names.

    With `results`: `a` and `b` are two model labels in those stores. Without: `a` and `b` are two results stores
    (two runs), compared on `model` (or their only model).
    """
    if results is not None:
        frame = load(results, predictions=True, datasets=datasets)
        labels = list(dict.fromkeys(frame["label"]))
        names = tuple(closest(x, labels, "model") for x in (a, b))
        if names[0] == names[1]:
            raise UsageError(f"compare needs two different models, got {names[0]!r} twice")
        return frame[frame["label"] == names[0]], frame[frame["label"] == names[1]], names
    frames = [load(x, predictions=True, datasets=datasets) for x in (a, b)]
    labels = [_only_model(f, model, str(x)) for f, x in zip(frames, (a, b))]
    names = tuple(f"{side}: {label} ({Path(x).name})" for side, label, x in zip("AB", labels, (a, b)))
    return frames[0][frames[0]["label"] == labels[0]], frames[1][frames[1]["label"] == labels[1]], names


def compare(a: str, b: str, results: ResultsLike | None = None, model: str | None = None, n_boot: int = 1000,
            seed: int = 0, level: float = 0.95, datasets: Sequence[str] | None = None,
            allow_mixed: bool = False) -> PairedComparison:
    """Paired comparison of B against A (see `sides` for what `a`, `b`, `results` and `model` name)."""
    cells_a, cells_b, names = sides(a, b, results, model, datasets)
    for cells, name in zip((cells_a, cells_b), names):
        check_complete(cells, name)
    comparison = paired_comparison(cells_a.reset_index(drop=True), cells_b.reset_index(drop=True), names,
                                   n_boot=n_boot, seed=seed, level=level, allow_mixed=allow_mixed)
    if comparison.metrics.empty and comparison.cells.empty:
        raise UsageError(f"{names[0]} and {names[1]} have no metric that can be compared image by image")
    return comparison


def _p(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"


def metric_table(comparison: PairedComparison, alpha: float = ALPHA) -> pd.DataFrame:
    """Display table, one row per metric: A, B, delta with `delta_lo`/`delta_hi`, p (Holm) text, verdict."""
    names, table = comparison.names, comparison.metrics
    out = pd.DataFrame({names[0]: table["a"], names[1]: table["b"], "delta": table["delta"],
                        "delta_lo": table["ci_lo"], "delta_hi": table["ci_hi"],
                        "p (Holm)": table["p_holm"].map(_p), "verdict": comparison.verdicts(alpha)},
                       index=table.index)
    out.index.name = "metric"
    out.attrs["title"] = (f"{names[1]} vs {names[0]} (points; delta = B - A with its paired "
                          f"{comparison.level:.0%} bootstrap CI; verdict for B at Holm-adjusted p < {alpha:g}; p: "
                          "McNemar's exact test for clean err., else the paired bootstrap)")
    return out


def cell_table(comparison: PairedComparison) -> pd.DataFrame:
    """Display table, one row per cell: images, both models' errors, discordant counts, McNemar p, kappa."""
    cells = comparison.cells
    index = cells[["suite", "dataset", "corruption", "severity"]].astype(str).agg("/".join, axis=1)
    out = cells[["n", "a_err", "b_err", "a_only_wrong", "b_only_wrong"]].astype(str).set_axis(index)
    out["McNemar p"] = cells["p"].map(_p).to_numpy()
    out["kappa"] = cells["kappa"].map(lambda k: "–" if pd.isna(k) else f"{k:.2f}").to_numpy()
    out.index.name = "cell"
    out.attrs["title"] = (f"Per cell: a_only_wrong = images {comparison.names[0]} gets wrong and "
                          f"{comparison.names[1]} right; exact McNemar p; kappa = error consistency "
                          f"(all cells: {comparison.kappa:.3f})")
    return out
