"""Suite "ood" in the report: each model's clean and shifted error (`ood_summary`), the paired units of `compare`
(`ood_units`), and effective robustness over the models evaluated (`effective_robustness_table`).

Effective robustness (formulas: `metrics.effective_robustness`) pairs, per shifted set, each model's accuracy on
it with its accuracy on the ImageNet images of the same classes (the suite's `clean` cell). The line is fitted
over the models of the results (at least two), or given (`fits`; `liftbench report --er-fit`, docs/ood.md). Its
interval is a percentile bootstrap over images: the clean cells' images are resampled jointly across models, the
shifted cells' likewise (independently of the clean ones), and the line is refitted in every replicate, so the
interval holds the uncertainty of the model's accuracies and of the fit.
"""

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.bootstrap import bootstrap_means, percentile_interval
from robustbench_lift.metrics.effective_robustness import OOD_SETS, effective_robustness, linear_fit
from robustbench_lift.report.face import TableOptions
from robustbench_lift.report.paired import SuiteUnits
from robustbench_lift.report.summary import ResultsLike, closest, load

CLEAN = "clean"
ER_COLUMNS = ["model", "shift", "id acc.", "ood acc.", "ER", "ER_lo", "ER_hi", "line", "fit"]


def _names(cells: pd.DataFrame) -> list[str]:
    """The metric of each of one model's ood cells: `id_err/<set>` (its clean cell), `ood_err/<set>`."""
    return [f"{'id_err' if c == CLEAN else 'ood_err'}/{f['ood_set']}" for c, f in zip(cells["corruption"],
                                                                             cells["fingerprint"])]


def _errors(cells: pd.DataFrame) -> list[np.ndarray]:
    return [(p[:, 0] != y).astype(np.float64) for p, y in zip(cells["predictions"], cells["labels"])]


def ood_summary(cells: pd.DataFrame, n_boot: int, seed: int, level: float) -> dict[str, Any]:
    """`ood_err/<set>` and `id_err/<set>` (the ImageNet images of the set's classes) of one model's ood cells,
    fractions with percentile-bootstrap bounds `<m>_lo`, `<m>_hi` (NaN without predictions or with `n_boot=0`)."""
    row: dict[str, Any] = {"n_cells": len(cells)}
    names = _names(cells)
    draws = None
    if n_boot and "predictions" in cells:
        draws = bootstrap_means(_errors(cells), n_boot, seed)
    for j, (name, err) in enumerate(zip(names, cells["top1_err"])):
        row[name] = float(err)
        low, high = percentile_interval(draws[:, j], level) if draws is not None else (np.nan, np.nan)
        row[f"{name}_lo"], row[f"{name}_hi"] = low, high
    return row


def ood_units(cells: pd.DataFrame) -> SuiteUnits:
    """0/1 error per image of each ood cell; the aggregates are the cells' errors (McNemar's exact test each)."""
    names = _names(cells)
    return SuiteUnits(_errors(cells), lambda means: {name: means[..., j] for j, name in enumerate(names)},
                      exact={name: j for j, name in enumerate(names)})


def _correct(cell: pd.Series) -> np.ndarray:
    return (cell["predictions"][:, 0] == cell["labels"]).astype(np.float64)


