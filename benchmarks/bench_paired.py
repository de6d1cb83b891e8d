"""Speed of the paired statistics against a naive per-replicate loop measured in the same run.

    python benchmarks/bench_paired.py [--images 50000] [--cells 95] [--n-boot 1000] [--small-images 5000]

Synthetic 0/1 errors of two models that share image difficulty, for a clean column and `--cells` corruption
cells (19 corruptions x 5 severities = ImageNet-C's 95), aggregated by `corruption_summary` (mCE, rel. mCE,
CE/err per corruption) as the report does. Phases:
  (v) `paired_bootstrap` at the reduced size (`--small-images`, `--small-boot` resamples);
  (n) a naive loop at the same size: per replicate, draw N indices, index both models' (N, columns) matrices
      and aggregate (vectorised across cells, so the peer is not a straw man);
  (f) `paired_bootstrap` at the full size (`--images`, `--n-boot`): goal (issue 17) under 60 s on 2 cores;
  (m) exact McNemar and kappa of every cell at the full size.
Each figure is wall-clock and CPU time of this process (all threads; the machine may be shared), best of
`--repeats` interleaved rounds; the ratio is time of the peer / time of the vectorised version.
"""

import argparse
from collections.abc import Callable

import numpy as np
from timing import best_of  # benchmarks/timing.py, next to this script

from robustbench_lift.metrics.corruption import ALEXNET_ERRORS, corruption_summary
from robustbench_lift.metrics.paired import error_consistency, mcnemar_cell, paired_bootstrap


def synthetic(images: int, cells: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[tuple[str, int]]]:
    """0/1 errors `(images, 1 + cells)` of A and B (column 0 clean) and the corruption cells' keys."""
    keys = [(c, s) for c in ALEXNET_ERRORS for s in range(1, 6)][:cells]
    rng = np.random.default_rng(seed)
    hard = rng.uniform(size=(images, 1))
    level = np.array([0.75] + [0.75 - 0.08 * s for _, s in keys])  # harder at higher severity
    a = (hard + rng.normal(0, 0.25, (images, len(level))) > level).astype(np.float64)
    b = (hard + rng.normal(0, 0.25, (images, len(level))) > level + 0.01).astype(np.float64)
    return a, b, keys


def aggregate_for(keys: list[tuple[str, int]]) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    def aggregate(means: np.ndarray) -> dict[str, np.ndarray]:
        errors = {key: means[..., 1 + j] for j, key in enumerate(keys)}
        return {"clean_err": means[..., 0], **corruption_summary(errors, means[..., 0])}
    return aggregate


def naive_loop(a: np.ndarray, b: np.ndarray, aggregate: Callable, n_boot: int, seed: int) -> dict[str, tuple]:
    """(n) one replicate at a time: indices, indexed means, aggregate; then the same CI and p as the module."""
    rng = np.random.default_rng(seed)
    deltas: dict[str, list[float]] = {}
    for _ in range(n_boot):
        index = rng.integers(0, len(a), len(a))
        agg_a, agg_b = aggregate(a[index].mean(axis=0)), aggregate(b[index].mean(axis=0))
        for metric, value in agg_a.items():
            deltas.setdefault(metric, []).append(float(agg_b[metric] - value))
    out = {}
    for metric, values in deltas.items():
        d = np.array(values)
        tail = min(np.sum(d <= 0), np.sum(d >= 0))
        out[metric] = (*np.percentile(d, [2.5, 97.5]), min(1.0, 2 * (tail + 1) / (n_boot + 1)))
    return out


def columns(matrix: np.ndarray) -> list[np.ndarray]:
    return [np.ascontiguousarray(matrix[:, j]) for j in range(matrix.shape[1])]


def cell_tests(a: np.ndarray, b: np.ndarray) -> None:
    """(m) McNemar and kappa per column from per-image correctness."""
    for j in range(a.shape[1]):
        mcnemar_cell(a[:, j] == 0, b[:, j] == 0)
        error_consistency(a[:, j] == 0, b[:, j] == 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--cells", type=int, default=95)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--small-images", type=int, default=5000)
    parser.add_argument("--small-boot", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=1, help="Rounds; each figure is the best round.")
    args = parser.parse_args()
    full_a, full_b, keys = synthetic(args.images, args.cells)
    small_a, small_b = full_a[:args.small_images], full_b[:args.small_images]
    aggregate = aggregate_for(keys)
    print(f"{1 + len(keys)} columns (clean + {len(keys)} cells); reduced: {args.small_images} images x "
          f"{args.small_boot} resamples; full: {args.images} images x {args.n_boot} resamples")
    phases = {
        "v": lambda: paired_bootstrap(columns(small_a), columns(small_b), aggregate, args.small_boot),
        "n": lambda: naive_loop(small_a, small_b, aggregate, args.small_boot, 0),
        "f": lambda: paired_bootstrap(columns(full_a), columns(full_b), aggregate, args.n_boot),
        "m": lambda: cell_tests(full_a, full_b),
    }
    titles = {"v": "paired_bootstrap, reduced", "n": "naive per-replicate loop, reduced",
              "f": "paired_bootstrap, full", "m": "McNemar + kappa per cell, full"}
    best = best_of(phases, args.repeats)
    print(f"{'':4}{'':36}{'wall s':>9}{'CPU s':>9}")
    for key, (wall, cpu) in best.items():
        print(f"({key}) {titles[key]:36}{wall:9.2f}{cpu:9.2f}")
    print(f"{'(n)/(v)':40} wall {best['n'][0] / best['v'][0]:6.1f}x  CPU {best['n'][1] / best['v'][1]:6.1f}x")
    print(f"{'(f) full case':40} wall {best['f'][0]:6.1f} s  goal < 60 s on 2 cores")


if __name__ == "__main__":
    main()
