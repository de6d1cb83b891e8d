"""What `report.gate` checks beyond point values: recorded settings, pairing with the run, paired p-values.

A baseline JSON records per model the settings its cells share (`model_settings`: precision, class count,
preset, ...), and `check_settings` refuses a run evaluated otherwise unless mixing is allowed.

A baseline JSON holds reviewed point values only; the baseline run's results store also holds every image's
predictions, so `check` can pair each model's cells in the run with the same cells of the baseline (the same
images, order and settings, `metrics.paired.check_pairing`) and, with `Significance`, test every delta with
`report.paired` (McNemar's exact test for a one-cell error such as clean_err, else the paired bootstrap) and
Holm's adjustment over the family of every compared (model, metric): each model of the baseline, each metric
of `METRICS` both sides measured in a suite that pairs unit by unit (the `check` table's p_holm rows).

A bootstrap p is at least 2 / (n_boot + 1) (`metrics.paired.bootstrap_p_value`), so with m pairs in the family
no bootstrap-tested regression can reach alpha unless m * 2 / (n_boot + 1) < alpha: such a gate could never
fail, and `baseline_p_values` refuses it, naming the `required_resamples` (m = 30, alpha = 0.05: 1,200).
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.paired import DATA_KEYS, MODEL_KEYS, check_pairing, holm
from robustbench_lift.report.paired import BOOTSTRAP, cell_data, metric_tests, paired_comparison, paired_suites
from robustbench_lift.report.summary import ResultsLike, load


@dataclass(frozen=True)
class Significance:
    """`check --require-significant`: a regression counts only when its paired p-value (McNemar's exact one
    for clean_err, else the bootstrap's over `n_boot` resamples seeded by `seed`), Holm-adjusted over every
    compared (model, metric), is below `alpha`."""

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


def required_resamples(pairs: int, alpha: float) -> int:
    """The fewest bootstrap resamples B with `pairs` * 2 / (B + 1) < `alpha`: below it, Holm over `pairs` tests
    cannot bring a bootstrap p (>= 2 / (B + 1)) under alpha. B = floor(2 m / alpha), stepped on the same
    float comparison the refusal makes."""
    n_boot = max(1, math.floor(2 * pairs / alpha) - 1)
    while pairs * 2 / (n_boot + 1) >= alpha:
        n_boot += 1
    return n_boot


def baseline_p_values(baseline: ResultsLike, results: ResultsLike, models: Sequence[str],
                      significance: Significance | None = None, allow_mixed: bool = False,
                      baseline_name: str | None = None) -> dict[tuple[str, str], float | None]:
    """Pair each of `models` in the run `results` with its cells in the `baseline` store (each a path or its
    `load(..., predictions=True)` frame; `baseline_name` for messages, default the file name) (`UsageError` when
    they do not pair; `allow_mixed` accepts other settings). With `significance`: `{(model, metric): p_holm}` over
    every metric measured on both sides (None where the test gave no p), else `{}` (pairing checked only).
    A family with a bootstrap-tested pair that no p could bring under alpha (`required_resamples`) is a
    `UsageError` naming the `--n-boot` it needs, raised before any resampling.
    """
    base, run = load(baseline, predictions=True), load(results, predictions=True)
    sides, family = {}, {}
    for model in models:
        a = base[base["label"] == model].reset_index(drop=True)
        b = run[run["label"] == model].reset_index(drop=True)
        names = (f"baseline {model} ({baseline_name or Path(str(baseline)).name})", f"run {model}")
        if significance is None:
            check_pairing(cell_data(a), cell_data(b), names, allow_mixed=allow_mixed)
            continue
        sides[model] = (a, b, names)
        family.update({(model, m): test for m, test in metric_tests(paired_suites(a, b, names, allow_mixed)).items()})
    if significance is None:
        return {}
    pairs, alpha, n_boot = len(family), significance.alpha, significance.n_boot
    if BOOTSTRAP in family.values() and pairs * 2 / (n_boot + 1) >= alpha:
        raise UsageError(f"--require-significant could never fail at --n-boot {n_boot}: Holm's correction runs "
                         f"over {pairs} (model, metric) pairs and a bootstrap p is at least 2 / (n_boot + 1), so no "
                         f"adjusted p gets below {pairs} x 2 / {n_boot + 1} = {pairs * 2 / (n_boot + 1):.3g} >= "
                         f"alpha {alpha:g}; use --n-boot {required_resamples(pairs, alpha)} or more, or gate fewer "
                         "models")
    raw: dict[tuple[str, str], float] = {}
    for model, (a, b, names) in sides.items():
        comparison = paired_comparison(a, b, names, n_boot, significance.seed, allow_mixed=allow_mixed)
        raw.update({(model, metric): p for metric, p in comparison.metrics["p"].items()})
    adjusted = holm(list(raw.values())) if raw else []
    return {key: None if math.isnan(p) else float(p) for key, p in zip(raw, adjusted)}


def model_settings(results: ResultsLike) -> dict[str, dict[str, Any]]:
    """Per model label, its settings: the fingerprint keys outside `DATA_KEYS` and `MODEL_KEYS` with one value in
    every cell that has the key (precision and num_classes in all; seed, preset, backend in corruption cells)."""
    frame = load(results)
    out = {}
    for label, cells in frame.groupby("label", sort=False):
        values: dict[str, list] = {}
        for fingerprint in cells["fingerprint"]:
            for key, value in fingerprint.items():
                values.setdefault(key, []).append(value)
        out[str(label)] = {k: v[0] for k, v in sorted(values.items())
                           if k not in DATA_KEYS | MODEL_KEYS and all(x == v[0] for x in v)}
    return out


def check_settings(recorded: Mapping[str, Mapping[str, Any]], current: Mapping[str, Mapping[str, Any]],
                   origin: str, allow_mixed: bool = False) -> list[str]:
    """The `recorded` settings of a baseline that the run's `current` ones (`model_settings`) contradict, as
    "model key (baseline v, run w)"; `UsageError` naming them unless `allow_mixed`."""
    differ = [f"{model} {key} (baseline {value!r}, run {current[model].get(key, 'absent')!r})"
              for model, settings in recorded.items() if model in current
              for key, value in settings.items() if current[model].get(key, "absent") != value]
    if differ and not allow_mixed:
        raise UsageError(f"the run was evaluated with other settings than {origin} records: {'; '.join(differ)}. "
                         "Re-evaluate with the baseline's settings, rewrite the baseline with --update, or pass "
                         "--allow-mixed to compare across settings")
    return differ
