"""Benchmark suites: what to evaluate, as groups of cells that share one pass over one image source.

A cell is one `(corruption, severity)` of a suite on a data set (the clean cell is `("clean", 0)`). A
`CellGroup` is a set of cells computed from the same decoded batches: a pre-rendered cell is a group of its
own; on the fly, one group holds the clean cell and every `(corruption, severity)`, so each clean batch is
decoded once and every cell's inputs are made from it (the engine commits every cell of a group when the pass
over the data ends; a resumed run recomputes only the cells that were not committed).

Suites: `clean` (a clean data set) and `c` (ImageNet-C, Tiny-ImageNet-C, CIFAR-C: pre-rendered or on the fly,
plus the clean cell from `clean=` or, on the fly, from the source itself). The perturbation and shift suites
add their own groups: `CellGroup.prepare` may return inputs of shape `(B, T, 3, H, W)` (T frames per item),
and `Suite.cell_metrics` turns the stored top-k predictions into the suite's scalars: `p`
(`robustbench_lift.suites_p`) and `shift` (`robustbench_lift.suites_shift`).
"""

import difflib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from robustbench_lift.data import CifarC, ImageNetC, detect_layout, open_clean
from robustbench_lift.errors import UsageError
from robustbench_lift.metrics import COMMON_CORRUPTIONS, SEVERITIES, top1_error, topk_error
from robustbench_lift.render import corrupt_indexed

CLEAN = ("clean", 0)
InputFn = Callable[[Tensor, Tensor, tuple[str, int]], Tensor]
"""`(uint8 batch on the device, int64 image indices (B,), cell) -> images (B, [T,] 3, H, W)` (uint8 or float in
[0, 1]) that the model sees for that cell."""


@dataclass
class CellGroup:
    """Cells computed in one pass over `dataset` (items `(index, uint8 (3, H, W), label)`).

    `fingerprints[cell]`: what identifies the cell's numbers besides the model (data identity, source, seed,
    backend); `views(dataset, pending cells)`: the data set to iterate and the input function (default: the
    images as they are). `frames`: the most inputs a cell makes from one item (the loader batches
    `batch_size // frames` items, so a forward pass sees about `batch_size` images). `anchor`: a cell every
    cell of the group is scored against (`Suite.cell_metrics(..., anchor=)`), computed whenever any cell is.
    """

    dataset: Dataset
    fingerprints: dict[tuple[str, int], dict[str, Any]]
    views: Callable[[Dataset, list[tuple[str, int]]], tuple[Dataset, InputFn]] | None = None
    frames: int = 1
    anchor: tuple[str, int] | None = None

    @property
    def cells(self) -> list[tuple[str, int]]:
        return list(self.fingerprints)

    def prepare(self, cells: list[tuple[str, int]]) -> tuple[Dataset, InputFn]:
        """The data set to iterate and the input function for the pending `cells` of this group."""
        if self.views is None:
            return self.dataset, lambda batch, indices, cell: batch
        return self.views(self.dataset, cells)


class Suite(ABC):
    """A suite over one data set (`dataset`, the name in the store): `groups()` lists the work, `cell_metrics`
    scores one cell from its stored predictions. With `rescore`, `evaluate` re-scores the suite's stored cells
    too (their metrics depend on more than the predictions, e.g. a baseline)."""

    name = ""
    rescore = False

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset

    @abstractmethod
    def groups(self) -> list[CellGroup]:
        """Every cell of the suite, grouped by the pass over the data that computes it."""

    def cell_metrics(self, cell: tuple[str, int], predictions: np.ndarray, labels: np.ndarray,
                     anchor: np.ndarray | None = None) -> tuple[float, float, dict[str, Any]]:
        """`(top1_err, top5_err, other scalars)` of `cell` from top-k predictions `(N, [T,] k)` and labels `(N,)`
        (`anchor`: the predictions of the group's anchor cell); errors over every input of every item."""
        items = predictions.reshape(len(labels), -1, predictions.shape[-1])  # (N, T, k)
        flat, repeated = items.reshape(-1, items.shape[-1]), np.repeat(labels, items.shape[1])
        return top1_error(flat, repeated), topk_error(flat[:, :5], repeated), {}


def _static_group(dataset: Dataset, cell: tuple[str, int], source: str) -> CellGroup:
    """A group of one cell whose images are evaluated as they are."""
    return CellGroup(dataset, {cell: {"data": dataset.fingerprint(), "images": len(dataset), "source": source}})


class CleanSuite(Suite):
    """Suite `clean`: top-1/top-5 error on a clean data set (cell `("clean", 0)`)."""

    name = "clean"

    def __init__(self, data: str | Path, dataset: str | None = None, class_map: dict[str, int] | None = None,
                 resize: int | None = 256, crop: int | None = 224) -> None:
        super().__init__(dataset or Path(data).name)
        self.source = open_clean(data, class_map, resize, crop)

    def groups(self) -> list[CellGroup]:
        return [_static_group(self.source, CLEAN, "clean")]


def check_names(requested: Sequence[str], available: Sequence[str], what: str) -> None:
    """Raise a `UsageError` for the first name of `requested` not in `available`, with the closest valid names."""
    for name in requested:
        if name not in available:
            close = difflib.get_close_matches(name, list(available), n=3)
            raise UsageError(f"unknown {what} {name!r}: expected one of {', '.join(available)}"
                             + (f" (closest: {', '.join(close)})" if close else ""))


