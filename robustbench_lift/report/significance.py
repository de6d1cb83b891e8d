"""What a results-store baseline adds to `report.check`: pairing with the run and paired p-values.

A baseline JSON holds reviewed point values only; the baseline run's results store also holds every image's
predictions, so `check` can pair each model's cells in the run with the same cells of the baseline (the same
images, order and settings, `metrics.paired.check_pairing`) and, with `Significance`, test every delta with the
paired bootstrap of `report.paired` and Holm's adjustment over all compared (model, metric).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from robustbench_lift.metrics.paired import check_pairing, holm
from robustbench_lift.report.paired import cell_data, paired_comparison
from robustbench_lift.report.summary import ResultsLike, load


@dataclass(frozen=True)
class Significance:
    """`check --require-significant`: a regression counts only when its paired bootstrap p-value (`n_boot`
    resamples seeded by `seed`), Holm-adjusted over every compared (model, metric), is below `alpha`."""

    alpha: float = 0.05
    n_boot: int = 1000
    seed: int = 0


SQLITE_MAGIC = b"SQLite format 3\x00"
"""First 16 bytes of every SQLite database file (sqlite.org/fileformat.html, section 1.3)."""


def is_store(path: str | Path) -> bool:
    """Whether `path` is an SQLite file (a results store) rather than a baseline JSON."""
    path = Path(path)
    if not path.is_file():
        return False
    with path.open("rb") as file:
        return file.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


def baseline_p_values(baseline: str | Path, results: ResultsLike, models: Sequence[str],
                      significance: Significance | None = None,
                      allow_mixed: bool = False) -> dict[tuple[str, str], float | None]:
    """Pair each of `models` in the run `results` with its cells in the `baseline` store (`UsageError` when they
    do not pair; `allow_mixed` accepts other settings). With `significance`: `{(model, metric): p_holm}` over
    every metric measured on both sides (None where the bootstrap gave no p), else `{}` (pairing checked only).
    """
    base, run = load(baseline, predictions=True), load(results, predictions=True)
    raw: dict[tuple[str, str], float] = {}
    for model in models:
        a = base[base["label"] == model].reset_index(drop=True)
        b = run[run["label"] == model].reset_index(drop=True)
        names = (f"baseline {model} ({Path(baseline).name})", f"run {model}")
        if significance is None:
            check_pairing(cell_data(a), cell_data(b), names, allow_mixed=allow_mixed)
            continue
        comparison = paired_comparison(a, b, names, significance.n_boot, significance.seed, allow_mixed=allow_mixed)
        raw.update({(model, metric): p for metric, p in comparison.metrics["p"].items()})
    adjusted = holm(list(raw.values())) if raw else []
    return {key: None if math.isnan(p) else float(p) for key, p in zip(raw, adjusted)}
