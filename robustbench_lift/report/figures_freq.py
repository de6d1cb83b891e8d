"""Figures of suite `freq`: every model's Fourier heat map on one colour scale, each model's difference to the
baseline model with the significant frequencies marked (exact McNemar test per cell on the same images,
Holm-adjusted over the heat map's cells, p < 0.05), and the per-site transmission bars (`store.sites` rows)."""

import math

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from robustbench_lift.metrics.freq import heat_map, is_high, parse_cell
from robustbench_lift.metrics.paired import holm, mcnemar_cell
from robustbench_lift.report.figures import style
from robustbench_lift.report.freq import heat_cells
from robustbench_lift.report.summary import store_paths
from robustbench_lift.store.sites import load_sites

ALPHA = 0.05


def _maps(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Heat-map rows (`fourier_*` cells of suite freq) per model label, in the frame's order."""
    freq = frame[frame["suite"] == "freq"]
    return {label: heat_cells(cells)[0] for label, cells in freq.groupby("label", sort=False)}


def _size(rows: pd.DataFrame) -> tuple[int, int] | None:
    """The (square) spectrum of heat-map rows, from their fingerprints' `input_size`."""
    side = rows["fingerprint"].iloc[0].get("input_size")
    return (side, side) if side else None


def _panels(count: int, width: float = 3.0) -> tuple[Figure, list]:
    cols = min(count, 3)
    rows = math.ceil(count / cols)
    fig = Figure(figsize=(width * cols + 0.8, width * rows), layout="constrained")
    return fig, [fig.add_subplot(rows, cols, i + 1) for i in range(count)]


def _show(ax: matplotlib.axes.Axes, drawn: tuple[np.ndarray, int, int, int], title: str, **style: object) -> object:
    """`metrics.freq.heat_map`'s grid drawn at its offsets (DC at the centre)."""
    grid, u0, v0, step = drawn
    extent = (v0 - step / 2, v0 + step * (grid.shape[1] - 0.5), u0 + step * (grid.shape[0] - 0.5), u0 - step / 2)
    image = ax.imshow(np.ma.masked_invalid(grid), extent=extent, interpolation="nearest", **style)
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel("column frequency v")
    ax.set_ylabel("row frequency u")
    return image


def heat_maps(frame: pd.DataFrame) -> Figure | None:
    """One panel per model: top-1 error (%) per basis image, DC at the centre, one colour scale for all."""
    maps = {label: heat_map(dict(zip(map(parse_cell, rows["corruption"]), 100 * rows["top1_err"])), _size(rows))
            for label, rows in _maps(frame).items() if not rows.empty}
    if not maps:
        return None
    values = np.concatenate([drawn[0][np.isfinite(drawn[0])] for drawn in maps.values()])
    fig, axes = _panels(len(maps))
    for ax, (label, drawn) in zip(axes, maps.items()):
        image = _show(ax, drawn, str(label), cmap="viridis", vmin=values.min(), vmax=values.max())
    fig.colorbar(image, ax=axes, label="top-1 error (%)", shrink=0.8)
    return fig


def _difference(rows: pd.DataFrame, base: pd.DataFrame) -> tuple[dict, dict]:
    """Per offset the error difference (points) of `rows` minus `base` and whether it is significant."""
    base = base.set_index("corruption")
    names = [n for n in rows["corruption"] if n in base.index]
    rows = rows.set_index("corruption").loc[names]
    delta, p = {}, []
    for name in names:
        a, b = base.loc[name], rows.loc[name]
        test = mcnemar_cell(a["predictions"][:, 0] == a["labels"], b["predictions"][:, 0] == b["labels"])
        delta[parse_cell(name)] = 100 * (b["top1_err"] - a["top1_err"])
        p.append(test.p)
    marked = dict(zip(delta, holm(p) < ALPHA)) if p else {}
    return delta, marked


def difference_maps(frame: pd.DataFrame, baseline: str | None) -> Figure | None:
    """One panel per model but the baseline: its heat map minus the baseline's (points, blue = fewer errors, one
    symmetric scale for all), a dot on each frequency whose difference is significant."""
    maps = _maps(frame)
    if baseline not in maps or len(maps) < 2:
        return None
    diffs = {label: _difference(rows, maps[baseline]) for label, rows in maps.items() if label != baseline}
    diffs = {label: d for label, d in diffs.items() if d[0]}
    if not diffs:
        return None
    scale = max(abs(v) for delta, _ in diffs.values() for v in delta.values()) or 1.0
    fig, axes = _panels(len(diffs))
    for ax, (label, (delta, marked)) in zip(axes, diffs.items()):
        size = _size(maps[label])
        image = _show(ax, heat_map(delta, size), f"{label} - {baseline}", cmap="RdBu_r", vmin=-scale, vmax=scale)
        dots = heat_map({o: 1.0 for o, m in marked.items() if m} or {(0, 0): np.nan}, size)
        grid, u0, v0, step = dots
        rows, cols = np.nonzero(grid == 1.0)
        ax.plot(v0 + step * cols, u0 + step * rows, "k.", markersize=4)
    fig.colorbar(image, ax=axes, label=f"top-1 error minus {baseline} (points)", shrink=0.8)
    return fig


def site_transmission(sites: pd.DataFrame) -> pd.DataFrame:
    """Per model and down-sampling site (in the order the model runs them) the ratio of the mean l2 activation
    change after the site to that before it (`store.sites` rows), over the low and over the high frequencies."""
    rows = []
    for model, part in sites.groupby("model", sort=False):
        side = part["fingerprint"].iloc[0].get("input_size", 0)
        high = part["corruption"].map(lambda name: is_high(parse_cell(name), (side, side)))
        order = list(dict.fromkeys(part["site"]))
        for band, mask in (("low", ~high), ("high", high)):
            means = part[mask].groupby(["site", "position"])["l2"].mean()
            rows += [{"model": model, "site": site, "order": order.index(site) + 1, "band": band,
                      "transmission": means[(site, "out")] / means[(site, "in")]} for site in order
                     if (site, "in") in means and means[(site, "in")] > 0]
    return pd.DataFrame(rows)


def site_bars(sites: pd.DataFrame) -> Figure | None:
    """Bars per down-sampling site (1 = the first the input reaches) and model: how much of the activation change a
    Fourier perturbation causes before the site is left after it (`site_transmission`), low and high
    frequencies in two panels."""
    table = site_transmission(sites)
    if table.empty:
        return None
    models = list(dict.fromkeys(table["model"]))
    fig = Figure(figsize=(9.0, 3.4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    width = 0.8 / len(models)
    for ax, band in zip(axes, ("low", "high")):
        part = table[table["band"] == band]
        for i, model in enumerate(models):
            mine = part[part["model"] == model]
            ax.bar(mine["order"] + (i - (len(models) - 1) / 2) * width, mine["transmission"], width,
                   label=model, **{k: v for k, v in style(i).items() if k == "color"})
        ax.set_title(f"{band} frequencies", fontsize="medium")
        ax.set_xlabel("down-sampling site (input first)")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes[0].set_ylabel("l2 change after / before the site")
    axes[1].legend(fontsize="small")
    return fig


def stored_site_bars(results: object) -> dict[str, Figure]:
    """`{"freq_sites": site_bars(...)}` of the `freq_sites` rows of the results store(s) `results` (a path or
    paths; a DataFrame has none), or `{}` when they hold none."""
    paths = store_paths(results)
    if not paths:
        return {}
    sites = pd.concat([load_sites(path) for path in paths], ignore_index=True)
    figure = site_bars(sites) if len(sites) else None
    return {} if figure is None else {"freq_sites": figure}
