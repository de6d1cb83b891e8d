"""Paired comparisons of two models evaluated on the same images, as pure functions over NumPy arrays.

Two models scored on the same images make correlated errors, so the difference of their metrics is far less
noisy than each metric alone; these tests use that pairing:

- `mcnemar_exact` / `mcnemar_cell`: per cell, the exact two-sided McNemar test (McNemar 1947; the exact form
  is the sign test on the discordant images): with b images only A gets wrong and c only B gets wrong,
  p = min(1, 2 P(X <= min(b, c))), X ~ Bin(b + c, 1/2); p = 1 without discordant images.
- `paired_bootstrap`: per aggregate (mCE, mFR, consistency, ...), the delta B - A with a percentile interval
  and a two-sided p-value, resampling units (images or videos) with the same indices for both models and for
  every column of a suite, so correlations between models and between corruptions are kept.
- `holm`: Holm's (1979) step-down adjustment of a family of p-values (family-wise error rate).
- `error_consistency`: Cohen's kappa of per-image correctness (Geirhos et al., "Beyond accuracy: quantifying
  trial-by-trial behaviour of CNNs and humans by measuring error consistency", NeurIPS 2020).
- `check_pairing`: refuses two models whose cells hold different images, order or settings.
"""

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.bootstrap import bootstrap_means, percentile_interval

MODEL_KEYS = frozenset({"mean", "std"})
"""Fingerprint keys that describe the model, not the data or settings: its input normalisation."""
DATA_KEYS = frozenset({"data", "images", "limit", "n", "source"})
"""Fingerprint keys that identify the images themselves (files, count, subset, clean / on-the-fly / released):
never ignored. Every other key (precision, seed, preset, backend, image size, ...) is a setting."""
TIE = 1e-12
"""Bootstrap deltas within this of 0 are ties (float rounding; aggregates are fractions or ratios of order 1)."""
COUNTS_BUDGET = 1 << 22
"""Most multinomial counts (int64, 32 MiB) held at once by the bootstrap: bounds memory at any N."""


def mcnemar_exact(a_only_wrong: int, b_only_wrong: int) -> float:
    """Exact two-sided McNemar p-value in [0, 1] from the discordant counts (images only A, only B gets wrong).

    p = min(1, 2 P(X <= min(b, c))) with X ~ Bin(b + c, 1/2), computed in log space from the pmf at
    k = min(b, c) and the ratios pmf(i - 1) / pmf(i) = i / (n - i + 1): exact to ~1e-12 relative for any n
    (a p below ~1e-308 underflows to 0).
    """
    counts = (a_only_wrong, b_only_wrong)
    if any(int(c) != c or c < 0 for c in counts):
        raise UsageError(f"discordant counts must be integers >= 0, got {counts}")
    n, k = int(sum(counts)), int(min(counts))
    if n == 0:
        return 1.0
    log_pmf = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2)
    i = np.arange(k, 0, -1)
    # P(X <= k) = pmf(k) * (1 + sum_j prod_{i = k - j + 1..k} i / (n - i + 1)); ratios < 1 since k <= n / 2
    tail = 1.0 + np.cumprod(i / (n - i + 1.0)).sum()
    return min(1.0, 2.0 * math.exp(log_pmf + math.log(tail)))


@dataclass(frozen=True)
class McNemarCell:
    """One cell's paired counts: `n` images, each model's errors, the discordant ones, and McNemar's p."""

    n: int
    a_err: int
    b_err: int
    a_only_wrong: int
    b_only_wrong: int
    p: float


