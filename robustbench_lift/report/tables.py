"""Report tables (pandas) and their Markdown, CSV, LaTeX (booktabs) and HTML renderings.

All values are percent points. Tables (each a DataFrame; `attrs["title"]` and `attrs["quantity"]` describe it):

- `summary_table` (from `report.summary`): per model clean error, mCE, relative mCE, mean corruption error,
  mFP, mFR, mT5D, consistency with 95% bootstrap CIs (`<metric>_lo`, `<metric>_hi`); absent metrics omitted.
  The report shows it as one table per task (`SUMMARIES`, `task_summary`): classification and segmentation.
- `delta_table`: each metric minus the baseline model's (negative = better, except consistency); with the
  bootstrap, `report.deltas` adds paired CIs, significance marks and the per-corruption paired deltas.
- `corruption_table`: rows corruptions, columns models: CE (AlexNet = 100) on ImageNet-like data, else mean
  top-1 error over the severities.
- `severity_table`: rows models, columns clean and severities 1..5: top-1 error averaged over corruptions.
- `perturbation_table` ("p" rows): rows perturbations, columns `<model> FP`, `<model> uT5D` (and FR, T5D).
- `shift_table` (diagonal "shift" rows with `agreement`): rows shift in pixels, columns models.

The best value per metric column (summary, deltas) or per row (corruption) is marked bold.
"""

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from corruptions.names import CORRUPTIONS
from robustbench_lift.csv_safe import to_csv
from robustbench_lift.registry import resolve
from robustbench_lift.report import FORMATS
from robustbench_lift.report.deltas import paired_deltas
from robustbench_lift.report.face import TableOptions
from robustbench_lift.report.faces import FACES
from robustbench_lift.report.summary import (
    METRICS,
    ResultsLike,
    closest,
    load,
    row_kind,
    suite_summaries,
    summary_table,
)

SUMMARIES = {"summary": ("classification", "Summary (%, 95% bootstrap CI)"),
             "seg_summary": ("segmentation", "Segmentation summary (%, 95% bootstrap CI)")}
"""The report's summary tables: name -> (the `Metric.task` of its columns, title). One per task, so a model
without a task's metrics has no row of dashes there."""


def task_summary(summary: pd.DataFrame, task: str) -> pd.DataFrame:
    """The columns of `summary` (`summary_table`) whose metric has `Metric.task` `task` (with their bounds), and
    the models that measured at least one of them."""
    metrics = [m for m in METRICS if METRICS[m].task == task and m in summary]
    columns = [c for m in metrics for c in (m, f"{m}_lo", f"{m}_hi") if c in summary]
    return summary.loc[summary[metrics].notna().any(axis=1), columns]


