"""Hugging Face metadata of one model's summaries (formats: docs/exporting.md, with their sources).

- `model-index.yaml`: the model card's `model-index` block (huggingface/hub-docs `modelcard.md`): one result per
  summarised (suite, data set) with `task` (type, name), `dataset` (type, name, `args` = the settings) and
  `metrics` (type = liftbench's metric key, name = its label, value in percent points as the report shows it).
  The dataset's pretty name says when the corruptions were rendered on the fly.
- `.eval_results/liftbench.yaml`: the Hub's evaluation results (hub-docs `docs/hub/eval-results.md`): a list
  with one entry per metric, `dataset.id` = the store's data set name, `dataset.task_id` = the metric key,
  `value` in points and `notes` naming the metric and the settings.
Both files start with a YAML comment naming liftbench's version and the settings.
"""

from typing import Any

import pandas as pd
import yaml

from robustbench_lift.errors import UsageError
from robustbench_lift.report.aggregate import SUMMARIZERS
from robustbench_lift.report.export_common import ON_THE_FLY_NOTE, export_settings, settings_line
from robustbench_lift.report.summary import METRICS

TASKS = {"seg": ("image-segmentation", "Image Segmentation")}
"""Suite -> Hub task (type, name); other suites are image classification."""
CLASSIFICATION = ("image-classification", "Image Classification")
ON_THE_FLY_NAME = "{} (corrupted on the fly by liftbench, ImageNet-C style: not the released images)"
"""Pretty name of a data set whose corruptions liftbench rendered (`export.ON_THE_FLY_NOTE`)."""


def metric_values(summary: dict[str, Any]) -> dict[str, float]:
    """The `METRICS` of a `summarize` row that it has, in percent points (rounded to 4 decimals), in order."""
    return {key: round(100 * float(summary[key]), 4) for key in METRICS if pd.notna(summary.get(key, float("nan")))}


def _results(cells: pd.DataFrame, summaries: pd.DataFrame) -> list[tuple[dict[str, Any], dict[str, float], dict]]:
    rows = []
    for summary in summaries.to_dict("records"):
        values = metric_values(summary)
        if values:
            group = cells[(cells["suite"] == summary["suite"]) & (cells["dataset"] == summary["dataset"])]
            rows.append((summary, values, export_settings(group)))
    if not rows:
        raise UsageError(f"{cells['label'].iloc[0]} has no summarised metric to export; evaluate a suite with "
                         f"metrics first ({', '.join(SUMMARIZERS)})")
    return rows


def model_index(label: str, cells: pd.DataFrame, summaries: pd.DataFrame) -> dict[str, Any]:
    """The `model-index` mapping of model `label` from its cells and their `summarize` rows."""
    results = []
    for summary, values, settings in _results(cells, summaries):
        task, task_name = TASKS.get(summary["suite"], CLASSIFICATION)
        on_the_fly = settings.get("note") == ON_THE_FLY_NOTE
        name = ON_THE_FLY_NAME.format(summary["dataset"]) if on_the_fly else summary["dataset"]
        results.append({
            "task": {"type": task, "name": task_name},
            "dataset": {"type": summary["dataset"], "name": name,
                        "args": {k: v for k, v in settings.items() if k != "note"}},
            "metrics": [{"type": key, "name": f"{METRICS[key].label} (%)", "value": value}
                        for key, value in values.items()]})
    return {"model-index": [{"name": label, "results": results}]}


def eval_results(cells: pd.DataFrame, summaries: pd.DataFrame) -> list[dict[str, Any]]:
    """The `.eval_results` entries of one model: one per (suite, data set, metric)."""
    return [{"dataset": {"id": summary["dataset"], "task_id": key}, "value": value,
             "notes": f"{METRICS[key].label} (%); {settings_line(settings)}"}
            for summary, values, settings in _results(cells, summaries) for key, value in values.items()]


def hf_files(cells: pd.DataFrame, summaries: pd.DataFrame) -> dict[str, str]:
    """`model-index.yaml` and `.eval_results/liftbench.yaml` of one model (its rows of a `load`ed frame)."""
    label = cells["label"].iloc[0]
    header = f"# liftbench export of {label}: {settings_line(export_settings(cells))}\n"
    dump = {"sort_keys": False, "allow_unicode": True, "width": 120}
    return {"model-index.yaml": header + yaml.safe_dump(model_index(label, cells, summaries), **dump),
            ".eval_results/liftbench.yaml": header + yaml.safe_dump(eval_results(cells, summaries), **dump)}