class _CleanAndReference(Dataset):
    """Item `(index, uint8 (1 + R, 3, H, W), label)`: the clean image, decoded once, and its corruptions for the
    R cells that use the reference backend, computed here, i.e. in the loader workers."""

    def __init__(self, dataset: Dataset, cells: list[tuple[str, int]], seed: int) -> None:
        self.dataset, self.cells, self.seed = dataset, cells, seed  # reference cells: the "imagenet" preset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[int, Tensor, int]:
        index, image, label = self.dataset[index]
        views = [corrupt_indexed(image[None], [index], *cell, self.seed, "reference")[0] for cell in self.cells]
        return index, torch.stack([image, *views]), label


class CorruptionSuite(Suite):
    """Suite `c`: every `(corruption, severity)` of a corruption set, plus the clean cell when available.

    `data`: a pre-rendered tree (ImageNet-C, Tiny-ImageNet-C), a CIFAR-C folder, or clean images (a folder,
    CIFAR test pickles, `"demo"`) corrupted on the fly with `corruptions.corrupt`, seeded per image from `seed`:
    cells whose backend (`"auto"` resolved per corruption for `device`) is `"torch"` are corrupted on the
    device from the decoded batch, `"reference"` ones in the loader workers. `preset`: the severity constants of
    on-the-fly corruption, `"imagenet"` (default) or `"cifar"` (CIFAR-10-C's, for 32 px images; `corruptions.
    presets`). On-the-fly numbers are "ImageNet-C style" ("CIFAR-10-C style"), not comparable with the released
    images: the data set name gets `-otf` (`-otf-cifar`).
    """

    name = "c"

    def __init__(self, data: str | Path, dataset: str | None = None, clean: str | Path | None = None,
                 corruptions: Sequence[str] | None = None, severities: Sequence[int] | None = None,
                 class_map: dict[str, int] | None = None, seed: int = 0, backend: str = "auto",
                 device: str | torch.device = "cpu", resize: int | None = 256, crop: int | None = 224,
                 preset: str | None = None) -> None:
        from corruptions.presets import check_preset

        self.layout = detect_layout(data)
        on_the_fly = self.layout not in ("imagenet-c", "cifar-c")
        if preset is not None and not on_the_fly:
            raise UsageError(f"preset {preset!r} applies to corruption on the fly; {data} is a pre-rendered "
                             f"{self.layout} tree, whose constants are fixed: drop the preset")
        self.preset = check_preset(preset or "imagenet")
        suffix = ("-otf" + ("" if self.preset == "imagenet" else f"-{self.preset}")) if on_the_fly else ""
        super().__init__(dataset or Path(str(data)).name + suffix)
        self.severities = sorted(set(severities or SEVERITIES))
        if not set(self.severities) <= set(SEVERITIES):
            raise UsageError(f"severities must be in 1..5, got {', '.join(map(str, self.severities))}")
        self.corruptions = list(corruptions or COMMON_CORRUPTIONS)
        self.seed = seed
        if self.layout == "imagenet-c":
            self.tree = ImageNetC(data, class_map)
            class_map = self.tree.class_map
        elif self.layout == "cifar-c":
            self.tree = CifarC(data)
        else:
            from corruptions import get_corruption_names
            from corruptions.registry import resolve_backend

            check_names(self.corruptions, get_corruption_names("all"), "corruption")
            self.tree, clean = None, clean or data
            self.backends = {c: resolve_backend(backend, c, torch.device(device), self.preset)
                             for c in self.corruptions}
        if self.tree is not None:
            self.tree.check(self.corruptions, self.severities)
        self.clean = open_clean(clean, class_map, resize, crop) if clean is not None else None

    def _views(self, dataset: Dataset, cells: list[tuple[str, int]]) -> tuple[Dataset, InputFn]:
        in_workers = [cell for cell in cells if cell != CLEAN and self.backends[cell[0]] == "reference"]

        def inputs(batch: Tensor, indices: Tensor, cell: tuple[str, int]) -> Tensor:
            if cell == CLEAN:
                return batch[:, 0]
            if cell in in_workers:
                return batch[:, 1 + in_workers.index(cell)]
            return corrupt_indexed(batch[:, 0], indices.tolist(), *cell, self.seed, "torch", self.preset)
        return _CleanAndReference(dataset, in_workers, self.seed), inputs

    def groups(self) -> list[CellGroup]:
        cells = [(c, s) for c in self.corruptions for s in self.severities]
        if self.tree is None:
            base = {"data": self.clean.fingerprint(), "images": len(self.clean), "source": "on-the-fly"}
            fingerprints = {CLEAN: {**base, "source": "clean"}}
            settings = {"seed": self.seed} | ({} if self.preset == "imagenet" else {"preset": self.preset})
            fingerprints.update({cell: {**base, **settings, "backend": self.backends[cell[0]]} for cell in cells})
            return [CellGroup(self.clean, fingerprints, self._views)]
        groups = [_static_group(self.clean, CLEAN, "clean")] if self.clean else []
        return groups + [_static_group(self.tree.cell(*cell), cell, self.layout) for cell in cells]
