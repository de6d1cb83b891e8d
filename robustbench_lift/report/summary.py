"""The per-model summary of a report, on top of `robustbench_lift.report.aggregate.summarize` (which computes every
metric and its bootstrap CI per (model, weights, suite, data set) with `robustbench_lift.metrics`).

Input: the DataFrame of `robustbench_lift.store.load_results` (one row per cell), or paths to stores. A model
is one `(model, weights_sha256)`; its label is the model name, plus `@<sha256[:8]>` when one name comes with
several weights. This module merges a model's suite rows into one report row in percent points and keeps
only the `METRICS` columns (and their `_lo`/`_hi` bounds); suites without a registered summariser are
skipped (listed in `attrs["skipped_suites"]`), so their metrics are simply absent until one is registered.

Columns expected from the summarisers (fractions; `<name>_lo`/`<name>_hi` interval bounds):
- "c" / "clean": clean_err, mCE, rel_mCE, mean_err, mean_err/<benchmark> (3dcc, cbar: mean errors, having no
  AlexNet normaliser), CE/<corruption> (as `report.aggregate` has them);
- "p": mFP (mean raw flip probability), mFR, mT5D (ratios to the baseline, 1 = baseline) and the text
  column `p_baseline` naming that baseline;
- "shift": consistency (fraction of crop pairs with the same top-1) and the text column `shift_mode`;
- "seg": clean_mIoU, clean_pixel_acc, mean_mIoU, mCD (1 = the seg baseline), seg_consistency
  (`report.segmentation`).
Per-cell scalars (the store's `metrics` JSON, one column each) used by the detail tables: "p" cells
`flip_prob` (fraction) and `ut5d`, optionally `fr` and `t5d`; "shift" diagonal-curve cells `agreement`
(fraction agreeing with the unshifted prediction) with severity = the shift in pixels.
"""

import difflib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from robustbench_lift.errors import UsageError
from robustbench_lift.report.aggregate import SUMMARIZERS, summarize
from robustbench_lift.report.faces import FACES, face_metrics
from robustbench_lift.store import KEY_COLUMNS, load_results

ResultsLike = pd.DataFrame | str | Path | Sequence[str | Path]


METRICS = face_metrics()
"""Every reported metric in display order (the suites' `report/faces`, in priority order), the one label table
of the report, `check`, `compare` and the CLI; all in percent points, lower is better except consistency, shift
accuracy and the segmentation mIoUs, pixel accuracy and consistency."""


def store_paths(results: ResultsLike) -> list[str | Path]:
    """The store paths `results` names (a path or several); none for a DataFrame."""
    if isinstance(results, pd.DataFrame):
        return []
    return [results] if isinstance(results, (str, Path)) else list(results)


def describe(results: ResultsLike) -> str:
    """The results for messages: "the results" (a DataFrame) or the store paths."""
    if isinstance(results, pd.DataFrame):
        return "the results"
    return ", ".join(map(str, store_paths(results)))


def load(results: ResultsLike, predictions: bool = False, datasets: Sequence[str] | None = None) -> pd.DataFrame:
    """One results DataFrame from a DataFrame or store path(s); cells present in two stores must agree.

    `datasets` keeps only rows of those data sets. Raises `UsageError` for empty results. A frame this function
    returned (it has `label`) comes back as it is, not copied: each command loads its results once and hands the
    frame to every table, summary and test.
    """
    if isinstance(results, pd.DataFrame) and "label" in results and not datasets and not results.empty:
        return results
    origin = describe(results)
    if isinstance(results, pd.DataFrame):
        frame = results.copy()
    else:
        paths = store_paths(results)
        if not paths:
            raise UsageError("no results store given: expected at least one file written by `liftbench evaluate`")
        frame = pd.concat([load_results(p, predictions=predictions) for p in paths], ignore_index=True)
        duplicated = frame.duplicated(list(KEY_COLUMNS), keep=False)
        if duplicated.any():
            clash = frame[duplicated].groupby(list(KEY_COLUMNS))["top1_err"].nunique(dropna=False)
            if (clash > 1).any():
                key = clash[clash > 1].index[0]
                raise UsageError(f"{origin}: cell {dict(zip(KEY_COLUMNS, key))} appears with different results; "
                                 "pass stores of different models or runs")
            frame = frame.drop_duplicates(list(KEY_COLUMNS)).reset_index(drop=True)
    if datasets:
        unknown = sorted(set(datasets) - set(frame["dataset"]))
        if unknown:
            found = ", ".join(sorted(set(frame["dataset"])))
            raise UsageError(f"data set(s) {', '.join(unknown)} not in {origin}; found {found}")
        frame = frame[frame["dataset"].isin(datasets)]
    if frame.empty:
        raise UsageError(f"{origin} hold no results: evaluate a model first (`liftbench evaluate --out ...`)")
    frame = frame.assign(label=model_labels(frame))
    return frame.reset_index(drop=True)