def delta_table(summary: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Point metrics of `summary` minus those of model `baseline` (points); the baseline's row is all zeros."""
    baseline = closest(baseline, list(summary.index), "baseline model")
    values = summary[[m for m in METRICS if m in summary]]
    table = values - values.loc[baseline]
    table.attrs.update(title=f"Difference to {baseline} (points; negative is better except consistency)",
                       quantity="delta (points)", baseline=baseline)
    return table


def corruption_table(results: ResultsLike) -> pd.DataFrame:
    """CE per corruption (AlexNet = 100) per model when every model has it (ImageNet) for every corruption, else
    the mean top-1 error over the evaluated severities (e.g. with 3DCC or ImageNet-C-bar corruptions, which have
    no AlexNet normaliser): the `CE/<c>` or `err/<c>` columns of `report.aggregate`."""
    frame = load(results)
    models = list(dict.fromkeys(frame.loc[row_kind(frame) == "corruption", "label"]))
    if not models:
        return pd.DataFrame()
    per_suite, _ = suite_summaries(frame, ci=False)
    per_model = per_suite.groupby("label", sort=False).first().reindex(models)
    normalise = all(per_model.get("normalised", pd.Series(False, index=models)).fillna(False)) and all(
        f"CE/{c[len('err/'):]}" in per_model for c in per_model if c.startswith("err/"))
    prefix = "CE/" if normalise else "err/"
    columns = [c for c in per_model if c.startswith(prefix) and not c.endswith(("_lo", "_hi"))]
    table = 100 * per_model[columns].T.rename(index=lambda c: c[len(prefix):]).dropna(how="all")
    table = table.loc[sorted(table.index, key=corruption_order)]
    table.index.name, table.columns.name = "corruption", None
    quantity = "CE (%, AlexNet = 100)" if normalise else "mean top-1 error over severities (%)"
    table.attrs.update(title=f"Per-corruption {quantity}", quantity=quantity)
    return table


def corruption_order(name: str) -> tuple[int, str]:
    """Sort key: the registry's order (ImageNet-C's 15 by family, the 4 extra, then 3DCC's and ImageNet-C-bar's),
    unknown names last by name."""
    order = list(CORRUPTIONS)
    return (order.index(name), name) if name in order else (len(order), name)


def severity_table(results: ResultsLike) -> pd.DataFrame:
    """Top-1 error (%) per model on clean images and at each severity averaged over the corruptions."""
    frame = load(results)
    kinds = row_kind(frame)
    rows = frame[kinds.isin(["clean", "corruption"])]
    table = (100 * rows.groupby(["label", "severity"], sort=False)["top1_err"].mean()).unstack("severity")
    table = table[sorted(table.columns)].rename(columns={0: "clean"})
    table.columns = [str(c) for c in table.columns]
    table.index.name = "model"
    table.attrs.update(title="Top-1 error (%) by severity, averaged over corruptions", quantity="top-1 error (%)")
    return table


P_COLUMNS = {"flip_prob": ("FP", 100.0), "ut5d": ("uT5D", 1.0), "fr": ("FR", 100.0), "t5d": ("T5D", 100.0)}
"""Per-cell scalars of "p" cells shown in the perturbation table: column -> (header, scale to display)."""


def perturbation_table(results: ResultsLike) -> pd.DataFrame:
    """Per ImageNet-P perturbation (difficulty <= 1) and model: flip probability (%), uT5D and, when the suite
    stores them, FR and T5D (%, baseline = 100). Columns `<model> <FP|uT5D|FR|T5D>`."""
    frame = load(results)
    rows = frame[(row_kind(frame) == "p") & (frame["severity"] <= 1)]
    parts = {}
    for label, cells in rows.groupby("label", sort=False):
        for column, (header, scale) in P_COLUMNS.items():
            if column in cells and cells[column].notna().any():
                parts[f"{label} {header}"] = scale * cells.set_index("corruption")[column]
    table = pd.DataFrame(parts)
    table.index.name = "perturbation"
    table.attrs.update(title="ImageNet-P flip probability (FP, %), top-5 distance (uT5D) per perturbation",
                       quantity="FP / uT5D")
    return table


def shift_table(results: ResultsLike) -> pd.DataFrame:
    """Agreement (%) with the unshifted prediction per diagonal shift (pixels) per model."""
    frame = load(results)
    if "agreement" not in frame:
        return pd.DataFrame()
    rows = frame[(row_kind(frame) == "shift") & frame["agreement"].notna()]
    table = (100 * rows.pivot_table(index="severity", columns="label", values="agreement", sort=False))
    table.index.name = "shift (px)"
    table.columns.name = None
    modes = sorted(set(rows["shift_mode"].dropna())) if "shift_mode" in rows else []
    mode = f" ({', '.join(modes)} shifts)" if modes else ""
    table.attrs.update(title=f"Agreement with the unshifted prediction (%) by diagonal shift{mode}",
                       quantity="agreement (%)")
    return table


def best_mask(table: pd.DataFrame, along: str, higher_is_better: Sequence[bool] | bool = False) -> pd.DataFrame:
    """True at the best value of each column (`along="column"`) or each row (`along="row"`); ties all marked."""
    values = table.astype(float)
    if along == "row":
        return best_mask(values.T, "column", higher_is_better).T
    higher = [higher_is_better] * values.shape[1] if isinstance(higher_is_better, bool) else list(higher_is_better)
    signed = values * np.where(higher, -1.0, 1.0)
    return signed.eq(signed.min(axis=0), axis=1) & values.notna()


def _cells(table: pd.DataFrame, digits: int) -> pd.DataFrame:
    """Formatted strings; summary metrics with CI columns become 'v [lo, hi]'."""
    metric_cols = [c for c in table.columns if not str(c).endswith(("_lo", "_hi"))]

    def fmt(value: object) -> str:
        if isinstance(value, (str, bool, np.bool_)):
            return str(value)
        return "–" if pd.isna(value) else f"{value:.{digits}f}"
    out = pd.DataFrame(index=table.index)
    for column in metric_cols:
        text = table[column].map(fmt)
        if f"{column}_lo" in table and table[f"{column}_lo"].notna().any():
            text = text + table.apply(lambda r: "" if pd.isna(r[f"{column}_lo"]) else
                                      f" [{fmt(r[f'{column}_lo'])}, {fmt(r[f'{column}_hi'])}]", axis=1)
        out[column] = text
    return out


def _header(column: object) -> str:
    return METRICS[column].label if column in METRICS else str(column)


def render(table: pd.DataFrame, fmt: str, best: pd.DataFrame | None = None, digits: int = 1) -> str:
    """`table` as Markdown ("md"), CSV ("csv": raw numbers, text spreadsheet-safe: `csv_safe`), LaTeX booktabs
    ("tex") or an HTML `<table>`.

    `best`: boolean mask over the metric columns (from `best_mask`) of values to set in bold.
    """
    if fmt == "csv":
        return to_csv(table, float_format="%.4f")
    if fmt not in FORMATS:
        closest(fmt, list(FORMATS), "table format")
    cells = _cells(table, digits)
    bold = pd.DataFrame(False, index=cells.index, columns=cells.columns) if best is None else \
        best.reindex(index=cells.index, columns=cells.columns).fillna(False).astype(bool)
    header = [str(table.index.name or ""), *(_header(c) for c in cells.columns)]
    body = [[(str(i), False), *zip(row, flags)]
            for i, row, flags in zip(cells.index, cells.itertuples(index=False), bold.itertuples(index=False))]
    return _FORMATTERS[fmt](header, body)


def _markdown(header: list[str], body: list[list[tuple[str, bool]]]) -> str:
    def md(text: str, bold: bool) -> str:
        text = text.replace("|", "\\|")
        return f"**{text}**" if bold else text
    lines = [header, ["---"] + ["---:"] * (len(header) - 1), *([md(*c) for c in row] for row in body)]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n"


def _latex(header: list[str], body: list[list[tuple[str, bool]]]) -> str:
    def tex(text: str, bold: bool = False) -> str:
        text = "".join(_TEX_ESCAPES.get(char, char) for char in text)
        return rf"\textbf{{{text}}}" if bold else text
    rows = [" & ".join(tex(*c) for c in row) + r" \\" for row in body]
    return "\n".join([rf"\begin{{tabular}}{{l{'r' * (len(header) - 1)}}}", r"\toprule",
                      " & ".join(tex(h) for h in header) + r" \\", r"\midrule", *rows, r"\bottomrule",
                      r"\end{tabular}"]) + "\n"


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--"}


def _html(header: list[str], body: list[list[tuple[str, bool]]]) -> str:
    def cell(text: str, bold: bool, tag: str) -> str:
        text = html.escape(text)
        return f"<{tag}>{'<strong>' + text + '</strong>' if bold else text}</{tag}>"
    head = "<tr>" + "".join(cell(h, False, "th") for h in header) + "</tr>"
    rows = ["<tr>" + cell(*row[0], "th") + "".join(cell(*c, "td") for c in row[1:]) + "</tr>" for row in body]
    return f"<table>\n<thead>{head}</thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n"


_FORMATTERS = {"md": _markdown, "tex": _latex, "html": _html}


def report_tables(results: ResultsLike, baseline: str | None = None, n_boot: int = 1000, seed: int = 0,
                  datasets: Sequence[str] | None = None, er_fits: Mapping[str, tuple[float, float]] | None = None
                  ) -> dict[str, tuple[pd.DataFrame, pd.DataFrame | None]]:
    """The report tables by name, each with its best-value mask: `{name: (table, best)}`.

    Names: summary (always, classification metrics; empty when no suite has a summariser), seg_summary
    (segmentation metrics, when measured), deltas (with `baseline`; with `n_boot`
    paired CIs, bold = significant, and corruption_deltas), and the non-empty detail tables of every suite's face
    (`report/faces`: corruption, severity, perturbation, shift, seg_corruption, seg_cd, seg_severity,
    effective_robustness: its line fitted over the models, or given in `er_fits` as `{set: (slope, intercept)}`).
    """
    frame = load(results, predictions=True, datasets=datasets)
    summary = summary_table(frame, n_boot=n_boot, seed=seed)
    metric_cols = [m for m in METRICS if m in summary]
    higher = [METRICS[m].higher_is_better for m in metric_cols]
    tables = {}
    for name, (task, title) in SUMMARIES.items():
        part = task_summary(summary, task)
        if name == "summary" or not part.empty:
            part.attrs.update(summary.attrs, title=title, quantity="points")
            columns = [m for m in metric_cols if m in part]
            tables[name] = (part, best_mask(part[columns], "column", [METRICS[m].higher_is_better for m in columns]))
    if baseline is not None:
        deltas = delta_table(summary, baseline)
        tables["deltas"] = (deltas, best_mask(deltas, "column", higher))
        if n_boot:
            tables.update(paired_deltas(frame, deltas, deltas.attrs["baseline"], n_boot, seed))
        if "corruption_deltas" in tables:
            corr, marks = tables["corruption_deltas"]
            order = sorted(corr.index, key=corruption_order)
            tables["corruption_deltas"] = (corr.loc[order], marks.loc[order])
    options = TableOptions(n_boot, seed, dict(er_fits or {}))
    for spec in (spec for _, face in FACES.items() for spec in face.tables):
        table = resolve(spec.build)(frame, options) if spec.options else resolve(spec.build)(frame)
        if not table.empty:
            higher = spec.higher_is_better
            tables[spec.name] = (table, None if higher is None else best_mask(table, "row", higher))
    return tables


def check_formats(formats: Sequence[str]) -> None:
    """`UsageError` naming the closest valid format for any of `formats` not in `FORMATS`."""
    for fmt in formats:
        closest(fmt, list(FORMATS), "format")


def write_tables(tables: dict[str, tuple[pd.DataFrame, pd.DataFrame | None]], out_dir: str | Path,
                 formats: Sequence[str] = ("md", "csv", "tex")) -> list[Path]:
    """Write `<name>.<fmt>` for every non-empty table and table format ("html" is the page of `report.html`)."""
    check_formats(formats)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (table, best) in tables.items():
        if table.empty:
            continue
        for fmt in (f for f in formats if f != "html"):
            path = out_dir / f"{name}.{fmt}"
            path.write_text(render(table, fmt, best))
            written.append(path)
    return written