def effective_robustness_table(results: ResultsLike, fits: Mapping[str, tuple[float, float]] | None = None,
                               n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """One row per (model with a clean cell, shifted set), indexed by model: `id acc.`, `ood acc.`, effective
    robustness `ER` with its bootstrap bounds `ER_lo`, `ER_hi` (points, %), the `line` in words and its `fit`
    ("models": over the models of `results`; "given": `fits[set] = (slope, intercept)`, logit axes);
    `attrs["lines"]`: `{set: (slope, intercept)}`. Empty without ood cells; `UsageError` for a fit of a set the
    results do not have (a line given for nothing is a mistake, e.g. `imagenet-v2` for the matched-frequency cells)."""
    frame = load(results, predictions=True)
    rows = frame[frame["suite"] == "ood"] if "suite" in frame else frame.iloc[:0]
    shifts = sorted(set(rows["corruption"]) - {CLEAN})
    unused = sorted(set(fits or {}) - set(shifts))
    if unused:
        raise UsageError(f"a line is given for {', '.join(unused)}, but the results' ood sets are "
                         f"{', '.join(shifts) or 'none'}: name one of them (--er-fit SET=SLOPE,INTERCEPT)")
    out, lines = [], {}
    for shift in shifts:
        pairs = []
        for _, cells in rows.groupby(["model", "weights_sha256", "dataset"], sort=False):
            by_cell = {c: cell for c, (_, cell) in zip(cells["corruption"], cells.iterrows())}
            if shift in by_cell and CLEAN in by_cell:
                pairs.append((by_cell[CLEAN], by_cell[shift]))
        if pairs:
            found, lines[shift] = _set_rows(shift, pairs, (fits or {}).get(shift), n_boot, seed, level)
            out += found
    table = pd.DataFrame(out, columns=ER_COLUMNS).set_index("model")
    table.attrs.update(title="Effective robustness (Taori et al. 2020): accuracy above the logit-linear fit (%)",
                       quantity="points", lines=lines)
    return table


def _set_rows(shift: str, pairs: list[tuple[pd.Series, pd.Series]], fit: tuple[float, float] | None, n_boot: int,
              seed: int, level: float) -> tuple[list[dict[str, Any]], tuple[float, float]]:
    id_acc = np.array([1 - clean["top1_err"] for clean, _ in pairs])
    ood_acc = np.array([1 - shifted["top1_err"] for _, shifted in pairs])
    slope, intercept = fit if fit is not None else linear_fit(id_acc, ood_acc)
    points = effective_robustness(id_acc, ood_acc, slope, intercept)
    bounds = np.full((len(pairs), 2), np.nan)
    if n_boot and all("predictions" in clean and "predictions" in shifted for clean, shifted in pairs):
        id_draws = bootstrap_means([_correct(clean) for clean, _ in pairs], n_boot, seed)
        ood_draws = bootstrap_means([_correct(shifted) for _, shifted in pairs], n_boot, seed + 1)
        b_slope, b_intercept = fit if fit is not None else linear_fit(id_draws, ood_draws)
        draws = effective_robustness(id_draws, ood_draws, np.asarray(b_slope)[..., None],
                                     np.asarray(b_intercept)[..., None])
        if np.isfinite(draws).any():
            bounds = np.array([percentile_interval(draws[:, j], level) for j in range(len(pairs))])
    line = f"logit(ood) = {float(slope):.3f} logit(id) {float(intercept):+.3f}"
    return [{"model": clean.get("label", clean["model"]), "shift": shift, "id acc.": 100 * a, "ood acc.": 100 * o,
             "ER": 100 * er, "ER_lo": 100 * lo, "ER_hi": 100 * hi, "line": line,
             "fit": "given" if fit is not None else "models"}
            for (clean, _), a, o, er, (lo, hi) in zip(pairs, id_acc, ood_acc, points, bounds)], \
        (float(slope), float(intercept))


def report_table(frame: pd.DataFrame, options: TableOptions) -> pd.DataFrame:
    """`effective_robustness_table` with the report's options (`--er-fit`, `--n-boot`, `--seed`)."""
    return effective_robustness_table(frame, options.er_fits, options.n_boot, options.seed)


def parse_er_fits(specs: Sequence[str]) -> dict[str, tuple[float, float]]:
    """`["SET=SLOPE,INTERCEPT", ...]` (`--er-fit`, logit axes) -> `{set: (slope, intercept)}`; `UsageError` naming a
    malformed one, an unknown set (`OOD_SETS`), a non-finite number or a set given twice."""
    fits: dict[str, tuple[float, float]] = {}
    for spec in specs:
        name, _, numbers = spec.partition("=")
        try:
            slope, intercept = (float(x) for x in numbers.split(","))
        except ValueError:
            raise UsageError(f"--er-fit {spec!r}: expected SET=SLOPE,INTERCEPT, e.g. imagenet-r=0.9,-1.6") from None
        if not (math.isfinite(slope) and math.isfinite(intercept)):
            raise UsageError(f"--er-fit {spec!r}: slope and intercept must be finite numbers")
        name = closest(name.strip(), OOD_SETS, "--er-fit set")
        if name in fits:
            raise UsageError(f"--er-fit gives {name} twice; give each set one line")
        fits[name] = (slope, intercept)
    return fits
