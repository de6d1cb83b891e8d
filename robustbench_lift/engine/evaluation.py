"""`evaluate`: one model over one suite (or all), every cell committed to the results store.

    >>> from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
    >>> from robustbench_lift.report.aggregate import summarize
    >>> from robustbench_lift.suites.options import CorruptionOptions
    >>> options = CorruptionOptions(corruptions=["fog", "jpeg_compression"], severities=[1, 5], preset="cifar")
    >>> results = evaluate("demo-lift", options, "demo", run=RunOptions(limit=50, out="results.db", progress=False),
    ...                    options=ModelOptions(weights="DEFAULT"))
    >>> len(results), sorted(set(results.corruption))     # clean + 2 corruptions x 2 severities
    (5, ['clean', 'fog', 'jpeg_compression'])
    >>> summary = summarize(results)                       # clean error, mean error (mCE: AlexNet's corruptions)

The path of one evaluation: the model is prepared (`engine.model`), the suites list their cell groups
(`suites`), the store says which cells are already there (`store`), the runner computes the rest on every rank
(`engine.runner`, `engine.distributed`), rank 0 commits every chunk of images (`engine.chunks`), each suite
scores its cells from the predictions (`metrics`), and rank 0 commits them. NaN/inf logits fail the cell with
an error naming it (cells of the same pass without them are still committed).
"""

import dataclasses
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from robustbench_lift.data import evenly_spaced, read_class_map
from robustbench_lift.data.checks import check_image_size, check_labels
from robustbench_lift.data.sixteen_class import (
    IMAGENET_CLASSES,
    SIXTEEN_CLASS,
    ProbabilityAggregation,
    category_class_map,
)
from robustbench_lift.engine import chunks
from robustbench_lift.engine.device import environment, resolve_device
from robustbench_lift.engine.distributed import Distributed
from robustbench_lift.engine.freq_sites import measure_sites
from robustbench_lift.engine.model import PreparedModel, prepare_model
from robustbench_lift.engine.options import ModelOptions, RunOptions
from robustbench_lift.engine.runner import Engine
from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.store import KEY_COLUMNS, CellResult, ResultStore, cells_frame, check_resumable
from robustbench_lift.suites import SUITES, make_suite, options_class, suite_names
from robustbench_lift.suites.base import CellGroup, Suite
from robustbench_lift.suites.options import FreqOptions, SuiteOptions, at_model_size

SuiteRequest = str | SuiteOptions | Sequence[SuiteOptions]


