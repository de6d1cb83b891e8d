"""RobustBench's corruptions leaderboard files from one model's cells (facts: RobustBench/robustbench at commit
78fcc9e48a07a861268f295a777b975f25155964, recorded in docs/exporting.md and tests/data/).

- `<id>.json`, as their `model_info/<dataset>/corruptions/*.json`: `name`, `architecture`, `dataset` ("imagenet",
  "cifar10", "cifar100" by class count, else the store's name), and in percent written as their `update_json`
  writes them (`str(round(100 * x, 2))`, e.g. "76.72", "100.0"): `clean_acc`, `corruptions_acc` (mean accuracy
  over `ROBUSTBENCH_CORRUPTIONS` x severities 1-5), `corruptions_mce` (liftbench's mCE over the same 15,
  ImageNet only) and `corruptions_acc_3d` (over `ROBUSTBENCH_3DCC`). A field whose cells are not all in the
  store is left out, never written as zero; `corruptions_mce_3d` is never written (liftbench has no AlexNet
  normaliser for 3DCC). `footnote` (shown on their leaderboard) and `liftbench` carry the settings.
- `unaggregated_results.csv` / `unaggregated_results_3d.csv`: their per-cell accuracy tables (in [0, 1]); two
  header rows (corruption, then severity 1-5), one row named `<id>`, columns in their order (which is not
  Hendrycks'); cells not evaluated are empty. The 3D file only when a 3DCC corruption was evaluated.
"""

import json
import re
from typing import Any

import numpy as np
import pandas as pd

from corruptions.names import SEVERITIES
from robustbench_lift.csv_safe import to_csv
from robustbench_lift.errors import UsageError
from robustbench_lift.report.export_common import settings_line

ROBUSTBENCH_CORRUPTIONS = ("shot_noise", "motion_blur", "snow", "pixelate", "gaussian_noise", "defocus_blur",
                           "brightness", "fog", "zoom_blur", "frost", "glass_blur", "impulse_noise", "contrast",
                           "jpeg_compression", "elastic_transform")
"""Columns of their `unaggregated_results.csv` (`robustbench/data.py` `CORRUPTIONS`, the order of their files)."""
ROBUSTBENCH_3DCC = ("near_focus", "far_focus", "bit_error", "color_quant", "flash", "fog_3d", "h265_abr",
                    "h265_crf", "iso_noise", "low_light", "xy_motion_blur", "z_motion_blur")
"""Columns of their `unaggregated_results_3d.csv` (`robustbench/data.py` `CORRUPTIONS_3DCC`)."""
UNAGGREGATED = {"unaggregated_results.csv": ROBUSTBENCH_CORRUPTIONS,
                "unaggregated_results_3d.csv": ROBUSTBENCH_3DCC}
DATASETS = {"cifar100": 100, "cifar10": 10, "imagenet": 1000}
"""Their `dataset` values and class counts; a store's data set is one when its name starts with it (ignoring case
and punctuation: "ImageNet-C", "CIFAR-10-C") and its cells have that many classes."""


def percent(fraction: float) -> str:
    """`fraction` as RobustBench writes a percentage: rounded to 2 decimals, Python's `str` ("100.0")."""
    return str(round(100 * float(fraction), 2))


def file_id(label: str) -> str:
    """`label` as a file name and CSV row name: characters other than letters, digits, `_`, `-`, `.` -> `_`."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", label)


def robustbench_dataset(cells: pd.DataFrame) -> str:
    """Their `dataset` value of cells of one data set (`DATASETS`), else the store's data set name."""
    name = cells["dataset"].iloc[0]
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    classes = {f.get("num_classes") for f in cells["fingerprint"]}
    return next((dataset for dataset, count in DATASETS.items() if key.startswith(dataset) and classes == {count}),
                name)


def _complete(errors: dict[tuple[str, int], float], corruptions: tuple[str, ...]) -> bool:
    return all((c, s) in errors for c in corruptions for s in SEVERITIES)


def unaggregated_table(errors: dict[tuple[str, int], float], corruptions: tuple[str, ...], row: str) -> pd.DataFrame:
    """One row `row` of accuracies 1 - top-1 error, columns (corruption, severity) over `corruptions` x 1..5 in
    that order; NaN where `errors` has no cell."""
    columns = pd.MultiIndex.from_product([corruptions, SEVERITIES])
    values = [1 - errors[key] if key in errors else np.nan for key in columns]
    return pd.DataFrame([values], index=[row], columns=columns)


def model_info(cells: pd.DataFrame, summary: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Their model_info JSON fields for one model's "c" cells and its `summarize` row (fractions)."""
    errors = {(c, s): e for c, s, e in zip(cells["corruption"], cells["severity"], cells["top1_err"]) if c != "clean"}
    info: dict[str, Any] = {"name": cells["label"].iloc[0], "architecture": cells["model"].iloc[0],
                            "dataset": robustbench_dataset(cells)}
    if pd.notna(summary.get("clean_err", np.nan)):
        info["clean_acc"] = percent(1 - summary["clean_err"])
    if _complete(errors, ROBUSTBENCH_CORRUPTIONS):
        info["corruptions_acc"] = percent(1 - np.mean([summary[f"err/{c}"] for c in ROBUSTBENCH_CORRUPTIONS]))
        if pd.notna(summary.get("mCE", np.nan)):
            info["corruptions_mce"] = percent(summary["mCE"])
    if _complete(errors, ROBUSTBENCH_3DCC):
        info["corruptions_acc_3d"] = percent(1 - np.mean([summary[f"err/{c}"] for c in ROBUSTBENCH_3DCC]))
    return {**info, "footnote": settings_line(settings), "liftbench": settings}


def robustbench_files(cells: pd.DataFrame, summaries: pd.DataFrame, settings: dict[str, Any]) -> dict[str, str]:
    """`<id>.json` and the unaggregated CSVs (module docstring) of one model (its rows of a `load`ed frame, with
    `label`) from its "c" cells on one data set; `summaries` are its `summarize` rows."""
    label = cells["label"].iloc[0]
    c_cells = cells[cells["suite"] == "c"]
    datasets = list(dict.fromkeys(c_cells["dataset"]))
    if len(datasets) != 1:
        found = f"on several data sets ({', '.join(datasets)}); choose one with --dataset" if datasets else \
            "(suite c); evaluate it with `liftbench evaluate --suite c` first"
        raise UsageError(f"RobustBench's corruptions files need one data set of corruption cells: {label} has "
                         f"them {found}")
    summary = summaries[(summaries["suite"] == "c") & (summaries["dataset"] == datasets[0])].iloc[0].to_dict()
    name = file_id(label)
    files = {f"{name}.json": json.dumps(model_info(c_cells, summary, settings), indent=2) + "\n"}
    errors = {(c, s): e for c, s, e in zip(c_cells["corruption"], c_cells["severity"], c_cells["top1_err"])}
    for file, corruptions in UNAGGREGATED.items():
        if any(c in corruptions for c, _ in errors):
            files[file] = to_csv(unaggregated_table(errors, corruptions, name))
    return files
