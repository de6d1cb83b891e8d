"""Effective robustness figure: OOD accuracy against ImageNet accuracy on logit axes (Taori et al. 2020, Fig. 1).

One panel per shifted set: one point per model (`report.figures.style`, Okabe-Ito colours and markers), the line
the table's effective robustness is measured from (fitted over the models, or given), and y = x (no shift)
dashed. Axes are logit(accuracy), ticked in accuracy (%), on which the models of most shifts fall on a line.
"""

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from robustbench_lift.metrics.effective_robustness import EPSILON, logit
from robustbench_lift.report.figures import style

TICKS = np.array([1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99])
"""Accuracy ticks (%) of the logit axes."""


def effective_robustness_figure(table: pd.DataFrame) -> Figure | None:
    """Panels of `report.ood.effective_robustness_table` (rows models; percent columns `id acc.`, `ood acc.`; the
    lines in `attrs["lines"]`, logit axes); None when it is empty."""
    if table.empty:
        return None
    shifts = list(dict.fromkeys(table["shift"]))
    fig = Figure(figsize=(4.2 * len(shifts), 4.0), layout="constrained")
    models = list(dict.fromkeys(table.index))
    for k, shift in enumerate(shifts):
        ax = fig.add_subplot(1, len(shifts), k + 1)
        rows = table[table["shift"] == shift]
        x, y = logit(rows["id acc."] / 100), logit(rows["ood acc."] / 100)
        for model, xi, yi in zip(rows.index, x, y):
            s = style(models.index(model))
            ax.plot(xi, yi, linestyle="none", marker=s["marker"], color=s["color"], label=model)
        span = np.linspace(min(x.min(), y.min()) - 0.5, max(x.max(), y.max()) + 0.5, 50)
        slope, intercept = table.attrs["lines"][shift]
        if np.isfinite(slope):
            ax.plot(span, slope * span + intercept, color="0.3", label=f"fit ({rows['fit'].iloc[0]})")
        ax.plot(span, span, color="0.6", linestyle="--", label="y = x")
        shown = TICKS[(logit(TICKS / 100) >= span[0]) & (logit(TICKS / 100) <= span[-1])]
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_ticks(logit(np.clip(shown / 100, EPSILON, 1 - EPSILON)), [f"{t:g}" for t in shown])
        ax.set_xlim(span[0], span[-1])
        ax.set_ylim(span[0], span[-1])
        ax.set_xlabel("ImageNet accuracy, same classes (%, logit axis)")
        ax.set_ylabel(f"{shift} accuracy (%, logit axis)")
        ax.set_title(shift, fontsize="medium")
        ax.legend(fontsize="small")
    return fig
