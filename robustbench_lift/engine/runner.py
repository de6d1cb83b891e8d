"""The runner: batches in, per-cell top-k predictions out, on one device with one precision and memory format.

Per batch: uint8 images are copied to the device (pinned memory, non_blocking), each pending cell of the group
makes its inputs from them (as they are, or corrupted on the device), they are scaled to [0, 1], normalised
with the model's mean/std, put in channels_last, and run under `torch.inference_mode` in the run's precision
(`engine.device.numerics`: fp32 with TF32 off unless `RunOptions.amp` / `tf32` ask otherwise). Top-k indices
stay on the device until a chunk of the pass ends (`run` yields per chunk, for `engine.chunks`), so nothing
synchronises per batch. NaN/inf logits are reported per cell. Dense groups (segmentation) pass each batch's
masks along and keep per-image class intersection/union counts instead, or for a crop-pair cell the two crops'
agreement counts (`engine.dense`). A group with `valid_labels` (ImageNet-R/-A's 200 classes) ranks only those
outputs of the model (hendrycks' eval.py, timm's `--valid-labels`), each standing for its label.
"""

import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from robustbench_lift.data.segmentation import size_batches
from robustbench_lift.engine.dense import agreement_counts, class_areas, empty_outputs, intersection_union_counts
from robustbench_lift.engine.device import AUTOCAST_DTYPES, choose_precision, numerics
from robustbench_lift.engine.input_cache import cached_inputs
from robustbench_lift.engine.model import PreparedModel
from robustbench_lift.engine.options import RunOptions
from robustbench_lift.errors import LiftbenchError, UsageError, worker_errors
from robustbench_lift.progress import progress
from robustbench_lift.suites.base import CellGroup

TOP_K = 5
"""Classes kept per input: top-1/top-5 errors and ImageNet-P's top-5 distance need five."""


