"""The benchmark engine: batches in, per-cell top-k predictions out, every cell committed to the results store.

    >>> from robustbench_lift.evaluate import evaluate
    >>> from robustbench_lift.summary import summarize
    >>> results = evaluate("resnet50-max", suite="c", data="/data/ImageNet-C", clean="/data/imagenet/val",
    ...                    weights="resnet50-max.pt", out="results.db")   # one row per cell
    >>> summarize(results)                                                 # clean error, CE per corruption, mCE

Per batch: uint8 images are copied to the device (pinned memory, non_blocking), each pending cell of the group
makes its inputs from them (as they are, or corrupted on the device), they are scaled to [0, 1], normalised
with the model's mean/std, put in channels_last, and run under `torch.inference_mode` and autocast (bf16, or
fp16 without bf16 support, by default on CUDA only). Top-k indices stay on the device until the pass ends, so
nothing synchronises per batch. NaN/inf logits fail the cell with an error naming it (cells of the same pass
without them are still committed). Under torchrun every rank evaluates its shard of each cell
(`robustbench_lift.distributed`) and rank 0 writes the store.
"""

import hashlib
import json
import os
import platform
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from robustbench_lift.data import evenly_spaced, read_class_map
from robustbench_lift.distributed import Distributed
from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.models import IMAGENET_MEAN, IMAGENET_STD, create_model
from robustbench_lift.models.weights import file_sha256
from robustbench_lift.store import KEY_COLUMNS, CellResult, ResultStore, check_resumable, load_results
from robustbench_lift.suite_registry import make_suites
from robustbench_lift.suites import CellGroup, Suite

TOP_K = 5


@dataclass
class PreparedModel:
    """A model ready for evaluation and what identifies it in the store."""

    module: nn.Module
    name: str
    weights_sha256: str
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


def state_dict_sha256(module: nn.Module) -> str:
    """Hex sha256 of a module's state dict (names, dtypes, shapes and bytes in name order): the identity of an
    in-memory model, so that changed parameters never reuse stored rows."""
    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _output_classes(module: nn.Module) -> int | None:
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else None


def prepare_model(model: str | nn.Module, weights: str | Path | None = None, *, name: str | None = None,
                  num_classes: int | None = None, mean: Sequence[float] | None = None,
                  std: Sequence[float] | None = None, seed: int = 0) -> PreparedModel:
    """Build or wrap the model to evaluate, with what identifies it in the store.

    A zoo name is built by `robustbench_lift.models.create_model(model, weights, num_classes, seed=seed)`:
    classes and normalisation come from the checkpoint's metadata (`liftbench_meta`), unless given here.
    Identity (`weights_sha256`): the sha256 of the weights file when `weights` is a file (what `sha256sum`
    prints), else of the state dict (a weights tag or URL, a seeded random initialisation, or a module).
    A module is named `name` (default: its class name); its classes default to its last `nn.Linear`'s
    outputs. Normalisation not recorded anywhere is ImageNet's (torchvision's ImageNet weights).
    """
    if isinstance(model, nn.Module):
        if weights is not None:
            raise UsageError("weights= goes with a zoo model name; load the state dict into the module yourself")
        module, meta = model, {"num_classes": num_classes or _output_classes(model)}
        if meta["num_classes"] is None:
            raise UsageError(f"cannot tell how many classes {type(model).__name__} predicts: pass num_classes")
    else:
        module = create_model(model, weights=weights, num_classes=num_classes, seed=seed)
        meta = module.liftbench_meta
    identity = file_sha256(weights) if weights is not None and Path(weights).is_file() else state_dict_sha256(module)
    return PreparedModel(module, name or (model if isinstance(model, str) else type(model).__name__), identity,
                         int(meta["num_classes"]), tuple(mean or meta.get("mean") or IMAGENET_MEAN),
                         tuple(std or meta.get("std") or IMAGENET_STD))


