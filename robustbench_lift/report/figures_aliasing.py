"""Aliasing figure: per down-sampling site, each model's aliased energy share (bars, left) and the paper's
per-bin classes (stacked bars, right) from `probes.aliasing.measure_aliasing` frames (Okabe-Ito colours)."""

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from robustbench_lift.report.figures import HATCHES, OKABE_ITO, style

CLASS_LABELS = {"nonaliased": "non-aliased", "aliased": "aliased", "tangled": "tangled", "nopass": "no pass"}
"""`metrics.aliasing.CLASSES` (frame columns) -> legend label; named here so the report does not import torch."""


def aliasing_per_site(frames: Mapping[str, pd.DataFrame]) -> Figure:
    """`frames`: model -> its `measure_aliasing` frame. Sites are numbered in module order (1 = nearest the
    input); a site without a stride-1 form (adaptive samplers) has no bar and its form under the axis."""
    models = list(frames)
    sites = max(len(frame) for frame in frames.values())
    fig = Figure(figsize=(min(14.0, 4 + 0.9 * sites), 3.6), layout="constrained")
    share, classes = fig.subplots(1, 2, gridspec_kw={"width_ratios": (1, 1.3)})
    x, width = np.arange(1, sites + 1), 0.8 / len(models)
    for i, model in enumerate(models):
        frame = frames[model].reset_index(drop=True)
        position = x[:len(frame)] - 0.4 + width * (i + 0.5)
        share.bar(position, 100 * frame["aliased_share"].to_numpy(float), width, label=model,
                  color=style(i)["color"], hatch=HATCHES[i % len(HATCHES)], edgecolor="white")
        bottom = np.zeros(len(frame))
        for k, name in enumerate(CLASS_LABELS):
            values = 100 * frame[name].to_numpy(float)
            classes.bar(position, values, width, bottom=bottom, color=OKABE_ITO[k], hatch=HATCHES[i % len(HATCHES)],
                        edgecolor="white", label=CLASS_LABELS[name] if i == 0 else None)
            bottom = bottom + np.nan_to_num(values)
        for j, form in enumerate(frame["form"]):
            if form != "polyphase":
                share.annotate(form, (position[j], 0), rotation=90, ha="center", va="bottom", fontsize=7)
    share.set(xlabel="down-sampling site", ylabel="aliased energy share (%)", xticks=x,
              title="energy folded into the output band")
    classes.set(xlabel="down-sampling site", ylabel="share of output bins (%)", xticks=x, ylim=(0, 100),
                title="per-bin classes (Ribeiro & Schoen; hatch: model)")
    share.legend(fontsize=7, frameon=False)
    classes.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    return fig
