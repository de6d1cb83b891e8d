"""Report figures (matplotlib, no pyplot: each `Figure` renders through the Agg canvas, no global state).

Every plotting function takes a table of `report.tables` and returns a `matplotlib.figure.Figure`; `save`
writes it as PNG and SVG. Colours follow the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"),
which stays distinguishable under the common colour-vision deficiencies; lines also differ by marker and bars
by hatch, so a figure reads in grey as well.

- `ce_per_corruption`: one group of bars per corruption, one bar per model (CE or mean error, %).
- `error_vs_severity`: one panel per corruption family, one line per model (top-1 error %, severity 0 = clean).
- `mce_vs_clean`: one point per model, mCE (or mean corruption error) against clean error, with 95% CIs.
- `flip_rate`: one group of bars per ImageNet-P perturbation, one bar per model (flip probability %).
- `consistency_vs_shift`: one line per model, agreement with the unshifted prediction (%) against shift (px).
- `forest_plot`: one row per corruption, per model its paired delta to the baseline with the 95% CI.
- `corruption_grid`: one example photograph under each corruption (rows) at each severity (columns).
"""

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import matplotlib.axes
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from corruptions.names import BENCHMARKS, SUBSETS, severities_of
from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.corruption import BENCHMARK_MEAN_ERRORS
from robustbench_lift.report.summary import METRICS, row_kind

if TYPE_CHECKING:
    import torch

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
"""Okabe & Ito (2008) colours, blue first; yellow late because it is faint on white."""
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
HATCHES = ("", "//", "..", "xx", "\\\\", "--", "oo", "++")
FAMILIES = ("noise", "blur", "weather", "digital", *BENCHMARKS)
"""Corruption families of ImageNet-C (Hendrycks & Dietterich 2019), then the other benchmarks (3D Common
Corruptions' 2-D ones, ImageNet-C-bar), as `corruptions.names.SUBSETS`."""
CORRUPTION_AGGREGATES = ("mCE", "mean_err", *BENCHMARK_MEAN_ERRORS.values())
"""What `mce_vs_clean` plots: the first of these a summary has."""
SAVE_RC = {"svg.fonttype": "none", "svg.hashsalt": "liftbench"}
"""SVG text stays text (searchable, small) and ids are stable, so committed reports diff cleanly."""


