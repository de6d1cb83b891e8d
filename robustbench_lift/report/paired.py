"""Paired comparison of two models' stored cells: the report-level wiring of `robustbench_lift.metrics.paired`.

Each suite turns its cells into per-unit columns and an aggregate over the columns' means, the same aggregation
functions `report.aggregate` summarises with (`corruption_summary`, `perturbation_aggregates`, the shift pair
agreement): "c"/"clean" one 0/1 error per image and cell; "p" the flip probability and uT5D per sequence and
cell; "shift" the pair agreement and accuracy per image of the pairs cell. `paired_bootstrap` resamples the
same units for A and B and for every cell of a suite, so each aggregate's delta B - A keeps the correlation
between the models and across corruptions. A metric that is one cell's top-1 error (`clean_err`: one 0/1
error per image) is tested by the exact McNemar test on that cell instead (`SuiteUnits.exact`; its interval stays
the bootstrap one): its p is exact and not floored at 2 / (n_boot + 1) as a bootstrap p is. Holm's adjustment
runs over the family of reported `METRICS` (and separately over the per-corruption deltas). Cells with one top-1
per image (clean, corruption, shift diagonal) also get the exact McNemar test and Cohen's kappa of correctness
(error consistency).
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.corruption import corruption_summary
from robustbench_lift.metrics.paired import (
    MODEL_KEYS,
    Aggregate,
    CellData,
    check_pairing,
    error_consistency,
    holm,
    mcnemar_cell,
    paired_bootstrap,
    setting_differences,
)
from robustbench_lift.metrics.perturbation import per_sequence, perturbation_aggregates
from robustbench_lift.metrics.shift import PAIRS, pair_agreement
from robustbench_lift.registry import Registry
from robustbench_lift.report.aggregate import IMAGENET_CLASSES
from robustbench_lift.report.faces import FACES
from robustbench_lift.report.summary import METRICS, SUITE_PRIORITY

CELL_COLUMNS = ("suite", "dataset", "corruption", "severity")
MCNEMAR_COLUMNS = ("n", "a_err", "b_err", "a_only_wrong", "b_only_wrong", "p")
MCNEMAR, BOOTSTRAP = "McNemar exact", "bootstrap"
"""The two tests behind a metric's p (`PairedComparison.metrics["test"]`)."""


@dataclass(frozen=True)
class SuiteUnits:
    """One model's suite as bootstrap input: per-unit `columns` (1-D float each), the `aggregate` of their means
    (fractions, as `report.aggregate`), a `context` that must be equal for A and B (e.g. the FR baseline), and
    `exact`: metric -> index of the 0/1 error column it is the mean of (tested by McNemar's exact test)."""

    columns: list[np.ndarray]
    aggregate: Aggregate
    context: Any = None
    exact: dict[str, int] = field(default_factory=dict)


def error_units(cells: pd.DataFrame) -> SuiteUnits:
    """"c" / "clean" cells: 0/1 top-1 error per image, aggregated by `corruption_summary` plus `clean_err`."""
    keys = list(zip(cells["corruption"], cells["severity"]))
    clean = next((j for j, (c, _) in enumerate(keys) if c == "clean"), None)
    normalise = {f.get("num_classes") for f in cells["fingerprint"]} == {IMAGENET_CLASSES}

    def aggregate(means: np.ndarray) -> dict[str, np.ndarray]:
        errors = {key: means[..., j] for j, key in enumerate(keys) if j != clean}
        clean_err = None if clean is None else means[..., clean]
        summary = corruption_summary(errors, clean_err, normalise)
        return summary if clean_err is None else {"clean_err": clean_err, **summary}
    columns = [(p[:, 0] != y).astype(np.float64) for p, y in zip(cells["predictions"], cells["labels"])]
    return SuiteUnits(columns, aggregate, normalise, {} if clean is None else {"clean_err": clean})


def perturbation_units(cells: pd.DataFrame) -> SuiteUnits | None:
    """"p" cells: flip probability and uT5D per sequence, aggregated by `perturbation_aggregates` (with the cells'
    FR/T5D baseline when every cell has one); None without per-sequence predictions."""
    if not all(np.ndim(p) == 3 for p in cells["predictions"]):
        return None
    keys = list(zip(cells["corruption"], cells["severity"]))
    base = None
    if "base_flip_prob" in cells and cells["base_flip_prob"].notna().all():
        base = {key: (b, u) for key, b, u in zip(keys, cells["base_flip_prob"], cells["base_ut5d"])}

    def aggregate(means: np.ndarray) -> dict[str, np.ndarray]:
        return perturbation_aggregates({key: means[..., 2 * j] for j, key in enumerate(keys)},
                                       {key: means[..., 2 * j + 1] for j, key in enumerate(keys)}, base)
    columns = [v for key, p in zip(keys, cells["predictions"]) for v in per_sequence(key, p)]
    return SuiteUnits(columns, aggregate, base)


