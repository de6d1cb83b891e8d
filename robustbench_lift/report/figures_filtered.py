"""Frequency-filtered accuracy (model-vs-human's manipulations, corruption subset `freq`): top-1 accuracy at each
level of each manipulation, one line per model, with 95% Wilson score intervals (a binomial proportion over the
cell's n images; Wilson, JASA 1927), as model-vs-human plots its accuracy curves."""

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from robustbench_lift.report.figures import style

Z_95 = 1.959963984540054
"""The standard normal's 97.5 % quantile: a two-sided 95 % interval."""


def wilson_interval(correct: np.ndarray, n: np.ndarray, z: float = Z_95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of proportions `correct / n` (arrays of counts): `(low, high)` in [0, 1]."""
    correct, n = np.asarray(correct, dtype=np.float64), np.asarray(n, dtype=np.float64)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _level(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:g}"


def filtered_accuracy(frame: pd.DataFrame) -> Figure | None:
    """One panel per manipulation of subset `freq` present in `frame` (rows as from `report.summary.load`):
    accuracy (%) against its levels (`corruptions.freq_filters.LEVELS`), 95% Wilson intervals; None without."""
    from corruptions.freq_filters import LEVELS

    rows = frame[(frame["suite"] == "c") & frame["corruption"].isin(list(LEVELS))]
    if rows.empty:
        return None
    names = [name for name in LEVELS if name in set(rows["corruption"])]
    fig = Figure(figsize=(3.0 * len(names) + 0.5, 3.6), layout="constrained")
    axes = fig.subplots(1, len(names), sharey=True, squeeze=False)[0]
    labels = list(dict.fromkeys(frame["label"]))
    for ax, name in zip(axes, names):
        cells = rows[rows["corruption"] == name].sort_values("severity")
        for label, cell in cells.groupby("label", sort=False):
            look = style(labels.index(label))
            n = cell["n"].to_numpy(dtype=float)
            accuracy = 1 - cell["top1_err"].to_numpy(dtype=float)
            low, high = wilson_interval(np.round(accuracy * n), n)
            ax.errorbar(cell["severity"], 100 * accuracy, yerr=[100 * (accuracy - low), 100 * (high - accuracy)],
                        color=look["color"], marker=look["marker"], markersize=4, capsize=2, label=str(label))
        levels = LEVELS[name]
        ax.set_xticks(range(1, len(levels) + 1), [_level(v) for v in levels], rotation=45)
        ax.set_title(name)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("top-1 accuracy (%)")
    axes[-1].legend(fontsize=7)
    return fig