def resolve_device(device: str | torch.device) -> torch.device:
    """`"auto"` -> CUDA when available, else CPU; `"cuda"` without a GPU is a `UsageError`."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise UsageError(f"unknown device {device!r}: expected auto, cpu or cuda[:index]") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device!r} requested but CUDA is not available here (use --device cpu or auto)")
    return resolved


def environment(device: torch.device, world_size: int) -> dict[str, Any]:
    """Versions, host and device of this run, recorded with it in the store."""
    packages = {name: version(name) for name in ("robustbench-lift", "torch", "torchvision", "numpy")}
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    return {"packages": packages, "python": sys.version.split()[0], "platform": platform.platform(),
            "host": socket.gethostname(), "device": str(device), "device_name": device_name,
            "world_size": world_size, "threads": torch.get_num_threads()}


class Engine:
    """Runs one model over cell groups on one device with the chosen precision and memory format."""

    def __init__(self, prepared: PreparedModel, device: torch.device, batch_size: int = 64,
                 workers: int | None = None, amp: bool | None = None, channels_last: bool | None = None,
                 compile: bool = False, progress: bool = True) -> None:
        if batch_size < 1:
            raise UsageError(f"batch size must be >= 1, got {batch_size}")
        self.prepared, self.device, self.batch_size, self.progress = prepared, device, batch_size, progress
        cuda = device.type == "cuda"
        self.workers = min(8, os.cpu_count() or 1) if workers is None and cuda else (workers or 0)
        use_amp = cuda if amp is None else amp
        bf16 = not cuda or torch.cuda.is_bf16_supported()
        self.amp_dtype = (torch.bfloat16 if bf16 else torch.float16) if use_amp else None
        self.precision = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype]
        self.channels_last = True if channels_last is None else channels_last
        model = prepared.module.eval().to(device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = torch.compile(model) if compile else model
        self.mean = torch.tensor(prepared.mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(prepared.std, device=device).view(1, 3, 1, 1)
        self.k = min(TOP_K, prepared.num_classes)

    def inputs(self, images: Tensor) -> Tensor:
        """The model's input of images `(B, 3, H, W)` (uint8, or float in [0, 1]): scaled to [0, 1], normalised
        with the model's mean and std, in the engine's memory format."""
        x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
        x = (x - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Top-k class indices `(..., k)` (best first) and finite-logit flags `(...)` of images `(..., 3, H, W)`
        (uint8, or float in [0, 1])."""
        lead = images.shape[:-3]
        x = self.inputs(images.reshape(-1, *images.shape[-3:]))
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=bool(self.amp_dtype)):
            logits = self.model(x).float()
        if logits.ndim != 2 or logits.shape[1] != self.prepared.num_classes:
            raise LiftbenchError(f"model {self.prepared.name} returned logits {tuple(logits.shape)}, expected "
                                 f"(batch, {self.prepared.num_classes})")
        top = logits.topk(self.k, dim=1).indices
        return top.reshape(*lead, self.k), torch.isfinite(logits).all(dim=1).reshape(lead)

    def _forward_queue(self, queue: list[tuple[tuple[str, int], Tensor]], tops: dict[tuple[str, int], list[Tensor]],
                       finite: dict[tuple[str, int], list[Tensor]]) -> list:
        """One forward pass over the inputs `(B, [T,] 3, H, W)` of several cells, split back per cell (so cells of
        one or a few inputs per item still fill a batch); returns the emptied queue."""
        if not queue:
            return []
        top, ok = self.forward(torch.cat([x.reshape(-1, *x.shape[-3:]) for _, x in queue]))
        start = 0
        for cell, x in queue:
            lead = x.shape[:-3]
            tops[cell].append(top[start:start + lead.numel()].reshape(*lead, -1))
            finite[cell].append(ok[start:start + lead.numel()].reshape(lead))
            start += lead.numel()
        return []

    @torch.inference_mode()
    def run(self, group: CellGroup, cells: list[tuple[str, int]], indices: np.ndarray,
            description: str) -> dict[str, Any]:
        """One pass over the images `indices` of `group`: this process's labels, predictions and errors.

        Returns `{"indices": (n,), "labels": (n,), "predictions": {cell: (n, [T,] k)}, "errors": {cell: message},
        "seconds": float}` (NumPy arrays; n = len(indices)).
        """
        dataset, inputs = group.prepare(cells)
        loader = DataLoader(Subset(dataset, indices.tolist()), batch_size=max(1, self.batch_size // group.frames),
                            num_workers=self.workers,
                            pin_memory=self.device.type == "cuda")
        seen, labels = [], []
        tops: dict[tuple[str, int], list[Tensor]] = {cell: [] for cell in cells}
        finite: dict[tuple[str, int], list[Tensor]] = {cell: [] for cell in cells}
        start = time.perf_counter()
        with tqdm(total=len(indices) * len(cells), unit="img", desc=description, disable=not self.progress,
                  dynamic_ncols=True, leave=True) as bar:
            for batch_indices, images, batch_labels in loader:
                images = images.to(self.device, non_blocking=True)
                seen.append(batch_indices)
                labels.append(batch_labels)
                queue: list[tuple[tuple[str, int], Tensor]] = []  # cells' inputs waiting for one forward
                for cell in cells:
                    x = inputs(images, batch_indices, cell)
                    if queue and queue[-1][1].shape[-3:] != x.shape[-3:]:
                        queue = self._forward_queue(queue, tops, finite)
                    queue.append((cell, x))
                    if sum(q.shape[:-3].numel() for _, q in queue) >= self.batch_size:
                        queue = self._forward_queue(queue, tops, finite)
                    bar.update(len(batch_indices))
                self._forward_queue(queue, tops, finite)
        seen_all = torch.cat(seen).numpy() if seen else np.zeros(0, np.int64)
        result = {"indices": seen_all, "labels": torch.cat(labels).numpy() if labels else np.zeros(0, np.int64),
                  "predictions": {}, "errors": {}, "seconds": time.perf_counter() - start}
        for cell in cells:
            flags = torch.cat(finite[cell]).cpu().numpy() if finite[cell] else np.ones(0, bool)
            bad = ~flags.reshape(len(seen_all), -1).all(axis=1)
            result["predictions"][cell] = (torch.cat(tops[cell]).cpu().numpy() if tops[cell]
                                           else np.zeros((0, self.k), np.int64))  # a rank with no images
            if bad.any():
                result["errors"][cell] = (f"model {self.prepared.name} produced NaN/inf logits for {bad.sum()} "
                                          f"image(s) of cell {cell[0]}/{cell[1]} (first: image {seen_all[bad][0]})")
        return result


def _merge(parts: list[dict[str, Any]], cell: tuple[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions of `cell` from every rank, in image-index order."""
    indices = np.concatenate([p["indices"] for p in parts])
    order = np.argsort(indices, kind="stable")
    if len(np.unique(indices)) != len(indices):
        raise LiftbenchError(f"cell {cell[0]}/{cell[1]}: an image was evaluated by more than one rank")
    labels = np.concatenate([p["labels"] for p in parts])[order]
    return labels, np.concatenate([p["predictions"][cell] for p in parts])[order]


def evaluate(model: str | nn.Module, suite: str = "c", data: str | Path | None = None, *,
             weights: str | Path | None = None, clean: str | Path | None = None,
             corruptions: Sequence[str] | None = None, severities: Sequence[int] | None = None,
             out: str | Path | None = None, batch_size: int = 64, workers: int | None = None,
             device: str = "auto", amp: bool | None = None, channels_last: bool | None = None,
             compile: bool = False, limit: int | None = None, seed: int = 0, backend: str = "auto",
             class_map: str | Path | None = None, dataset: str | None = None, resize: int | None = 256,
             crop: int | None = 224, overwrite: bool = False, progress: bool = True, name: str | None = None,
             num_classes: int | None = None, mean: Sequence[float] | None = None,
             std: Sequence[float] | None = None, perturbations: Sequence[str] | None = None,
             difficulties: Sequence[int] | None = None, p_baseline: str | Path | None = None,
             shift_mode: str | None = None, pairs: int | None = None,
             max_shift: int | None = None, preset: str | None = None) -> pd.DataFrame:
    """Evaluate one model on one suite; returns its cells (`load_results(..., predictions=True)` rows).

    `model`: a zoo name (with optional `weights`, whose metadata gives classes and normalisation) or an
    `nn.Module` (`name`, `num_classes`, `mean`, `std` describe it; ImageNet normalisation by default). `suite`:
    `"c"`, `"clean"`, `"p"`, `"shift"` or `"all"` (c, p and shift); `data`: see `suites.CorruptionSuite`
    (`preset`: constants of on-the-fly corruption, imagenet or cifar) / `CleanSuite`,
    `suites_p.PerturbationSuite` (`perturbations`, `difficulties`, `p_baseline`) and
    `suites_shift.ShiftSuite` (`shift_mode`, `pairs`, `max_shift`). `out`: SQLite file (cells already in it
    with the same settings are skipped; None keeps results in memory). `limit`: evenly spaced images (or
    sequences) per cell. `seed`: per-image seeds of on-the-fly corruptions, perturbations and crop offsets
    (and initialisation of a zoo model without weights). `overwrite`: recompute cells stored with other
    settings instead of raising. A `p_baseline` also re-scores the stored `p` cells of this model. The module
    is put in eval mode on the device (channels_last unless disabled). Other ranks than 0 of a distributed run
    return an empty frame.
    """
    if data is None:
        raise UsageError("no data: pass data=<folder> (a corruption tree, CIFAR-C folder, clean folder or 'demo')")
    target = resolve_device(device)
    dist = Distributed(target)
    if target.type == "cuda" and dist.active:  # torchrun: this rank's GPU (LOCAL_RANK)
        target = torch.device("cuda", torch.cuda.current_device())
    store = None
    try:
        prepared = prepare_model(model, weights, name=name, num_classes=num_classes, mean=mean, std=std, seed=seed)
        suites = make_suites(suite, data, dataset=dataset, clean=clean, corruptions=corruptions,
                             severities=severities, seed=seed, backend=backend, device=target, resize=resize,
                             crop=crop, class_map=read_class_map(class_map) if class_map else None,
                             perturbations=perturbations, difficulties=difficulties, p_baseline=p_baseline,
                             shift_mode=shift_mode, pairs=pairs, max_shift=max_shift, preset=preset)
        engine = Engine(prepared, target, batch_size, workers, amp, channels_last, compile, progress and dist.is_main)
        store = ResultStore(out or ":memory:") if dist.is_main else None
        config = {"model": prepared.name, "weights": str(weights) if weights else None, "suite": suite,
                  "data": str(data), "clean": str(clean) if clean else None, "batch_size": batch_size,
                  "limit": limit, "seed": seed, "backend": backend, "preset": preset, "precision": engine.precision}
        run_id = dist.from_main(lambda: store.start_run(config, environment(target, dist.world_size)))
        keys = []
        for suite_obj in suites:
            key = (prepared.name, prepared.weights_sha256, suite_obj.name, suite_obj.dataset)
            stored = dist.from_main(lambda: store.fingerprints(*key))
            for group in suite_obj.groups():
                _run_group(engine, dist, store, run_id, key, suite_obj, group, stored, limit, overwrite, out)
            if store is not None and suite_obj.rescore:
                _rescore(store, key, suite_obj)
            keys.append(key)
        if store is None:
            return pd.DataFrame()
        store.finish_run(run_id)
        frame = load_results(store, predictions=True)
        mine = pd.Series(list(zip(*(frame[c] for c in KEY_COLUMNS[:4]))), index=frame.index).isin(keys)
        return frame[mine].reset_index(drop=True)
    finally:
        if store is not None:
            store.close()
        dist.close()


def _run_group(engine: Engine, dist: Distributed, store: ResultStore | None, run_id: int,
               key: tuple[str, str, str, str], suite: Suite, group: CellGroup, stored: dict, limit: int | None,
               overwrite: bool, out: str | Path | None) -> None:
    """Evaluate the pending cells of one group on every rank; rank 0 commits each cell."""
    indices = evenly_spaced(len(group.dataset), limit)
    prepared = engine.prepared
    common = {"limit": limit, "n": len(indices), "precision": engine.precision, "num_classes": prepared.num_classes,
              "mean": list(prepared.mean), "std": list(prepared.std)}
    fingerprints = {cell: {**fingerprint, **common} for cell, fingerprint in group.fingerprints.items()}
    where = str(out or "the in-memory store")
    pending = [cell for cell in group.cells if not check_resumable(stored, cell, fingerprints[cell], where, overwrite)]
    if not pending:
        return
    anchor = group.anchor
    computed = pending if anchor is None or anchor in pending else [anchor, *pending]
    label = f"{prepared.name} {pending[0][0]}/{pending[0][1]}" if len(pending) == 1 else \
        f"{prepared.name} {suite.dataset} ({len(pending)} cells)"
    parts = dist.all_gather(engine.run(group, computed, dist.shard(indices), label))
    errors = [message for part in parts for message in part["errors"].values()]
    if store is not None:
        seconds = max(part["seconds"] for part in parts) / len(computed)
        failed = {cell for part in parts for cell in part["errors"]}
        anchor_predictions = _merge(parts, anchor)[1] if anchor is not None and anchor not in failed else None
        for cell in pending:
            if cell in failed or (anchor is not None and anchor_predictions is None):
                continue
            labels, predictions = _merge(parts, cell)
            top1, top5, metrics = suite.cell_metrics(cell, predictions, labels, anchor_predictions)
            store.put_cell(CellResult(*key, *cell, labels=labels, predictions=predictions, top1_err=top1,
                                      top5_err=top5, fingerprint=fingerprints[cell], seconds=seconds,
                                      metrics=metrics),
                           run_id)
    if errors:
        raise LiftbenchError("; ".join(sorted(set(errors))))


def _rescore(store: ResultStore, key: tuple[str, str, str, str], suite: Suite) -> None:
    """Re-score the stored cells of `key` with `suite.cell_metrics` (e.g. against a new baseline); a cell whose
    scalars change is rewritten with the same predictions, fingerprint and run."""
    rows = list(store.cells(predictions=True, **dict(zip(KEY_COLUMNS[:4], key))))
    for row in rows:
        cell = (row["corruption"], row["severity"])
        top1, top5, metrics = suite.cell_metrics(cell, row["predictions"], row["labels"])
        if json.loads(json.dumps(metrics)) != json.loads(row["metrics"]):
            store.put_cell(CellResult(*key, *cell, labels=row["labels"], predictions=row["predictions"],
                                      top1_err=top1, top5_err=top5, fingerprint=json.loads(row["fingerprint"]),
                                      seconds=row["seconds"], metrics=metrics), row["run_id"])
