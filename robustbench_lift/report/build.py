"""`build_report`: tables, figures and the HTML page of one or more results stores, in one folder.

Layout of `out_dir`: `report.html` (self-contained), `tables/<name>.<md|csv|tex>`, `figures/<name>.<png|svg>`.
"""

from collections.abc import Mapping, Sequence
from dataclasses import astuple
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from corruptions.names import CORRUPTIONS
from robustbench_lift import __version__
from robustbench_lift.registry import resolve
from robustbench_lift.report import FORMATS, face, figures
from robustbench_lift.report.faces import FACES
from robustbench_lift.report.figures_freq import stored_site_bars
from robustbench_lift.report.html import Section, write_page
from robustbench_lift.report.notes import clean_read_note, precision_note
from robustbench_lift.report.summary import METRICS, ResultsLike, load, row_kind, store_paths
from robustbench_lift.report.tables import (
    SUMMARIES,
    check_formats,
    corruption_order,
    render,
    report_tables,
    write_tables,
)

if TYPE_CHECKING:
    import torch

TableSet = dict[str, tuple[pd.DataFrame, pd.DataFrame | None]]

SUMMARY_SECTIONS = (
    face.Section("Summary", "summary", None, "Percent points with 95% percentile-bootstrap intervals over images "
                 "(videos for ImageNet-P); best value per column in bold. Lower is better except consistency."),
    face.Section("Segmentation summary", "seg_summary", None, "Suite seg: percent points with 95% "
                 "percentile-bootstrap intervals over images; best value per column in bold. Higher is better "
                 "except mCD."),
    face.Section("Difference to the baseline model", "deltas", None, "Point values minus the baseline model's; "
                 "with the bootstrap, each with its paired 95% CI (the same resampled images for both models and "
                 "every cell) and in bold when significant (two-sided paired p: McNemar's exact test for the clean "
                 "error, the bootstrap's otherwise; Holm-adjusted over the model's metrics, < 0.05)."),
)
GRID_SECTION = face.Section("What was measured", None, "corruption_grid", "One photograph under each evaluated "
                            "corruption at each severity, rendered by `corruptions.corrupt` (torch backend, seeded, "
                            "with the cells' severity constants).")
ALIASING_SECTION = face.Section("Aliasing per down-sampling site", None, "aliasing", "Per site of each model probed "
                                "(`probes.aliasing`, docs/aliasing.md): the share of the stride-1 map's energy that "
                                "decimation folds into the output band, and Ribeiro & Schoen's per-bin classes. "
                                "Adaptive samplers (aps, lps) have no stride-1 map and no bar.")


def sections() -> list[face.Section]:
    """The sections of report.html in order: the summaries and deltas, every suite's face (`report/faces`, in
    priority order), the corruption grid, the aliasing probe."""
    return [*SUMMARY_SECTIONS, *(s for _, suite_face in FACES.items() for s in suite_face.sections), GRID_SECTION,
            ALIASING_SECTION]


PHOTO_FIGURES = ("corruption_grid", "seg_qualitative")
"""Figures of pixels, embedded in the HTML as PNG."""


def grid_names(frame: pd.DataFrame) -> list[str]:
    """Corruptions of the results that `corruptions` can render, in the tables' order."""
    known = set(CORRUPTIONS)
    names = frame.loc[row_kind(frame) == "corruption", "corruption"].unique()
    return sorted((n for n in names if n in known), key=corruption_order)


def grid_preset(frame: pd.DataFrame) -> str:
    """The severity preset for the corruption grid: `"cifar"` when every corruption cell was made with CIFAR-10-C's
    constants (on the fly with that preset, or released CIFAR-C arrays), else `"imagenet"`."""
    fingerprints = frame.loc[row_kind(frame) == "corruption"].get("fingerprint", pd.Series(dtype=object))

    def preset(fingerprint: dict) -> str:
        cifar = fingerprint.get("preset") == "cifar" or fingerprint.get("source") == "cifar-c"
        return "cifar" if cifar else "imagenet"

    found = set(fingerprints.map(preset))
    return found.pop() if len(found) == 1 else "imagenet"


