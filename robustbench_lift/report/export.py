"""`liftbench export`: one model's results as other tools' files, each a pure function of the `load`ed frame.

Formats (`EXPORTERS`; the fields and their sources: docs/exporting.md):
- "robustbench": RobustBench's corruptions `model_info` JSON and its unaggregated accuracy CSVs
  (`report.export_robustbench`);
- "hf": a Hugging Face model card `model-index` block and the Hub's `.eval_results` entries (`report.export_hf`);
- "csv": every cell in one flat table (key, n, errors, the suite's metrics, settings); every model of the
  results unless `model` names one.

The numbers come from `report.aggregate.summarize` (fractions) and the store's cells; every file names
liftbench's version and the settings of its cells (`export_common.export_settings`), so corruptions rendered on the fly
("ImageNet-C style") are never mistaken for results on a released benchmark's images.
"""

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from robustbench_lift import __version__
from robustbench_lift.csv_safe import to_csv
from robustbench_lift.errors import UsageError
from robustbench_lift.report.aggregate import SUMMARIZERS, summarize
from robustbench_lift.report.export_common import SETTING_KEYS, export_settings
from robustbench_lift.report.export_hf import hf_files
from robustbench_lift.report.export_robustbench import robustbench_files
from robustbench_lift.report.summary import closest
from robustbench_lift.store import RESULT_COLUMNS

_NOT_METRICS = {"fingerprint", "seconds", "images_per_second", "run_id", "finished_at", "label", "labels",
                "predictions"}


def select_model(frame: pd.DataFrame, model: str | None) -> pd.DataFrame:
    """The rows of one model of a `load`ed frame: `model` is its label (the name, or `name@sha8` when a name
    has several weights); None only when the frame holds one model. `UsageError` listing the models else."""
    labels = list(dict.fromkeys(frame["label"]))
    if model is None:
        if len(labels) > 1:
            raise UsageError(f"the results hold {len(labels)} models ({', '.join(labels)}); choose one with --model")
        return frame
    return frame[frame["label"] == closest(model, labels, "model")].reset_index(drop=True)


def summary_rows(cells: pd.DataFrame) -> pd.DataFrame:
    """`summarize` rows (fractions, no intervals) of one model's cells, for the suites that have a summariser;
    an empty frame when none has."""
    cells = cells[cells["suite"].isin(list(SUMMARIZERS))]
    return summarize(cells, n_boot=0) if not cells.empty else pd.DataFrame(columns=["suite", "dataset"])


def cells_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell of `frame` as one flat row: `RESULT_COLUMNS` (errors as fractions), the suites' metric columns
    (sorted; empty where a suite has none), `SETTING_KEYS` from the fingerprint, the whole fingerprint as JSON
    (sorted keys) and `liftbench_version`."""
    metrics = sorted(c for c in frame if c not in RESULT_COLUMNS and c not in _NOT_METRICS)
    table = frame[[*RESULT_COLUMNS, *metrics]].copy()
    for key in SETTING_KEYS:
        table[key] = [f.get(key) for f in frame["fingerprint"]]
    table["fingerprint"] = [json.dumps(f, sort_keys=True) for f in frame["fingerprint"]]
    table["liftbench_version"] = __version__
    return table


def _csv_files(frame: pd.DataFrame, model: str | None) -> dict[str, str]:
    rows = frame if model is None else select_model(frame, model)
    return {"cells.csv": to_csv(cells_table(rows), index=False)}


def _robustbench_files(frame: pd.DataFrame, model: str | None) -> dict[str, str]:
    cells = select_model(frame, model)
    return robustbench_files(cells, summary_rows(cells), export_settings(cells))


def _hf_files(frame: pd.DataFrame, model: str | None) -> dict[str, str]:
    cells = select_model(frame, model)
    return hf_files(cells, summary_rows(cells))


EXPORTERS: dict[str, Callable[[pd.DataFrame, str | None], dict[str, str]]] = {
    "robustbench": _robustbench_files, "hf": _hf_files, "csv": _csv_files}
"""Format -> `exporter(frame, model) -> {relative file path: text}`."""


def export(frame: pd.DataFrame, fmt: str, model: str | None = None) -> dict[str, str]:
    """The files of format `fmt` (an `EXPORTERS` key) for `model` of `frame` (the frame of
    `report.summary.load`, with its `label` column): {path relative to the output folder: text}."""
    return EXPORTERS[closest(fmt, list(EXPORTERS), "export format")](frame, model)


def write_export(files: dict[str, str], out: str | Path) -> list[Path]:
    """Write `export`'s files under the folder `out` (created with its parents); returns their paths."""
    written = []
    for name, text in files.items():
        path = Path(out) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