class Engine:
    """Runs one model over cell groups on one device with the chosen precision and memory format."""

    def __init__(self, prepared: PreparedModel, device: torch.device, run: RunOptions = RunOptions()) -> None:
        self.prepared, self.device, self.batch_size, self.progress = prepared, device, run.batch_size, run.progress
        self.input_cache = run.input_cache
        cuda = device.type == "cuda"
        self.workers = min(8, os.cpu_count() or 1) if run.workers is None and cuda else (run.workers or 0)
        self.precision = choose_precision(device, run.amp, run.tf32)  # the cells' fingerprint key "precision"
        self.amp_dtype = AUTOCAST_DTYPES.get(self.precision)
        self.channels_last = True if run.channels_last is None else run.channels_last
        model = prepared.module.eval().to(device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = torch.compile(model) if run.compile else model
        self.mean = torch.tensor(prepared.mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(prepared.std, device=device).view(1, 3, 1, 1)
        self.k = min(TOP_K, prepared.num_classes)

    def inputs(self, images: Tensor) -> Tensor:
        """The model's input of images `(B, 3, H, W)` (uint8, or float in [0, 1]): scaled to [0, 1], normalised
        with the model's mean and std, in the engine's memory format."""
        x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
        x = (x - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def forward(self, images: Tensor, masks: Tensor | None = None,
                restrict: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """Top-k class indices `(..., k)` (best first) and finite-logit flags `(...)` of images `(..., 3, H, W)`
        (uint8, or float in [0, 1]); with `masks` `(..., H, W)`, int32 intersection/union counts `(..., 2, C)`
        of the per-pixel predictions instead of top-k. `restrict` `(outputs (K,), labels (K,))`: only those
        outputs compete, each predicting its label (`CellGroup.valid_labels`)."""
        lead = images.shape[:-3]
        x = self.inputs(images.reshape(-1, *images.shape[-3:]))
        with numerics(self.device, self.precision):
            logits = self.model(x).float()
        if masks is not None:
            masks = masks.reshape(-1, *masks.shape[-2:])
            if logits.shape != (len(x), self.prepared.num_classes, *masks.shape[-2:]):
                raise LiftbenchError(f"model {self.prepared.name} returned logits {tuple(logits.shape)}, expected "
                                     f"(batch, {self.prepared.num_classes}, {masks.shape[-2]}, {masks.shape[-1]})")
            counts = intersection_union_counts(logits.argmax(1), masks, self.prepared.num_classes)
            return counts.reshape(*lead, *counts.shape[1:]), torch.isfinite(logits).flatten(1).all(1).reshape(lead)
        if logits.ndim != 2 or logits.shape[1] != self.prepared.num_classes:
            raise LiftbenchError(f"model {self.prepared.name} returned logits {tuple(logits.shape)}, expected "
                                 f"(batch, {self.prepared.num_classes})")
        if restrict is not None:
            logits = logits[:, restrict[0]]
        top = logits.topk(min(self.k, logits.shape[1]), dim=1).indices
        if restrict is not None:  # fewer than k outputs: the last one repeats, as k columns are stored
            top = restrict[1][torch.cat([top, top[:, -1:].expand(-1, self.k - top.shape[1])], 1)]
        return top.reshape(*lead, self.k), torch.isfinite(logits).all(dim=1).reshape(lead)

    def _forward_pairs(self, crops: Tensor, offsets: Tensor) -> tuple[Tensor, Tensor]:
        """Agreement counts `(B, 2, C)` (`engine.dense.agreement_counts`) and finite-logit flags `(B,)` of crop
        pairs `(B, 2, 3, h, w)` at corners `offsets` `(B, 2, 2)`."""
        x = self.inputs(crops.reshape(-1, *crops.shape[-3:]))
        with numerics(self.device, self.precision):
            logits = self.model(x).float()
        if logits.shape != (len(x), self.prepared.num_classes, *x.shape[-2:]):
            raise LiftbenchError(f"model {self.prepared.name} returned logits {tuple(logits.shape)}, expected "
                                 f"(batch, {self.prepared.num_classes}, {x.shape[-2]}, {x.shape[-1]})")
        labels = logits.argmax(1).view(len(crops), 2, *x.shape[-2:])
        return (agreement_counts(labels, offsets, self.prepared.num_classes),
                torch.isfinite(logits).flatten(1).all(1).view(len(crops), 2).all(1))

    def _forward_queue(self, queue: list[tuple[tuple[str, int], Tensor]], tops: dict[tuple[str, int], list[Tensor]],
                       finite: dict[tuple[str, int], list[Tensor]], masks: Tensor | None = None,
                       restrict: tuple[Tensor, Tensor] | None = None) -> None:
        """One forward pass over the inputs `(B, [T,] 3, H, W)` of several cells, split back per cell (so cells of
        one or a few inputs per item still fill a batch); empties the queue. `masks` `(B, H, W)`: the batch's
        masks, the same for every queued cell (dense groups)."""
        if not queue:
            return
        dense = None if masks is None else masks.repeat(len(queue), 1, 1)
        inputs = [x.reshape(-1, *x.shape[-3:]) for _, x in queue]
        if len({x.dtype for x in inputs}) > 1:  # uint8 and float cells: cat would promote 0-255 levels as they are
            inputs = [x.float() / 255 if x.dtype == torch.uint8 else x.float() for x in inputs]
        top, ok = self.forward(torch.cat(inputs), dense, restrict)
        start = 0
        for cell, x in queue:
            lead = x.shape[:-3]
            tops[cell].append(top[start:start + lead.numel()].reshape(*lead, *top.shape[1:]))
            finite[cell].append(ok[start:start + lead.numel()].reshape(lead))
            start += lead.numel()
        queue.clear()

    def restriction(self, group: CellGroup) -> tuple[Tensor, Tensor] | None:
        """`(outputs (K,), labels (K,))` on the device from `group.valid_labels`; a `UsageError` for an output the
        model does not have (e.g. ImageNet-R's 200 of 1000 classes given a 10-class model)."""
        if group.valid_labels is None:
            return None
        outputs = sorted(group.valid_labels)
        if outputs[-1] >= self.prepared.num_classes:
            raise UsageError(f"the data set's classes are outputs {outputs[0]}..{outputs[-1]} of an ImageNet-1k model; "
                             f"model {self.prepared.name} has {self.prepared.num_classes} classes: evaluate a "
                             "1000-class model")
        return (torch.tensor(outputs, device=self.device),
                torch.tensor([group.valid_labels[k] for k in outputs], device=self.device))

    def items_per_batch(self, group: CellGroup) -> int:
        """Items (images, sequences, images with their crops) per loader batch: about `batch_size` frames."""
        return max(1, self.batch_size // group.frames)

    @torch.inference_mode()
    def run(self, group: CellGroup, cells: list[tuple[str, int]], chunks: list[np.ndarray], description: str,
            fingerprints: Mapping[tuple[str, int], Mapping[str, Any]] | None = None) -> Iterator[dict[str, Any]]:
        """One pass over the images of `chunks` (arrays of image indices of `group`), yielding this process's
        labels, predictions and errors after each chunk (a chunk is split into its own loader batches, so the
        batches of a chunk that starts at a multiple of `items_per_batch` are those of an unchunked pass).

        Yields `{"indices": (n,), "labels": (n,), "predictions": {cell: (n, [T,] k)}, "errors": {cell: message},
        "seconds": float}` per chunk (NumPy arrays; n = len(chunk), possibly 0 on a rank without images).
        `fingerprints`: the cells' full fingerprints, the keys of the run's `input_cache` (none: no cache).
        """
        dataset, inputs = group.prepare(cells)
        if self.input_cache is not None and fingerprints is not None:
            inputs = cached_inputs(inputs, self.input_cache, fingerprints, self.device)
        per_batch = self.items_per_batch(group)
        batches = [self._batches(group, chunk, per_batch) for chunk in chunks]
        loader = DataLoader(dataset, batch_sampler=[b for chunk in batches for b in chunk],
                            num_workers=self.workers, pin_memory=self.device.type == "cuda")
        stream = worker_errors(loader)  # a worker's error as it was raised there, not its traceback
        classes, restrict = self.prepared.num_classes, self.restriction(group)
        with progress(sum(map(len, chunks)) * len(cells), description, "img", enabled=self.progress) as bar:
            for chunk_batches in batches:
                start = time.perf_counter()
                seen, labels = [], []
                tops: dict[tuple[str, int], list[Tensor]] = {cell: [] for cell in cells}
                finite: dict[tuple[str, int], list[Tensor]] = {cell: [] for cell in cells}
                for _ in chunk_batches:
                    batch_indices, images, batch_labels = next(stream)
                    images = images.to(self.device, non_blocking=True)
                    masks = batch_labels.to(self.device, non_blocking=True) if group.dense else None
                    seen.append(batch_indices)
                    labels.append(class_areas(batch_labels, classes) if group.dense else batch_labels)
                    queue: list[tuple[tuple[str, int], Tensor]] = []  # cells' inputs waiting for one forward
                    for cell in cells:
                        x = inputs(images, batch_indices, cell)
                        if cell in group.crop_pairs:
                            counts, ok = self._forward_pairs(x, group.crop_pairs[cell](batch_indices))
                            tops[cell].append(counts)
                            finite[cell].append(ok)
                            bar.update(len(batch_indices))
                            continue
                        if queue and queue[-1][1].shape[-3:] != x.shape[-3:]:
                            self._forward_queue(queue, tops, finite, masks, restrict)
                        queue.append((cell, x))
                        if sum(q.shape[:-3].numel() for _, q in queue) >= self.batch_size:
                            self._forward_queue(queue, tops, finite, masks, restrict)
                        bar.update(len(batch_indices))
                    self._forward_queue(queue, tops, finite, masks, restrict)
                yield self._result(group, cells, seen, labels, tops, finite, time.perf_counter() - start)

    @staticmethod
    def _batches(group: CellGroup, chunk: np.ndarray, per_batch: int) -> list[list[int]]:
        """The loader batches (image indices) of one chunk: consecutive runs, or for images of several sizes
        (`group.sizes`) runs of one size."""
        if group.sizes is None:
            return [chunk[i:i + per_batch].tolist() for i in range(0, len(chunk), per_batch)]
        return [[int(chunk[p]) for p in batch] for batch in size_batches([group.sizes[i] for i in chunk], per_batch)]

    def _result(self, group: CellGroup, cells: list[tuple[str, int]], seen: list[Tensor], labels: list[Tensor],
                tops: dict[tuple[str, int], list[Tensor]], finite: dict[tuple[str, int], list[Tensor]],
                seconds: float) -> dict[str, Any]:
        """The result of one chunk (see `run`) from its per-batch tensors."""
        no_labels, no_predictions = empty_outputs(self.prepared.num_classes) if group.dense else (
            np.zeros(0, np.int64), np.zeros((0, self.k), np.int64))
        seen_all = torch.cat(seen).numpy() if seen else np.zeros(0, np.int64)
        result = {"indices": seen_all, "labels": torch.cat(labels).numpy() if labels else no_labels,
                  "predictions": {}, "errors": {}, "seconds": seconds}
        for cell in cells:
            flags = torch.cat(finite[cell]).cpu().numpy() if finite[cell] else np.ones(0, bool)
            bad = ~flags.reshape(len(seen_all), -1).all(axis=1) if len(seen_all) else flags
            result["predictions"][cell] = (torch.cat(tops[cell]).cpu().numpy() if tops[cell]
                                           else no_predictions)  # a rank with no images
            if bad.any():
                result["errors"][cell] = (f"model {self.prepared.name} produced NaN/inf logits for {bad.sum()} "
                                          f"image(s) of cell {cell[0]}/{cell[1]} (first: image {seen_all[bad][0]})")
        return result