def build_report(results: ResultsLike, out_dir: str | Path, baseline: str | None = None,
                 formats: Sequence[str] = FORMATS, example_image: "str | Path | torch.Tensor | None" = None,
                 grid: bool = True, n_boot: int = 1000, seed: int = 0, datasets: Sequence[str] | None = None,
                 extra_figures: Mapping[str, Any] | None = None,
                 er_fits: Mapping[str, tuple[float, float]] | None = None) -> list[Path]:
    """Write tables, figures and (with "html" in `formats`) `report.html` into `out_dir`; return every path.

    `baseline`: model label for the difference table. `example_image`: a photo file or uint8 `(3, H, W)` tensor
    for the corruption grid (default: scikit-image's "chelsea" when installed); `grid=False` skips the grid.
    `extra_figures`: figures made by the caller, which has the models (e.g. `"seg_qualitative"`:
    `report.qualitative.qualitative_grid`), saved and shown in their section (`sections`). `er_fits`: given
    effective-robustness lines `{shifted set: (slope, intercept)}` (logit axes) instead of the fit over the models.
    """
    check_formats(formats)
    out_dir = Path(out_dir)
    frame = load(results, predictions=True, datasets=datasets)
    tables = report_tables(frame, baseline=baseline, n_boot=n_boot, seed=seed, er_fits=er_fits)
    written = write_tables(tables, out_dir / "tables", formats)
    plots = {**_figures(frame, tables, example_image, grid, seed), **_probe_figures(results),
             **stored_site_bars(results), **(extra_figures or {})}
    figure_files = {name: figures.save(fig, out_dir / "figures", name) for name, fig in plots.items()}
    written += [p for paths in figure_files.values() for p in paths]
    if "html" in formats:
        written.append(_write_html(out_dir, frame, tables, figure_files, written, n_boot))
    return written


def _probe_figures(results: ResultsLike) -> dict:
    """The aliasing figure of the probes stored in the results stores (none for a frame or stores without)."""
    from robustbench_lift.probes.store import load_probes
    from robustbench_lift.report.figures_aliasing import aliasing_per_site

    found = [frame for frame in (load_probes(path, "aliasing") for path in store_paths(results)) if not frame.empty]
    if not found:
        return {}
    sites = pd.concat(found, ignore_index=True)
    several = sites["dataset"].nunique() > 1
    return {"aliasing": aliasing_per_site({f"{model} / {data}" if several else model: group for (model, data), group
                                           in sites.groupby(["model", "dataset"], sort=False)})}


def _figures(frame: pd.DataFrame, tables: TableSet, example_image: "str | Path | torch.Tensor | None",
             grid: bool, seed: int) -> dict:
    plots = {}
    for spec in (spec for _, suite_face in FACES.items() for spec in suite_face.figures):
        figure = resolve(spec.make)(frame, tables)
        if figure is not None:
            plots[spec.name] = figure
    names = grid_names(frame) if grid else []
    photo = None
    if names:
        import torch

        photo = example_image if isinstance(example_image, torch.Tensor) else figures.example_photo(example_image)
    if photo is not None:
        severities = sorted(int(s) for s in frame.loc[row_kind(frame) == "corruption", "severity"].unique() if s > 0)
        plots["corruption_grid"] = figures.corruption_grid(photo, names, severities, seed=seed,
                                                           preset=grid_preset(frame))
    return plots


def _write_html(out_dir: Path, frame: pd.DataFrame, tables: TableSet, figure_files: dict[str, list[Path]],
                written: list[Path], n_boot: int) -> Path:
    summary = tables["summary"][0]
    models = ", ".join(dict.fromkeys(frame["label"]))
    meta = [f"Models: {models}.", f"Data sets: {', '.join(sorted(set(frame['dataset'])))}; suites: "
            f"{', '.join(sorted(set(frame['suite'])))}.",
            f"Precision: {precision_note(frame)}.",
            f"Confidence intervals: 95% percentile bootstrap, {n_boot} resamples.",
            f"Generated by liftbench {__version__}."]
    if "p" in set(frame["suite"]):
        meta.insert(-1, f"ImageNet-P baseline for FR/T5D: {summary.attrs.get('p_baseline', 'none')}.")
    if summary.attrs.get("shift_mode"):
        meta.insert(-1, f"Shift consistency: {summary.attrs['shift_mode']} shifts (windows past the image read "
                        "zeros for crop, wrap around for circular).")
    clean_read = clean_read_note(frame)
    if clean_read:
        meta.insert(-1, clean_read[0].upper() + clean_read[1:] + ".")
    skipped = summary.attrs.get("skipped_suites")
    if skipped:
        meta.insert(-1, f"Suites without a summary yet (detail tables only): {', '.join(skipped)}.")
    shown = [tables[name][0] for name in SUMMARIES if name in tables]
    glossary = {METRICS[m].label: METRICS[m].description for m in METRICS if any(m in t for t in shown)}
    shown_sections = []
    for title, table_name, figure_name, text in (astuple(section) for section in sections()):
        table = tables.get(table_name)
        table = table if table is not None and not table[0].empty else None
        files = figure_files.get(figure_name, [])
        if table is None and not files:
            continue
        links = [p for p in written if table_name and p.parent.name == "tables" and p.stem == table_name] + files
        # Photos embed as PNG (an SVG would carry the same pixels, base64, several times larger).
        figure = next((p for p in files if p.suffix == (".png" if figure_name in PHOTO_FIGURES else ".svg")), None)
        caption = table[0].attrs.get("title", "") if table is not None else ""
        shown_sections.append(Section(title, text, render(table[0], "html", table[1]) if table is not None else "",
                                      figure, caption, links))
    return write_page(out_dir / "report.html", "liftbench robustness report", meta, glossary, shown_sections)