def shift_units(cells: pd.DataFrame) -> SuiteUnits | None:
    """"shift" cells: per image of the pairs cell, the fraction of pairs with one top-1 and of correct crops."""
    pairs = cells[(cells["corruption"] == PAIRS[0]) & (cells["severity"] == PAIRS[1])]
    if pairs.empty:
        return None
    cell = pairs.iloc[0]
    correct = np.mean(cell["predictions"][..., 0] == cell["labels"][:, None], axis=1)
    return SuiteUnits([pair_agreement(cell["predictions"]), correct],
                      lambda m: {"consistency": m[..., 0], "shift_acc": m[..., 1]})


UNITS: Registry = Registry("paired suite")
"""Suite name -> `units(cells) -> SuiteUnits | None` (None: the cells cannot be resampled): each face's `units`."""
for _suite, _face in FACES.items():
    if _face.units is not None:
        UNITS.register(_suite, _face.units)


@dataclass(frozen=True)
class PairedComparison:
    """B against A. Tables in points, delta = B - A: `metrics` (index metric; a, b, delta, ci_lo, ci_hi, p,
    p_holm, test: `MCNEMAR` or `BOOTSTRAP`), `corruptions` (index corruption; CE or mean error deltas of the "c"
    suite, same columns but test), `cells` (one McNemar row per single-prediction cell, plus its kappa), the
    pooled `kappa` of every such image, and `mixed`: the settings that differ (only when allowed)."""

    names: tuple[str, str]
    metrics: pd.DataFrame
    corruptions: pd.DataFrame
    cells: pd.DataFrame
    kappa: float
    mixed: list[str] = field(default_factory=list)
    level: float = 0.95

    def verdicts(self, alpha: float = 0.05) -> pd.Series:
        """Per metric "better" / "worse" (B against A, by `METRICS` direction) when p_holm < alpha, else
        "no significant difference"."""
        def verdict(metric: str, row: pd.Series) -> str:
            if not row["p_holm"] < alpha:
                return "no significant difference"
            return "better" if (row["delta"] > 0) == METRICS[metric].higher_is_better else "worse"
        return pd.Series({m: verdict(m, row) for m, row in self.metrics.iterrows()}, dtype=object)

    def to_json(self) -> dict[str, Any]:
        """`{"a", "b", "metrics": {m: {"a", "b", "delta", "ci": [lo, hi], "p", "p_holm", "test"}}, "cells": [...]}`."""
        metrics = {m: {"a": r["a"], "b": r["b"], "delta": r["delta"], "ci": [r["ci_lo"], r["ci_hi"]], "p": r["p"],
                       "p_holm": r["p_holm"]} for m, r in self.metrics.iterrows()}
        cells = [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items() if k != "kappa"}
                 for row in self.cells.to_dict("records")]
        return {"a": self.names[0], "b": self.names[1],
                "metrics": {m: {**{k: _plain(v) for k, v in values.items()}, "test": self.metrics.at[m, "test"]}
                            for m, values in metrics.items()},
                "cells": cells}


def _plain(value: Any) -> Any:
    """JSON-ready: floats, NaN as None (JSON has no NaN)."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return None if pd.isna(value) else float(value)


def cell_data(cells: pd.DataFrame) -> dict[tuple, CellData]:
    """`{(suite, dataset, corruption, severity): CellData(labels, fingerprint)}` of one model's rows."""
    return {tuple(row[c] for c in CELL_COLUMNS): CellData(np.asarray(row["labels"]), row["fingerprint"])
            for _, row in cells.iterrows()}


PairedSuite = tuple[SuiteUnits, SuiteUnits, list[str]]
"""A paired suite's units of A and of B and the metrics it supplies to the comparison."""


def paired_suites(a: pd.DataFrame, b: pd.DataFrame, names: tuple[str, str],
                  allow_mixed: bool = False) -> list[PairedSuite]:
    """The suites of A and B that can be compared unit by unit, each with the metrics it supplies: those of its
    aggregate that no suite earlier in `SUITE_PRIORITY` gave (one data set per suite: `UsageError` when two give
    one metric). Raises `UsageError` when A and B do not pair (`check_pairing`) or their references differ."""
    check_pairing(cell_data(a), cell_data(b), names, allow_mixed=allow_mixed)
    plan, taken = [], {}
    priority = {s: i for i, s in enumerate(SUITE_PRIORITY)}
    for (suite, dataset), cells_a in sorted(a.groupby(["suite", "dataset"], sort=False),
                                            key=lambda item: priority.get(item[0][0], len(priority))):
        if suite not in UNITS:
            continue
        cells_b = b[(b["suite"] == suite) & (b["dataset"] == dataset)]
        units_a, units_b = (UNITS.get(suite)(_ordered(x)) for x in (cells_a, cells_b))
        if units_a is None or units_b is None:
            continue
        if units_a.context != units_b.context:
            raise UsageError(f"{names[0]} and {names[1]} have different {suite} references ({dataset}): "
                             f"{units_a.context!r} vs {units_b.context!r}; evaluate both against the same one")
        supplied = []
        for metric in units_a.aggregate(np.array([x.mean() for x in units_a.columns])):
            if metric in taken and taken[metric][0] == suite:
                raise UsageError(f"{metric} comes from several data sets ({taken[metric][1]}, {dataset}); "
                                 "choose one with --dataset")
            if metric not in taken:
                taken[metric] = (suite, dataset)
                supplied.append(metric)
        if supplied:
            plan.append((units_a, units_b, supplied))
    return plan


