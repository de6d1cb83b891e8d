"""The runner: batches in, per-cell top-k predictions out, on one device with one precision and memory format.

Per batch: uint8 images are copied to the device (pinned memory, non_blocking), each pending cell of the group
makes its inputs from them (as they are, or corrupted on the device), they are scaled to [0, 1], normalised
with the model's mean/std, put in channels_last, and run under `torch.inference_mode` in the run's precision
(`engine.device.numerics`: fp32 with TF32 off unless `RunOptions.amp` / `tf32` ask otherwise). Top-k indices
stay on the device until a chunk of the pass ends (`run` yields per chunk, for `engine.chunks`), so nothing
synchronises per batch. NaN/inf logits are reported per cell.
"""

import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from robustbench_lift.engine.device import AUTOCAST_DTYPES, choose_precision, numerics
from robustbench_lift.engine.model import PreparedModel
from robustbench_lift.engine.options import RunOptions
from robustbench_lift.errors import LiftbenchError
from robustbench_lift.suites.base import CellGroup

TOP_K = 5
"""Classes kept per input: top-1/top-5 errors and ImageNet-P's top-5 distance need five."""


class Engine:
    """Runs one model over cell groups on one device with the chosen precision and memory format."""

    def __init__(self, prepared: PreparedModel, device: torch.device, run: RunOptions = RunOptions()) -> None:
        self.prepared, self.device, self.batch_size, self.progress = prepared, device, run.batch_size, run.progress
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

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Top-k class indices `(..., k)` (best first) and finite-logit flags `(...)` of images `(..., 3, H, W)`
        (uint8, or float in [0, 1])."""
        lead = images.shape[:-3]
        x = self.inputs(images.reshape(-1, *images.shape[-3:]))
        with numerics(self.device, self.precision):
            logits = self.model(x).float()
        if logits.ndim != 2 or logits.shape[1] != self.prepared.num_classes:
            raise LiftbenchError(f"model {self.prepared.name} returned logits {tuple(logits.shape)}, expected "
                                 f"(batch, {self.prepared.num_classes})")
        top = logits.topk(self.k, dim=1).indices
        return top.reshape(*lead, self.k), torch.isfinite(logits).all(dim=1).reshape(lead)

    def _forward_queue(self, queue: list[tuple[tuple[str, int], Tensor]], tops: dict[tuple[str, int], list[Tensor]],
                       finite: dict[tuple[str, int], list[Tensor]]) -> None:
        """One forward pass over the inputs `(B, [T,] 3, H, W)` of several cells, split back per cell (so cells of
        one or a few inputs per item still fill a batch); empties the queue."""
        if not queue:
            return
        top, ok = self.forward(torch.cat([x.reshape(-1, *x.shape[-3:]) for _, x in queue]))
        start = 0
        for cell, x in queue:
            lead = x.shape[:-3]
            tops[cell].append(top[start:start + lead.numel()].reshape(*lead, -1))
            finite[cell].append(ok[start:start + lead.numel()].reshape(lead))
            start += lead.numel()
        queue.clear()

    def items_per_batch(self, group: CellGroup) -> int:
        """Items (images, sequences, images with their crops) per loader batch: about `batch_size` frames."""
        return max(1, self.batch_size // group.frames)

    @torch.inference_mode()
    def run(self, group: CellGroup, cells: list[tuple[str, int]], chunks: list[np.ndarray],
            description: str) -> Iterator[dict[str, Any]]:
        """One pass over the images of `chunks` (arrays of image indices of `group`), yielding this process's
        labels, predictions and errors after each chunk (a chunk is split into its own loader batches, so the
        batches of a chunk that starts at a multiple of `items_per_batch` are those of an unchunked pass).

        Yields `{"indices": (n,), "labels": (n,), "predictions": {cell: (n, [T,] k)}, "errors": {cell: message},
        "seconds": float}` per chunk (NumPy arrays; n = len(chunk), possibly 0 on a rank without images).
        """
        dataset, inputs = group.prepare(cells)
        per_batch = self.items_per_batch(group)
        batches = [[chunk[i:i + per_batch].tolist() for i in range(0, len(chunk), per_batch)] for chunk in chunks]
        loader = DataLoader(dataset, batch_sampler=[b for chunk in batches for b in chunk],
                            num_workers=self.workers, pin_memory=self.device.type == "cuda")
        stream = iter(loader)
        with tqdm(total=sum(map(len, chunks)) * len(cells), unit="img", desc=description, disable=not self.progress,
                  dynamic_ncols=True, leave=True) as bar:
            for chunk_batches in batches:
                start = time.perf_counter()
                seen, labels = [], []
                tops: dict[tuple[str, int], list[Tensor]] = {cell: [] for cell in cells}
                finite: dict[tuple[str, int], list[Tensor]] = {cell: [] for cell in cells}
                for _ in chunk_batches:
                    batch_indices, images, batch_labels = next(stream)
                    images = images.to(self.device, non_blocking=True)
                    seen.append(batch_indices)
                    labels.append(batch_labels)
                    queue: list[tuple[tuple[str, int], Tensor]] = []  # cells' inputs waiting for one forward
                    for cell in cells:
                        x = inputs(images, batch_indices, cell)
                        if queue and queue[-1][1].shape[-3:] != x.shape[-3:]:
                            self._forward_queue(queue, tops, finite)
                        queue.append((cell, x))
                        if sum(q.shape[:-3].numel() for _, q in queue) >= self.batch_size:
                            self._forward_queue(queue, tops, finite)
                        bar.update(len(batch_indices))
                    self._forward_queue(queue, tops, finite)
                yield self._result(cells, seen, labels, tops, finite, time.perf_counter() - start)

    def _result(self, cells: list[tuple[str, int]], seen: list[Tensor], labels: list[Tensor],
                tops: dict[tuple[str, int], list[Tensor]], finite: dict[tuple[str, int], list[Tensor]],
                seconds: float) -> dict[str, Any]:
        """The result of one chunk (see `run`) from its per-batch tensors."""
        seen_all = torch.cat(seen).numpy() if seen else np.zeros(0, np.int64)
        result = {"indices": seen_all, "labels": torch.cat(labels).numpy() if labels else np.zeros(0, np.int64),
                  "predictions": {}, "errors": {}, "seconds": seconds}
        for cell in cells:
            flags = torch.cat(finite[cell]).cpu().numpy() if finite[cell] else np.ones(0, bool)
            bad = ~flags.reshape(len(seen_all), -1).all(axis=1) if len(seen_all) else flags
            result["predictions"][cell] = (torch.cat(tops[cell]).cpu().numpy() if tops[cell]
                                           else np.zeros((0, self.k), np.int64))  # a rank with no images
            if bad.any():
                result["errors"][cell] = (f"model {self.prepared.name} produced NaN/inf logits for {bad.sum()} "
                                          f"image(s) of cell {cell[0]}/{cell[1]} (first: image {seen_all[bad][0]})")
        return result
