"""Benchmark suites: what to evaluate, as groups of cells that share one pass over one image source.

A cell is one `(corruption, severity)` of a suite on a data set (the clean cell is `("clean", 0)`). A
`CellGroup` is a set of cells computed from the same decoded batches: a pre-rendered cell is a group of its
own; on the fly, one group holds the clean cell and every `(corruption, severity)`, so each clean batch is
decoded once and every cell's inputs are made from it (the engine commits the pass per chunk of images,
`engine.chunks`; a resumed run computes only the chunks and cells that were not committed).

This module holds what every suite shares and the `clean` suite; `corruption`, `perturbation` and `shift` hold
the others. `CellGroup.prepare` may return inputs of shape `(B, T, 3, H, W)` (T frames per item), and
`Suite.cell_metrics` turns the stored top-k predictions into the suite's scalars.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from robustbench_lift.data import open_clean
from robustbench_lift.data.imagefolder import CLEAN_CROP, CLEAN_RESIZE
from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.corruption import top1_error, topk_error
from robustbench_lift.models.preprocess import default_resize
from robustbench_lift.suites.options import CleanOptions, CorruptionOptions, at_model_size, reading

if TYPE_CHECKING:
    import pandas as pd

CLEAN = ("clean", 0)
IMAGENET_C_READ = {"input_size": 224, "interpolation": "bilinear"}
"""`read_as` of ImageNet-C's clean protocol (Resize 256, CenterCrop 224, bilinear): omitted from the clean cell of
a released tree, whose fingerprint did not record it before."""
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
    `dense`: items carry masks `(H, W)` instead of labels and cells keep per-image class intersection/union counts
    (`engine.dense`); `sizes`: each item's `(H, W)` when they differ, so batches hold one size each.
    `crop_pairs[cell]`: for a dense cell whose inputs are two crops per item `(B, 2, 3, h, w)`, the crops'
    corners `(B, 2, 2)` from the items' indices; the cell keeps their agreement counts (`engine.dense`).
    `valid_labels`: `{model output: label}`, the only outputs ranked, each predicting its label (the 200 classes of
    ImageNet-R/-A among a 1000-class model's; `suites.ood`); None: every output, predicting itself.
    """

    dataset: Dataset
    fingerprints: dict[tuple[str, int], dict[str, Any]]
    views: Callable[[Dataset, list[tuple[str, int]]], tuple[Dataset, InputFn]] | None = None
    frames: int = 1
    anchor: tuple[str, int] | None = None
    dense: bool = False
    sizes: list[tuple[int, int]] | None = None
    crop_pairs: dict[tuple[str, int], Callable[[Tensor], Tensor]] = field(default_factory=dict)
    valid_labels: dict[int, int] | None = None

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
    read_as: dict[str, Any] = {}
    """How the clean images the model's inputs are made from were read, recorded in every cell's fingerprint
    (`read_as`); empty for released trees (their clean cell records its own: `static_group`)."""

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


def read_as(dataset: Dataset, side: int | None = None) -> dict[str, Any]:
    """How clean images `dataset` were read: `input_size` (`side`, default the shorter side of its first image: all
    have one size once resized and cropped) and, if it resizes them, `interpolation`, `resize` and `crop_mode`
    (with its `border_fill` for "border"), each of the latter only when it is not ImageNet-C's (0.875 at this size,
    `default_resize`; center): stores written before they were recorded resume at that protocol, and Resize 232
    and 256 runs get different fingerprints."""
    resized = getattr(dataset, "resize", None)
    side = side or min(dataset[0][1].shape[-2:])
    mode = getattr(dataset, "crop_mode", "center")
    return {"input_size": side, **({"interpolation": dataset.interpolation.value} if resized else {}),
            **({"resize": resized} if resized and resized != default_resize(side) else {}),
            **({"crop_mode": mode} if resized and mode != "center" else {}),
            **({"border_fill": list(dataset.fill)} if resized and mode == "border" else {})}


CLEAN_PROTOCOLS = ("model", "release")


def clean_protocol(options: CorruptionOptions, released: bool, data: str | Path) -> CorruptionOptions:
    """`options` whose clean images are read by `options.clean_protocol`: "model" (default) as they say, "release"
    as ImageNet-C's test.py read them (Resize 256, CenterCrop 224, bilinear): the clean error of the published
    relative mCE. Only for the clean counterpart of a released tree (`released`); on the fly the clean images are
    what is corrupted, read by `resize`/`crop`."""
    protocol = options.clean_protocol or "model"
    if protocol not in CLEAN_PROTOCOLS:
        raise UsageError(f"unknown clean protocol {protocol!r}: expected one of {', '.join(CLEAN_PROTOCOLS)}")
    if protocol == "model":
        return options
    if not released:
        raise UsageError(f"clean protocol {protocol!r} applies to the clean counterpart of a released tree; {data} "
                         "is corrupted on the fly: set --resize/--crop instead")
    return replace(options, resize=CLEAN_RESIZE, crop=CLEAN_CROP, interpolation="bilinear", crop_mode="center")


def static_group(dataset: Dataset, cell: tuple[str, int], source: str) -> CellGroup:
    """A group of one cell whose images are evaluated as they are. A clean folder read at a size (the clean cell
    of a released tree) records it (`read_as`), but only what differs from ImageNet-C's 256/224 bilinear, which
    is what such cells were computed with before their fingerprint said so."""
    read = read_as(dataset) if getattr(dataset, "resize", None) else {}
    return CellGroup(dataset, {cell: {"data": dataset.fingerprint(), "images": len(dataset), "source": source,
                                      **{k: v for k, v in read.items() if IMAGENET_C_READ.get(k) != v}}})


class CleanSuite(Suite):
    """Suite `clean`: top-1/top-5 error on a clean data set (cell `("clean", 0)`)."""

    name = "clean"

    def __init__(self, data: str | Path, options: CleanOptions = CleanOptions(), *, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        super().__init__(options.dataset or Path(data).name)
        options = at_model_size(options)
        self.source = open_clean(data, options.class_map, options.resize, options.crop, **reading(options))
        self.read_as = read_as(self.source)

    def groups(self) -> list[CellGroup]:
        return [static_group(self.source, CLEAN, "clean")]


def baseline_cells(path: str, model: str, suite: str, source: str) -> tuple["pd.DataFrame", str]:
    """The `suite` cells of one model on one data set in results store `path` (`model`, from `<store>#<model>`,
    picks one when it holds several) and their name for reports, `model (store file, data set)`."""
    from robustbench_lift.store import load_results

    frame = load_results(path)
    cells = frame[frame["suite"] == suite] if "suite" in frame else frame
    if model:
        cells = cells[cells["model"] == model]
    runs = sorted(set(zip(cells["model"], cells["dataset"]))) if len(cells) else []
    if len(runs) != 1:
        found = ", ".join(f"{m} on {d}" for m, d in runs) or f"no {suite} cells"
        raise UsageError(f"{suite} baseline {source}: expected the {suite} cells of one model on one data set, "
                         f"found {found}" + ("; choose one with <store>#<model>" if len(runs) > 1 else ""))
    return cells, f"{runs[0][0]} ({Path(path).name}, {runs[0][1]})"