def metric_tests(plan: list[PairedSuite]) -> dict[str, str]:
    """`{metric: MCNEMAR or BOOTSTRAP}` for the `METRICS` a comparison of `plan` reports (its Holm family)."""
    tests = {m: MCNEMAR if m in units.exact else BOOTSTRAP for units, _, supplied in plan for m in supplied}
    return {m: tests[m] for m in METRICS if m in tests}


def paired_comparison(a: pd.DataFrame, b: pd.DataFrame, names: tuple[str, str], n_boot: int = 1000, seed: int = 0,
                      level: float = 0.95, allow_mixed: bool = False) -> PairedComparison:
    """Compare model B's cells with model A's (rows of `summary.load(..., predictions=True)`, one model each).

    Raises `UsageError` when the two are not paired (`check_pairing`: other cells, images, order or settings;
    `allow_mixed` accepts other settings), when their FR/T5D baselines differ, or for `n_boot` < 1.
    """
    if n_boot < 1:
        raise UsageError(f"a paired comparison needs bootstrap resamples: n_boot must be >= 1, got {n_boot}")
    plan = paired_suites(a, b, names, allow_mixed)
    mixed = setting_differences(cell_data(a), cell_data(b), MODEL_KEYS) if allow_mixed else []
    deltas = {}
    for units_a, units_b, supplied in plan:
        result = paired_bootstrap(units_a.columns, units_b.columns, units_a.aggregate, n_boot, seed, level)
        for metric in supplied:
            deltas[metric] = result[metric]
            if metric in units_a.exact:
                j = units_a.exact[metric]
                exact = mcnemar_cell(units_a.columns[j] == 0, units_b.columns[j] == 0).p
                deltas[metric] = dataclasses.replace(result[metric], p=exact)
    metrics = _table({m: deltas[m] for m in METRICS if m in deltas})
    metrics["test"] = pd.Series(metric_tests(plan), dtype=object)
    prefix = "CE/" if any(m.startswith("CE/") for m in deltas) else "err/"
    corruptions = _table({m[len(prefix):]: d for m, d in deltas.items() if m.startswith(prefix)})
    corruptions.attrs["quantity"] = "CE (AlexNet = 100)" if prefix == "CE/" else "mean top-1 error"
    cells, kappa = _mcnemar(a, b)
    return PairedComparison(names, metrics, corruptions, cells, kappa, mixed, level)


def _ordered(cells: pd.DataFrame) -> pd.DataFrame:
    return cells.sort_values(["corruption", "severity"], kind="stable").reset_index(drop=True)


def _table(deltas: dict) -> pd.DataFrame:
    rows = {k: {"a": 100 * d.a, "b": 100 * d.b, "delta": 100 * d.delta, "ci_lo": 100 * d.ci[0],
                "ci_hi": 100 * d.ci[1], "p": d.p} for k, d in deltas.items()}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["a", "b", "delta", "ci_lo", "ci_hi", "p"])
    table["p_holm"] = holm(table["p"].to_numpy()) if len(table) else []
    return table


def _mcnemar(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    rows, right_a, right_b = [], [], []
    keyed_b = {tuple(row[c] for c in CELL_COLUMNS): row for _, row in b.iterrows()}
    for _, row in a.sort_values(list(CELL_COLUMNS), kind="stable").iterrows():
        key = tuple(row[c] for c in CELL_COLUMNS)
        other = keyed_b[key]
        if np.ndim(row["predictions"]) != 2 or np.ndim(other["predictions"]) != 2:
            continue
        correct = [np.asarray(x["predictions"])[:, 0] == np.asarray(x["labels"]) for x in (row, other)]
        right_a.append(correct[0])
        right_b.append(correct[1])
        test = mcnemar_cell(*correct)
        rows.append({**dict(zip(CELL_COLUMNS, (key[0], key[1], key[2], int(key[3])))),
                     **{c: getattr(test, c) for c in MCNEMAR_COLUMNS}, "kappa": error_consistency(*correct)})
    kappa = error_consistency(np.concatenate(right_a), np.concatenate(right_b)) if rows else float("nan")
    return pd.DataFrame(rows, columns=[*CELL_COLUMNS, *MCNEMAR_COLUMNS, "kappa"]), kappa