def _merge(parts: list[dict[str, Any]], cell: tuple[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions of `cell` from every rank, in image-index order."""
    parts = [p for p in parts if len(p["indices"])] or parts[:1]  # a rank without images has no frame shape
    indices = np.concatenate([p["indices"] for p in parts])
    order = np.argsort(indices, kind="stable")
    if len(np.unique(indices)) != len(indices):
        raise LiftbenchError(f"cell {cell[0]}/{cell[1]}: an image was evaluated by more than one rank")
    labels = np.concatenate([p["labels"] for p in parts])[order]
    return labels, np.concatenate([p["predictions"][cell] for p in parts])[order]


def _requested(suite: SuiteRequest) -> list[tuple[str, SuiteOptions]]:
    """`[(suite name, options)]` of a request given as a suite name (its default options) or as one or several
    typed suite options."""
    if isinstance(suite, str):
        return [(name, options_class(name)()) for name in suite_names(suite)]
    requested = list(suite) if isinstance(suite, list | tuple) else [suite]
    by_class = {options_class(n): n for n in SUITES}
    unknown = [type(o).__name__ for o in requested if type(o) not in by_class]
    if unknown:
        raise UsageError(f"no suite takes {', '.join(unknown)}: expected one of "
                         + ", ".join(c.__name__ for c in by_class))
    return [(by_class[type(o)], o) for o in requested]


def evaluate(model: str | nn.Module, suite: SuiteRequest = "c", data: str | Path | None = None, *,
             run: RunOptions | None = None, options: ModelOptions | None = None) -> pd.DataFrame:
    """Evaluate one model on one suite (or several); returns its cells (`load_results(..., predictions=True)` rows).

    `model`: a model name (zoo, `torchvision:<name>`, `timm:<name>`, `file.py:factory`; `models.resolve_model`)
    or an `nn.Module`, described by `ModelOptions` (weights, model_args, pool; name, classes, normalisation).
    Clean images are read, and corrupted, perturbed and shifted, at the model's own size unless `resize`/`crop`
    say otherwise (`suites.options.at_model_size`); cells record it as `input_size`. `suite`: the suite's typed
    options (`CorruptionOptions(corruptions=["fog"])`, a list of them; `suites.options`), or a name with its
    default options (`"c"`, `"clean"`, `"p"`, `"shift"`, `"seg"` or `"all"`: c, p and shift). `run`: how the run
    executes (`RunOptions`: batch, device, seed, limit, store; default `RunOptions()`, an in-memory store).
    `data`: a corruption tree, CIFAR-C folder, ImageNet-P videos, clean folder, CIFAR pickles or `"demo"`.
    Cells already in `run.out` with the same settings are skipped; a `p_baseline` also re-scores the stored
    `p` cells of this model. Returns the cells asked for (computed or found), not the store's other cells
    (other corruptions, severities, suites or data). Other ranks than 0 of a distributed run return an empty frame.
    """
    run, described, requested = run or RunOptions(), options or ModelOptions(), _requested(suite)
    if data is None:
        raise UsageError("no data: pass data=<folder> (a corruption tree, CIFAR-C folder, clean folder or 'demo')")
    target = resolve_device(run.device)
    dist = Distributed(target)
    if target.type == "cuda" and dist.active:  # torchrun: this rank's GPU (LOCAL_RANK)
        target = torch.device("cuda", torch.cuda.current_device())
    store = None
    try:
        prepared = _aggregated(prepare_model(model, described, seed=run.seed), requested)
        suites = [make_suite(name, data, at_model_size(_with_class_map(options), *prepared.sizes), seed=run.seed,
                             device=target) for name, options in requested]
        plan = [(suite_obj, suite_obj.groups()) for suite_obj in suites]
        for suite_obj, groups in plan:
            _check_data(prepared, suite_obj, groups)
        engine = Engine(prepared, target, dataclasses.replace(run, progress=run.progress and dist.is_main))
        store = ResultStore(run.out or ":memory:") if dist.is_main else None
        config = {"model": prepared.name, "weights": str(described.weights) if described.weights else None,
                  "suites": {name: _jsonable(options) for name, options in requested}, "data": str(data),
                  "batch_size": run.batch_size, "limit": run.limit, "seed": run.seed, "precision": engine.precision}
        run_id = dist.from_main(lambda: store.start_run(config, environment(target, dist.world_size)))
        rows: dict[tuple, dict[str, Any]] = {}  # the cells this call wrote, as the store holds them
        wanted = set()
        for (_, suite_options), (suite_obj, groups) in zip(requested, plan):
            key = (prepared.name, prepared.weights_sha256, suite_obj.name, suite_obj.dataset)
            stored = dist.from_main(lambda: store.fingerprints(*key))
            for group in groups:
                rows.update(_run_group(engine, dist, store, run_id, key, suite_obj, group, stored, run))
            if store is not None and suite_obj.rescore:
                rows.update(_rescore(store, key, suite_obj))
            wanted.update((*key, *cell) for group in groups for cell in group.cells)
            if store is not None and isinstance(suite_options, FreqOptions) and suite_options.sites:
                measure_sites(prepared, suite_obj, run, store, target)
        if store is None:
            return pd.DataFrame()
        store.finish_run(run_id)
        for found in wanted - set(rows):  # stored before this call: read by key, each once
            rows.update(_keyed(store.cells(predictions=True, **dict(zip(KEY_COLUMNS, found)))))
        return cells_frame(rows[k] for k in sorted(set(rows) & wanted))
    finally:
        if store is not None:
            store.close()
        dist.close()


def _check_data(prepared: PreparedModel, suite: Suite, groups: list[CellGroup]) -> None:
    """Before any work: every group's labels within the model's classes, and what the model sees (the first
    image, or the shift suite's crop `window`) at the model's input size when the zoo records it."""
    input_size = getattr(prepared.module, "liftbench_meta", {}).get("input_size")
    window = getattr(suite, "window", None)
    for group in groups:
        where = f"{suite.name} {suite.dataset} {'/'.join(map(str, group.cells[0]))}"
        check_labels(group.dataset, prepared.num_classes, where)
        check_image_size((window, window) if window else group.dataset, input_size, where)


def _with_class_map(options: SuiteOptions) -> SuiteOptions:
    """`options` with a class-map file (or the name "16-class": its categories) read into its dict."""
    if options.class_map is None or isinstance(options.class_map, dict):
        return options
    mapping = category_class_map() if options.class_map == SIXTEEN_CLASS else read_class_map(options.class_map)
    return dataclasses.replace(options, class_map=mapping)


def _aggregated(prepared: PreparedModel, requested: list[tuple[str, SuiteOptions]]) -> PreparedModel:
    """`prepared` as model-vs-human's 16-class model (`data.sixteen_class`) when the suites' class map is
    "16-class", stored under `<name>@16-class`; all suites of one call take the same mapping."""
    chosen = {options.class_map == SIXTEEN_CLASS for _, options in requested}
    if chosen == {False}:
        return prepared
    if len(chosen) > 1 or prepared.num_classes != IMAGENET_CLASSES:
        raise UsageError(f"class map {SIXTEEN_CLASS!r} needs a 1000-class ImageNet model (got {prepared.num_classes} "
                         "classes) and every suite of the call with it")
    return dataclasses.replace(prepared, module=ProbabilityAggregation(prepared.module), num_classes=16,
                               name=f"{prepared.name}@{SIXTEEN_CLASS}")


def _jsonable(options: SuiteOptions) -> dict[str, Any]:
    """The non-default fields of `options` as JSON-friendly values, for the run's recorded config."""
    return {f.name: str(v) if isinstance(v, Path) else v for f in dataclasses.fields(options)
            if (v := getattr(options, f.name)) != f.default}


def _keyed(rows: Iterable[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    """`{key: row}` of store rows, keyed by their `KEY_COLUMNS` values."""
    return {tuple(row[c] for c in KEY_COLUMNS): row for row in rows}


def _run_group(engine: Engine, dist: Distributed, store: ResultStore | None, run_id: int,
               key: tuple[str, str, str, str], suite: Suite, group: CellGroup, stored: dict, run: RunOptions
               ) -> dict[tuple, dict[str, Any]]:
    """Evaluate the pending cells of one group on every rank, chunk by chunk; rank 0 commits each chunk and each
    finished cell (`engine.chunks`: a resumed run computes only the chunks not stored) and returns their rows."""
    limit = run.limit
    indices = evenly_spaced(len(group.dataset), limit)
    prepared = engine.prepared
    common = {"limit": limit, "n": len(indices), "precision": engine.precision, "num_classes": prepared.num_classes,
              "mean": list(prepared.mean), "std": list(prepared.std)}
    common.update(suite.read_as)
    fingerprints = {cell: {**fingerprint, **common} for cell, fingerprint in group.fingerprints.items()}
    where = str(run.out or "the in-memory store")
    pending = [cell for cell in group.cells
               if not check_resumable(stored, cell, fingerprints[cell], where, run.overwrite)]
    if not pending:
        return {}
    anchor = group.anchor
    computed = pending if anchor is None or anchor in pending else [anchor, *pending]
    label = f"{prepared.name} {pending[0][0]}/{pending[0][1]}" if len(pending) == 1 else \
        f"{prepared.name} {suite.dataset} ({len(pending)} cells)"
    partials: dict[tuple[str, int], chunks.Partial] = {}
    size = chunks.chunk_items(run.chunk, engine.items_per_batch(group), group.frames)

    def plan() -> list[chunks.Pass]:
        partials.update(chunks.load_partials(store, key, {c: fingerprints[c] for c in computed}, len(indices), where,
                                             run.overwrite))
        return chunks.plan(partials, computed, len(indices), size)

    errors: dict[tuple[str, int], str] = {}
    for cells, spans in dist.from_main(plan):
        passed = engine.run(group, cells, [dist.shard(indices[a:b]) for a, b in spans], label, fingerprints)
        for (start, _), parts in zip(spans, map(dist.all_gather, passed)):
            for part in parts:
                for cell, message in part["errors"].items():
                    errors.setdefault(cell, message)
            if store is not None:
                seconds = max(part["seconds"] for part in parts) / len(cells)
                arrays = {cell: _merge(parts, cell) for cell in cells if cell not in errors}
                chunks.put_chunk(store, key, start, arrays, fingerprints, seconds, run_id)
                for cell, (labels, predictions) in arrays.items():
                    partials[cell].fill(start, labels, predictions, seconds)
    written = _commit(store, run_id, key, suite, anchor, pending, partials, fingerprints, stored) \
        if store is not None else {}
    if errors:
        raise LiftbenchError("; ".join(sorted(set(errors.values()))))
    return written


def _commit(store: ResultStore, run_id: int, key: tuple[str, str, str, str], suite: Suite,
            anchor: tuple[str, int] | None, pending: list[tuple[str, int]],
            partials: dict[tuple[str, int], chunks.Partial], fingerprints: dict[tuple[str, int], dict],
            seen: dict) -> dict[tuple, dict[str, Any]]:
    """Score and write every finished pending cell (each with the deletion of its chunks), each refused if another
    process changed it since the run read the store (`seen`); the anchor goes last, so that until then its chunks
    serve a resumed run. Returns the written rows."""
    done = [cell for cell in pending if partials[cell].complete]
    if anchor is not None and not partials[anchor].complete:
        return {}
    anchor_predictions = partials[anchor].predictions if anchor is not None else None
    written = []
    for cell in sorted(done, key=lambda c: c == anchor):
        part = partials[cell]
        top1, top5, metrics = suite.cell_metrics(cell, part.predictions, part.labels, anchor_predictions)
        written.append(chunks.complete_cell(store, CellResult(
            *key, *cell, labels=part.labels, predictions=part.predictions, top1_err=top1, top5_err=top5,
            fingerprint=fingerprints[cell], seconds=part.seconds, metrics=metrics), run_id, seen))
    if anchor is not None and anchor not in pending and len(done) == len(pending):
        chunks.delete_chunks(store, key, anchor)
    return _keyed(written)


def _rescore(store: ResultStore, key: tuple[str, str, str, str], suite: Suite) -> dict[tuple, dict[str, Any]]:
    """Re-score the stored cells of `key` with `suite.cell_metrics` (e.g. against a new baseline); a cell whose
    scalars change is rewritten with the same predictions, fingerprint and run. Returns every row of `key`."""
    rows = []
    for row in store.cells(predictions=True, **dict(zip(KEY_COLUMNS[:4], key))):
        cell = (row["corruption"], row["severity"])
        top1, top5, metrics = suite.cell_metrics(cell, row["predictions"], row["labels"])
        if json.loads(json.dumps(metrics)) != json.loads(row["metrics"]):
            row = store.put_cell(CellResult(*key, *cell, labels=row["labels"], predictions=row["predictions"],
                                            top1_err=top1, top5_err=top5, fingerprint=json.loads(row["fingerprint"]),
                                            seconds=row["seconds"], metrics=metrics), row["run_id"])
        rows.append(row)
    return _keyed(rows)