def check_complete(frame: pd.DataFrame, origin: str) -> None:
    """`UsageError` naming the cells of a `load`ed frame that hold fewer images than requested (their
    fingerprint's `n`, the images their run planned, or its `limit`) or than another cell of their model, suite
    and data set (every cell of one suite and data set reads the same images: clean and corrupted, every
    perturbation, every shift), so a short cell never enters a gate or a comparison as if it were whole."""
    short = []
    for (label, suite, dataset), cells in frame.groupby(["label", "suite", "dataset"], sort=False):
        most = int(cells["n"].max())
        for cell in cells.itertuples():
            planned = {key: value for key in ("n", "limit")
                       if isinstance(value := cell.fingerprint.get(key), int) and not isinstance(value, bool)}
            wanted = [(most, f"other cells of {suite}/{dataset} hold {most}"),
                      (planned.get("n", 0), f"its run planned {planned.get('n')}"),
                      (planned.get("limit", 0), f"--limit {planned.get('limit')} asked for")]
            why = [text for count, text in wanted if cell.n < count]
            if why:
                short.append(f"{label} {suite}/{dataset}/{cell.corruption}/{cell.severity} has {cell.n} images "
                             f"({', '.join(why)})")
    if short:
        more = f" and {len(short) - 3} more" if len(short) > 3 else ""
        raise UsageError(f"{origin} hold incomplete cells: {'; '.join(short[:3])}{more}. Evaluate them again on "
                         "complete data (`liftbench validate-data` lists what is missing), or leave them out")


def model_labels(frame: pd.DataFrame) -> pd.Series:
    """Display label per row: the model name, `name@sha8` when one name has several weights files."""
    n_weights = frame.groupby("model")["weights_sha256"].transform("nunique")
    return frame["model"].where(n_weights == 1, frame["model"] + "@" + frame["weights_sha256"].str[:8])


def closest(name: str, choices: Sequence[str], what: str) -> str:
    """`name` if it is one of `choices`, else `UsageError` naming the closest ones."""
    if name in choices:
        return name
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UsageError(f"unknown {what} {name!r}; expected one of {', '.join(choices)}{hint}")


def row_kind(frame: pd.DataFrame) -> pd.Series:
    """'clean' (clean cells of "c" / "clean"), 'corruption' (other "c" cells), 'p', 'shift' or 'other' (a
    suite the report does not know, which no table or figure of corruptions may count) per row."""
    kind = frame["suite"].where(frame["suite"].isin(["p", "shift"]), "other")
    kind = kind.mask(frame["suite"] == "c", "corruption")
    return kind.mask(frame["suite"].isin(["c", "clean"]) & (frame["corruption"] == "clean"), "clean")


SUITE_PRIORITY = tuple(FACES)
"""Which suite row of a model supplies a metric that two rows have (`Face.priority`: c, p, shift, clean, seg):
the clean error of the "c" row is the one its relative mCE used."""


def suite_summaries(frame: pd.DataFrame, ci: bool = True, n_boot: int = 1000, seed: int = 0,
                    level: float = 0.95) -> tuple[pd.DataFrame, list[str]]:
    """The `summarize` rows (fractions) of a `load`ed frame with a `label` column, in `SUITE_PRIORITY` order,
    and the suites skipped for want of a registered summariser."""
    skipped = sorted(set(frame["suite"]) - set(SUMMARIZERS))
    frame = frame[frame["suite"].isin(list(SUMMARIZERS))]
    if frame.empty:
        return pd.DataFrame(columns=["label", "model", "weights_sha256", "suite", "dataset"]), skipped
    per_suite = summarize(frame, n_boot=n_boot if ci else 0, seed=seed, level=level)
    labels = frame.drop_duplicates(["model", "weights_sha256"]).set_index(["model", "weights_sha256"])["label"]
    per_suite.insert(0, "label", [labels[key] for key in zip(per_suite["model"], per_suite["weights_sha256"])])
    priority = {suite: i for i, suite in enumerate(SUITE_PRIORITY)}
    per_suite = per_suite.sort_values("suite", key=lambda s: s.map(lambda x: priority.get(x, len(priority))),
                                      kind="stable")
    return per_suite, skipped


def summary_table(results: ResultsLike, ci: bool = True, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                  datasets: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per model (label), columns the measured `METRICS` in points and, with `ci`, `<metric>_lo` /
    `<metric>_hi` (percentile bootstrap at `level` over `n_boot` resamples; NaN without per-image predictions).

    Models with only unsummarised suites have no row. `attrs`: "p_baseline" (FR/T5D baseline or "none"),
    "shift_mode" (of the consistency cells, None without) and "skipped_suites". Raises `UsageError` when two
    rows of one suite (two data sets) both give a metric.
    """
    frame = load(results, predictions=ci, datasets=datasets)
    per_suite, skipped = suite_summaries(frame, ci, n_boot, seed, level)
    records = {}
    for label, rows in per_suite.groupby("label", sort=False):
        record = {}
        for metric in (m for m in METRICS if m in rows):
            given = rows[rows[metric].notna()]
            if given.empty:
                continue
            if (given["suite"] == given["suite"].iloc[0]).sum() > 1:
                raise UsageError(f"{label} has {metric} from several data sets ({', '.join(given['dataset'])}); "
                                 "choose one with --dataset")
            first = given.iloc[0]
            for column in (metric, f"{metric}_lo", f"{metric}_hi"):
                record[column] = 100 * first.get(column, np.nan)
        records[label] = record
    order = [label for label in dict.fromkeys(frame["label"]) if label in records]
    table = pd.DataFrame.from_dict(records, orient="index").reindex(order)
    present = [m for m in METRICS if m in table]
    table = table[[c for m in present for c in ((m, f"{m}_lo", f"{m}_hi") if ci else (m,))]]
    table.index.name = "model"
    baselines = sorted(set(per_suite["p_baseline"].dropna())) if "p_baseline" in per_suite else []
    modes = sorted(set(per_suite["shift_mode"].dropna())) if "shift_mode" in per_suite else []
    table.attrs.update(p_baseline=", ".join(baselines) or "none", shift_mode=", ".join(modes) or None,
                       skipped_suites=skipped)
    return table