def _paired_correctness(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(correct_a), np.asarray(correct_b)
    if a.shape != b.shape or a.size == 0:
        raise UsageError(f"paired correctness arrays must have one equal, non-empty shape, got {a.shape} and "
                         f"{b.shape}")
    for side in (a, b):
        if side.dtype != bool and not np.isin(side, (0, 1)).all():
            raise UsageError(f"correctness must be boolean or 0/1, got values of dtype {side.dtype}")
    return a.astype(bool), b.astype(bool)


def mcnemar_cell(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemarCell:
    """Counts and exact McNemar p of one cell from per-image correctness `(N,)` (bool or 0/1) of A and B.

    `a_only_wrong`: images A gets wrong and B right; `b_only_wrong` the converse.
    """
    a, b = _paired_correctness(correct_a, correct_b)
    a_only, b_only = int(np.count_nonzero(~a & b)), int(np.count_nonzero(a & ~b))
    return McNemarCell(n=a.size, a_err=int(np.count_nonzero(~a)), b_err=int(np.count_nonzero(~b)),
                       a_only_wrong=a_only, b_only_wrong=b_only, p=mcnemar_exact(a_only, b_only))


def error_consistency(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Cohen's kappa of two models' per-image correctness (any equal shape, bool or 0/1), in [-1, 1].

    c_obs = mean[a == b], c_exp = p_a p_b + (1 - p_a)(1 - p_b) with p_a, p_b the accuracies,
    kappa = (c_obs - c_exp) / (1 - c_exp) (Geirhos et al. 2020). c_exp = 1 only when both models are right on
    every image or both wrong on every image; their errors then agree perfectly and kappa is 1 (the value
    model-vs-human's analysis returns whenever c_obs = 1).
    """
    a, b = _paired_correctness(correct_a, correct_b)
    p_a, p_b = a.mean(), b.mean()
    c_exp = p_a * p_b + (1 - p_a) * (1 - p_b)
    if c_exp == 1:
        return 1.0
    return float((np.mean(a == b) - c_exp) / (1 - c_exp))


@dataclass(frozen=True)
class PairedDelta:
    """One aggregate of A and B, `delta` = b - a, its percentile interval `ci` and two-sided bootstrap `p`."""

    a: float
    b: float
    delta: float
    ci: tuple[float, float]
    p: float


def bootstrap_p_value(replicates: np.ndarray) -> float:
    """Two-sided p-value of delta = 0 from bootstrap replicates of delta (1-D, NaNs ignored; NaN if none).

    p = min(1, 2 min(#{d* <= 0} + 1, #{d* >= 0} + 1) / (B + 1)): twice the smaller tail, i.e. the smallest
    alpha at which the equal-tailed percentile interval at 1 - alpha excludes 0 (test by interval inversion,
    Efron & Tibshirani 1993, ch. 16), so the verdict agrees with the interval shown next to it up to one
    replicate. The +1 counts the observed sample among the resamples (Davison & Hinkley 1997, eq. 4.11): p is
    never 0, at least 2 / (B + 1). A family of m metrics under Holm thus needs 2m / (B + 1) < alpha, i.e.
    B >= floor(2m / alpha) resamples, to reach significance at all (m = 8, alpha = 0.05: B >= 320). Not the
    shifted-null p
    (#{|d* - d| >= |d|}): that assumes a symmetric pivot and can disagree with the percentile interval.
    Replicates equal to 0 count in both tails, so identical models give p = 1; so do replicates within `TIE`
    of 0: equal aggregates summed in another order differ by float rounding, not by the models.
    """
    d = np.asarray(replicates, dtype=np.float64)
    d = d[~np.isnan(d)]
    d = np.where(np.abs(d) <= TIE, 0.0, d)
    if d.size == 0:
        return float("nan")
    tail = min(np.count_nonzero(d <= 0), np.count_nonzero(d >= 0))
    return min(1.0, 2 * (tail + 1) / (d.size + 1))


Aggregate = Callable[[np.ndarray], Mapping[str, np.ndarray]]
"""Per-column means `(..., C)` (a leading replicate axis or none) -> named metrics of shape `(...)`."""


def paired_bootstrap(values_a: Sequence[np.ndarray], values_b: Sequence[np.ndarray], aggregate: Aggregate,
                     n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, PairedDelta]:
    """Paired bootstrap of every metric of `aggregate`: `{metric: PairedDelta}` in `aggregate`'s order.

    `values_a[j]`, `values_b[j]`: one number per unit for column j (a cell's 0/1 errors per image, a video's
    flip probability, ...), 1-D float `(N_j,)`, unit i the same image for A and B. Each replicate draws
    multinomial counts w ~ Mult(N, 1/N) once and applies them to A and B and to every column of length N
    (`bootstrap_means` on A's and B's columns together: columns of one length are resampled jointly, so
    with all lengths equal A's replicates are exactly those `bootstrap_means(values_a, n_boot, seed)` gives
    the unpaired summary; columns of another length get their own draws, seeded from `seed` and the length).
    The means `(n_boot, C)` of A and of B go through `aggregate`, e.g.
    `lambda m: corruption_summary({cell: m[..., j] for j, cell in enumerate(cells)})`; `a`, `b` are the
    aggregates of the full-sample means, `ci` the percentile interval of b* - a* at `level`, `p` from
    `bootstrap_p_value`. Cost: n_boot * N * 2C multiply-adds in BLAS plus n_boot multinomial draws.
    """
    rows_a = [np.asarray(v, dtype=np.float64) for v in values_a]
    rows_b = [np.asarray(v, dtype=np.float64) for v in values_b]
    if not rows_a or len(rows_a) != len(rows_b):
        raise UsageError(f"paired bootstrap needs the same number (> 0) of columns for A and B, got "
                         f"{len(rows_a)} and {len(rows_b)}")
    for j, (x, y) in enumerate(zip(rows_a, rows_b)):
        if x.ndim != 1 or x.shape != y.shape or x.size == 0:
            raise UsageError(f"column {j}: A has values of shape {x.shape}, B {y.shape}; paired columns need "
                             "one value per unit for the same non-empty set of units")
    if n_boot < 1:
        raise UsageError(f"n_boot must be >= 1, got {n_boot}")
    columns = len(rows_a)
    means = np.empty((n_boot, 2 * columns))
    lengths = sorted({x.size for x in rows_a})
    for length in lengths:
        group = [j for j in range(columns) if rows_a[j].size == length]
        group_seed = seed if len(lengths) == 1 else int(np.random.SeedSequence([seed, length]).generate_state(1)[0])
        chunk = int(np.clip(COUNTS_BUDGET // length, 1, 100))
        both = [rows_a[j] for j in group] + [rows_b[j] for j in group]
        means[:, group + [columns + j for j in group]] = bootstrap_means(both, n_boot, group_seed, chunk)
    point_a = aggregate(np.array([x.mean() for x in rows_a]))
    point_b = aggregate(np.array([y.mean() for y in rows_b]))
    draws_a, draws_b = aggregate(means[:, :columns]), aggregate(means[:, columns:])
    out = {}
    for metric, a in point_a.items():
        delta = np.asarray(draws_b[metric]) - np.asarray(draws_a[metric])
        a, b = float(a), float(point_b[metric])
        out[metric] = PairedDelta(a=a, b=b, delta=b - a, ci=percentile_interval(delta, level),
                                  p=bootstrap_p_value(delta))
    return out


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values, float64 in the input's order (Holm 1979, step-down).

    With the m non-NaN p sorted ascending, p_(1) <= ... <= p_(m): adjusted p_(i) = min(1, max_{j <= i}
    (m - j + 1) p_(j)), so adjusted values keep the order of the raw ones. Reject at alpha where adjusted
    p < alpha: the family-wise error rate is at most alpha. NaNs stay NaN and do not count in m.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or np.any((p < 0) | (p > 1)):
        raise UsageError(f"holm needs a 1-D sequence of p-values in [0, 1], got {p_values!r}")
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    out = np.full(p.shape, np.nan)
    out[order] = np.minimum(np.maximum.accumulate((len(order) - np.arange(len(order))) * p[order]), 1.0)
    return out


class CellData(NamedTuple):
    """What pairs two models' cells: the labels in image order `(N,)` and the cell's fingerprint."""

    labels: np.ndarray
    fingerprint: Mapping[str, Any]


def _cell_name(cell: Hashable) -> str:
    return "/".join(map(str, cell)) if isinstance(cell, tuple) else str(cell)


def _cell_problems(a: CellData, b: CellData, names: tuple[str, str], ignore: frozenset[str]) -> list[str]:
    fa, fb = dict(a.fingerprint), dict(b.fingerprint)
    missing = "absent"
    settings = [f"{key} ({names[0]} {fa.get(key, missing)!r}, {names[1]} {fb.get(key, missing)!r})"
                for key in sorted((fa.keys() | fb.keys()) - ignore) if fa.get(key, missing) != fb.get(key, missing)]
    problems = [f"settings differ: {', '.join(settings)}"] if settings else []
    la, lb = np.asarray(a.labels), np.asarray(b.labels)
    if la.shape != lb.shape:
        problems.append(f"{names[0]} has {len(la)} images, {names[1]} {len(lb)}")
    elif (wrong := np.flatnonzero(la != lb)).size:
        i = wrong[0]
        problems.append(f"labels differ on {wrong.size} of {la.size} images (first at image {i}: {names[0]} "
                        f"{la[i]}, {names[1]} {lb[i]}), so the images or their order differ")
    return problems


def setting_differences(a: Mapping[Hashable, CellData], b: Mapping[Hashable, CellData],
                        ignore: frozenset[str] = MODEL_KEYS) -> list[str]:
    """Sorted fingerprint keys outside `DATA_KEYS` and `ignore` that differ in some cell both `a` and `b` have."""
    keys = set()
    for cell in a.keys() & b.keys():
        fa, fb = dict(a[cell].fingerprint), dict(b[cell].fingerprint)
        keys |= {k for k in fa.keys() | fb.keys() if fa.get(k, "absent") != fb.get(k, "absent")}
    return sorted(keys - DATA_KEYS - ignore)


def check_pairing(a: Mapping[Hashable, CellData], b: Mapping[Hashable, CellData],
                  names: tuple[str, str] = ("A", "B"), ignore: frozenset[str] = MODEL_KEYS,
                  allow_mixed: bool = False) -> list[Hashable]:
    """The cells of `a` (in its order) once checked to pair with `b`'s; `UsageError` naming what differs.

    `a`, `b`: `{cell key: CellData}` per model, e.g. keyed (suite, dataset, corruption, severity). Paired
    means: the same cells; per cell the same number of images, the same labels in the same order, and equal
    fingerprints (data identity, limit, n, seed, backend, precision, ...) except the model's own `ignore` keys.
    `allow_mixed` also ignores every setting (`setting_differences`), never the `DATA_KEYS` or the labels.
    """
    if allow_mixed:
        ignore = ignore | frozenset(setting_differences(a, b, ignore))
    only = [(names[i], names[1 - i], [c for c in x if c not in y]) for i, (x, y) in enumerate(((a, b), (b, a)))]
    gaps = [f"{has} has cells {lacks} lacks: {', '.join(map(_cell_name, cells[:5]))}"
            + (f" and {len(cells) - 5} more" if len(cells) > 5 else "") for has, lacks, cells in only if cells]
    if gaps:
        raise UsageError(f"{names[0]} and {names[1]} are not paired: {'; '.join(gaps)}. Evaluate the missing "
                         "cells, or restrict both to the same suites and data sets")
    problems = [(cell, found) for cell in a if (found := _cell_problems(a[cell], b[cell], names, ignore))]
    if problems:
        shown = "; ".join(f"cell {_cell_name(cell)}: {' and '.join(found)}" for cell, found in problems[:3])
        more = f" (and {len(problems) - 3} more cells)" if len(problems) > 3 else ""
        raise UsageError(f"{names[0]} and {names[1]} were not evaluated on the same images with the same "
                         f"settings: {shown}{more}. Re-evaluate one with the other's data and settings (allow_mixed, "
                         "--allow-mixed in the CLI, accepts different settings, never different images)")
    return list(a)