def style(i: int) -> dict:
    """Colour, marker and hatch of the i-th model, cycling through the palette."""
    return {"color": OKABE_ITO[i % len(OKABE_ITO)], "marker": MARKERS[i % len(MARKERS)],
            "hatch": HATCHES[(i // len(OKABE_ITO)) % len(HATCHES)]}


def _grouped_bars(table: pd.DataFrame, ylabel: str, title: str, reference: float | None = None) -> Figure:
    """Bars of `table` (rows = groups on x, columns = models), one `BarContainer` per model."""
    n_groups, n_models = table.shape
    fig = Figure(figsize=(max(6.0, 0.22 * n_groups * n_models + 2), 3.8), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / max(n_models, 1)
    x = np.arange(n_groups)
    for i, model in enumerate(table.columns):
        s = style(i)
        ax.bar(x + (i - (n_models - 1) / 2) * width, table[model].to_numpy(dtype=float), width, label=str(model),
               color=s["color"], hatch=s["hatch"], edgecolor="white" if not s["hatch"] else "black", linewidth=0.4)
    if reference is not None:
        ax.axhline(reference, color="0.3", linestyle="--", linewidth=0.8, label="AlexNet")
    ax.set_xticks(x, [str(i).replace("_", " ") for i in table.index], rotation=35, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    _legend(ax)
    return fig


def ce_per_corruption(corruption: pd.DataFrame) -> Figure:
    """Grouped bars of `tables.corruption_table`; a dashed line marks AlexNet (100) for CE."""
    quantity = corruption.attrs.get("quantity", "error (%)")
    is_ce = quantity.startswith("CE")
    return _grouped_bars(corruption, quantity, "Corruption error per corruption" if is_ce else
                         "Mean top-1 error per corruption", reference=100.0 if is_ce else None)


def flip_rate(perturbation: pd.DataFrame) -> Figure:
    """Grouped bars of the FP columns of `tables.perturbation_table`."""
    fp = perturbation[[c for c in perturbation.columns if c.endswith(" FP")]]
    fp.columns = [c[: -len(" FP")] for c in fp.columns]
    return _grouped_bars(fp, "flip probability (%)", "ImageNet-P flip probability per perturbation")


def _legend(ax: matplotlib.axes.Axes) -> None:
    """Legend outside the axes on the right, so it never hides data."""
    ax.legend(title="model", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _lines(ax: matplotlib.axes.Axes, table: pd.DataFrame) -> None:
    """One line per column of `table` against its index."""
    for i, model in enumerate(table.columns):
        s = style(i)
        ax.plot(table.index.to_numpy(dtype=float), table[model].to_numpy(dtype=float), label=str(model),
                color=s["color"], marker=s["marker"], markersize=4, linewidth=1.4)
    ax.grid(alpha=0.3)


def error_vs_severity(results: pd.DataFrame) -> Figure:
    """Per family, mean top-1 error (%) of each model at severity 0 (clean) to 5; `results` as from `load`.

    Corruptions outside the `FAMILIES` (the extra ones, a tree's own) form an "other" panel. Severity need not be
    monotone (e.g. snow and elastic_transform at s3 < s2), so points are joined, not fitted.
    """
    family_of = {name: family for family in FAMILIES for name in SUBSETS[family]}
    kinds = row_kind(results)
    cells = results[kinds == "corruption"]
    clean = results[kinds == "clean"].groupby("label")["top1_err"].mean()
    families = cells["corruption"].map(lambda c: family_of.get(c, "other"))
    names = [f for f in (*FAMILIES, "other") if f in set(families)]
    fig = Figure(figsize=(3.0 * len(names) + 0.5, 3.4), layout="constrained")
    axes = fig.subplots(1, len(names), sharey=True, squeeze=False)[0]
    labels = list(dict.fromkeys(results["label"]))
    for ax, family in zip(axes, names):
        rows = cells[families == family]
        table = (100 * rows.groupby(["severity", "label"])["top1_err"].mean()).unstack("label")
        table = pd.concat([(100 * clean).rename(0).to_frame().T, table]).reindex(columns=labels)
        _lines(ax, table.dropna(axis=1, how="all"))
        count = rows["corruption"].nunique()
        ax.set_title(f"{family} ({count} corruption{'s' if count > 1 else ''})")
        ax.set_xlabel("severity (0 = clean)")
        ax.set_xticks(range(0, 6))
    axes[0].set_ylabel("top-1 error (%)")
    _legend(axes[-1])
    return fig


def mce_vs_clean(summary: pd.DataFrame) -> Figure:
    """One point per model: mCE (else a mean corruption error, `CORRUPTION_AGGREGATES`) against clean error, 95%
    CI bars when known."""
    y = next(metric for metric in CORRUPTION_AGGREGATES if metric in summary)
    fig = Figure(figsize=(5.2, 4.2), layout="constrained")
    ax = fig.add_subplot()
    _scatter_with_ci(ax, summary, "clean_err", y)
    ax.set_xlabel("clean top-1 error (%)")
    ax.set_ylabel(f"{METRICS[y].label} (%)")
    ax.set_title(f"{METRICS[y].label} vs clean error (95% CI)")
    ax.grid(alpha=0.3)
    _legend(ax)
    return fig


def _scatter_with_ci(ax: matplotlib.axes.Axes, table: pd.DataFrame, x: str, y: str) -> None:
    """One point per row of `table` (label: its index) at columns `x`, `y`, in the row's style, with the CI bars
    its `<metric>_lo` / `<metric>_hi` columns give."""
    for i, (model, row) in enumerate(table.iterrows()):
        look = style(i)
        xerr, yerr = _ci_err(row, x), _ci_err(row, y)
        if xerr is not None or yerr is not None:
            ax.errorbar(row[x], row[y], xerr=xerr, yerr=yerr, fmt="none", ecolor=look["color"], elinewidth=0.8,
                        capsize=2)
        ax.scatter(row[x], row[y], color=look["color"], marker=look["marker"], s=40, label=str(model), zorder=3)


def _ci_err(row: pd.Series, metric: str) -> np.ndarray | None:
    low, high = row.get(f"{metric}_lo", np.nan), row.get(f"{metric}_hi", np.nan)
    if pd.isna(low) or pd.isna(high):
        return None
    # with very few resamples a percentile interval can miss the point estimate: no bar on that side then
    return np.clip(np.array([[row[metric] - low], [high - row[metric]]]), 0, None)


def consistency_vs_shift(shift: pd.DataFrame) -> Figure:
    """Lines of `tables.shift_table`: agreement (%) with the unshifted prediction per diagonal shift (px)."""
    fig = Figure(figsize=(5.6, 3.8), layout="constrained")
    ax = fig.add_subplot()
    _lines(ax, shift)
    ax.set_xlabel("diagonal shift (pixels)")
    ax.set_ylabel("agreement with unshifted top-1 (%)")
    ax.set_title(shift.attrs.get("title", "Consistency vs shift"), fontsize="medium")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    _legend(ax)
    return fig


def forest_plot(deltas: pd.DataFrame) -> Figure:
    """Forest plot of `report.deltas` "corruption_deltas" (rows corruptions; columns `<model>`, `_lo`, `_hi`):
    one row per corruption, top to bottom in table order, one marker per model at its delta with the CI as a
    horizontal bar; the line at 0 is the baseline."""
    models = [c for c in deltas.columns if not str(c).endswith(("_lo", "_hi"))]
    rows = len(deltas)
    fig = Figure(figsize=(6.0, 0.38 * rows * max(1, len(models)) ** 0.5 + 1.4), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(rows)[::-1].astype(float)
    step = 0.6 / max(len(models), 1)
    for i, model in enumerate(models):
        s = style(i)
        offset = y + (len(models) - 1) / 2 * step - i * step
        values = deltas[model].to_numpy(dtype=float)
        err = np.abs(np.stack([values - deltas[f"{model}_lo"].to_numpy(dtype=float),
                               deltas[f"{model}_hi"].to_numpy(dtype=float) - values]))
        ax.errorbar(values, offset, xerr=err, fmt=s["marker"], color=s["color"], ecolor=s["color"], capsize=2,
                    markersize=5, elinewidth=1.0, label=str(model))
    ax.axvline(0.0, color="0.3", linewidth=0.8, linestyle="--")
    ax.set_yticks(y, [str(c) for c in deltas.index])
    ax.set_ylim(-0.7, rows - 0.3)
    ax.set_xlabel(f"{deltas.attrs.get('quantity', 'delta')}, model - {deltas.attrs.get('baseline', 'baseline')}")
    ax.set_title(f"Paired difference to {deltas.attrs.get('baseline', 'the baseline')} per corruption (95% CI)",
                 fontsize="medium")
    ax.grid(axis="x", alpha=0.3)
    _legend(ax)
    return fig


def corruption_grid(image: "torch.Tensor", names: Sequence[str], severities: Sequence[int] = (1, 2, 3, 4, 5),
                    seed: int = 0, preset: str = "imagenet") -> Figure:
    """`image` (uint8 `(3, H, W)`) clean, then under each corruption (rows) at each severity (columns) it has.

    Rendered with `corruptions.corrupt` (torch backend, severity constants of `preset`) and a `torch.Generator`
    seeded with `seed` per cell.
    """
    import torch

    from corruptions.registry import corrupt

    columns = ["clean", *(f"severity {s}" for s in severities)]
    cell = 1.25
    fig = Figure(figsize=(cell * len(columns) + 0.9, cell * len(names) + 0.4), layout="constrained")
    axes = fig.subplots(len(names), len(columns), squeeze=False)
    batch = image.unsqueeze(0)
    for r, name in enumerate(names):
        for c, severity in enumerate((0, *severities)):
            ax = axes[r, c]
            if severity and severity not in severities_of(name):  # subset "freq": 7 or 8 levels
                ax.axis("off")
                continue
            if severity == 0:
                shown = batch
            else:
                shown = corrupt(batch, name, severity, generator=torch.Generator().manual_seed(seed), backend="torch",
                                preset=preset)
            ax.imshow(shown[0].permute(1, 2, 0).cpu().numpy(), interpolation="antialiased")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(columns[c], fontsize=8)
            if c == 0:
                ax.set_ylabel(name.replace("_", "\n"), fontsize=8)
    return fig


def save(fig: Figure, out_dir: str | Path, name: str, dpi: int = 120) -> list[Path]:
    """Write `<out_dir>/<name>.png` and `.svg` (deterministic SVG, no date) and return both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    with matplotlib.rc_context(SAVE_RC):
        fig.savefig(paths[0], dpi=dpi, metadata={"Software": None})
        fig.savefig(paths[1], metadata={"Date": None})
    return paths


def example_photo(path: str | Path | None = None, size: int = 224) -> "torch.Tensor | None":
    """uint8 `(3, size, size)`: the JPEG/PNG at `path`, else scikit-image's bundled "chelsea" photograph (when
    scikit-image is installed, else None); shorter side resized to `size`, then centre-cropped."""
    import torch
    from torchvision.io import ImageReadMode, decode_image
    from torchvision.transforms.v2.functional import center_crop, resize

    if path is not None:
        if not Path(path).is_file():
            raise UsageError(f"example image {path} does not exist; expected a JPEG or PNG file")
        image = decode_image(str(path), mode=ImageReadMode.RGB)
    else:
        try:
            from skimage import data
        except ImportError:
            return None
        image = torch.from_numpy(data.chelsea()[..., :3].copy()).permute(2, 0, 1)
    return center_crop(resize(image, [size], antialias=True), [size, size]).contiguous()
