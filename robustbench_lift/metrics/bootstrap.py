"""Bootstrap replicates of per-unit means and percentile intervals, shared by every metric family.

A unit is what a cell averages over: an image (0/1 for wrong), a video (its flip probability), a crop pair.
Aggregates take arrays with any leading shape, so the same code computes a point estimate and, fed the
replicates of `bootstrap_means`, its bootstrap distribution.
"""

from collections.abc import Sequence

import numpy as np


def bootstrap_means(values: Sequence[np.ndarray], n_boot: int = 1000, seed: int = 0,
                    chunk: int = 100) -> np.ndarray:
    """Bootstrap replicates of the mean of each row of `values`: float64 `(n_boot, len(values))`.

    `values[j]` holds one number per unit (image: 0/1 for wrong; video: its flip probability). Rows of equal
    length are resampled jointly (the same unit indices for every row: image i is the same photograph in every
    corruption cell, so aggregates over cells keep their correlation); rows of unequal length independently.
    Replicate b of row j = sum_i w_bi * values[j][i] / N with multinomial counts w_b ~ Mult(N, 1/N), drawn from
    `np.random.default_rng(seed)` in chunks of `chunk` replicates to bound memory.
    """
    rows = [np.asarray(v, dtype=np.float64) for v in values]
    rng = np.random.default_rng(seed)
    lengths = {len(r) for r in rows}
    if any(n == 0 for n in lengths):
        raise ValueError("cannot bootstrap an empty set of units")
    groups = [list(range(len(rows)))] if len(lengths) == 1 else [[j] for j in range(len(rows))]
    out = np.empty((n_boot, len(rows)))
    for group in groups:
        matrix = np.stack([rows[j] for j in group], axis=1)  # (N, rows in group)
        n = matrix.shape[0]
        for start in range(0, n_boot, chunk):
            counts = rng.multinomial(n, np.full(n, 1.0 / n), size=min(chunk, n_boot - start))
            out[start:start + len(counts), group] = counts @ matrix / n
    return out


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval `(low, high)` of 1-D `replicates` at confidence `level` (NaNs ignored)."""
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(np.asarray(replicates, dtype=np.float64), [tail, 100 - tail])
    return float(low), float(high)
