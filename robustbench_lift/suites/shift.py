"""Suite `shift`: consistency of the top-1 prediction under small translations (Zhang, ICML 2019).

The clean images form a canvas: ImageNet-style folders are read as Resize(`resize`) + CenterCrop(`resize`)
(antialiased-cnns `main.py`: 256); in-memory arrays (CIFAR, the demo) as they are. Model inputs are windows of
side `crop` (224) of that canvas; arrays (and folders read without a crop) are shifted as a whole when the
canvas is not larger than `crop` (CIFAR: 32 px inputs). `max_shift` defaults to canvas // 8 (4 at 32 px), for a
folder at least Zhang's range at the window's size (`zhang_max_shift`: 32 at 224, 41 at 288). A folder's canvas
always holds every window: when `resize` is smaller than `crop + max_shift` (a model's own preprocessing:
torchvision's V2 weights 232/224, timm's crop_pct 1.0 224/224) the images are read at `crop + max_shift`
instead (256 for 224 px windows: Zhang's protocol) and the cells record it as `canvas`; otherwise 99.1 % (V2)
to ~100 % (crop_pct 1.0) of the crop pairs would read up to 20-27 px of zeros. Windows that run past an
array's canvas read zeros (`shift_mode="crop"`, what pad-then-crop gives) or wrap around (`"circular"`); inside
it the two agree, so on folders the mode changes nothing. Cells, all from one pass over the data:

- `("pairs", 0)`: `pairs` pairs of windows per image at offsets (row, col) uniform in `{0..max_shift-1}^2`, drawn
  per image from a generator seeded by `derive_seed(seed, "shift-pairs", 0, index)` (`corruptions.shift.
  crop_pair_offsets`, `crop_pairs`): the numbers do not depend on the batch size or the
  sharding. (The reference draws one offset pair per batch of 8, unseeded, and makes 5 passes.) Predictions
  `(N, 2 * pairs, k)`, crops a and b of pair j at frames 2j, 2j + 1. `consistency` = fraction of pairs with the
  same top-1; the top-1/top-5 errors are over every crop ("accuracy under the same crops").
- `("diagonal", s)`, s = 0..max_shift: the window at (s, s) (antialiased-cnns `main.py -ed`;
  `corruptions.shift.diagonal_shifts`); predictions
  `(N, k)`, `agreement` = fraction of images whose top-1 equals that at shift 0 (the group's anchor cell).

Every cell also records its `shift_mode`.
"""

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from corruptions.seeding import derive_seed
from corruptions.shift import (
    SHIFT_MODES,
    ZHANG_CROP_SIZE,
    ZHANG_MAX_OFFSET,
    crop_pair_offsets,
    crop_pairs,
    default_max_shift,
    diagonal_shifts,
)
from robustbench_lift.data import open_clean
from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.shift import DIAGONAL, PAIRS, diagonal_agreement, pair_agreement
from robustbench_lift.suites.base import CellGroup, InputFn, Suite, read_as
from robustbench_lift.suites.options import ShiftOptions, at_model_size, reading

DEFAULT_MODE = "crop"
DEFAULT_PAIRS = 5
"""antialiased-cnns `main.py -es`: 5 passes over val, one pair per image each."""


def zhang_max_shift(window: int) -> int:
    """Zhang's offset range scaled to `window` px windows: `window * 32 // 224` (32 at 224, 41 at 288)."""
    return window * ZHANG_MAX_OFFSET // ZHANG_CROP_SIZE


class ShiftSuite(Suite):
    """Suite `shift` (see the module docstring): crop-pair consistency and the diagonal-shift curve;
    `shift_mode` defaults to `"crop"`, `pairs` to 5."""

    name = "shift"

    def __init__(self, data: str | Path, options: ShiftOptions = ShiftOptions(), *, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        super().__init__(options.dataset or Path(str(data)).name)
        options = at_model_size(options)
        shift_mode = options.shift_mode or DEFAULT_MODE
        pairs = DEFAULT_PAIRS if options.pairs is None else options.pairs
        if shift_mode not in SHIFT_MODES:
            raise UsageError(f"unknown shift mode {shift_mode!r}: expected one of {', '.join(SHIFT_MODES)}")
        if pairs < 1:
            raise UsageError(f"--pairs must be >= 1, got {pairs}")
        self.source = open_clean(data, options.class_map, options.resize, options.resize, **reading(options))
        side = min(self.source[0][1].shape[1:])
        crop = options.crop
        resized = bool(crop and getattr(self.source, "resize", None))  # a folder read at a size: windows of `crop`
        self.window = crop if resized or (crop and crop < side) else side
        self.max_shift = options.max_shift if options.max_shift is not None else \
            max(default_max_shift(side), zhang_max_shift(crop)) if resized else default_max_shift(side)
        if not 1 <= self.max_shift < self.window:
            raise UsageError(f"--max-shift must be in 1..{self.window - 1} for {self.window} px inputs, "
                             f"got {self.max_shift}")
        self.canvas = None  # the enlarged canvas, when the asked resize is too small to hold every window
        if resized and self.window + self.max_shift > side:
            self.canvas = self.window + self.max_shift
            self.source = open_clean(data, options.class_map, self.canvas, self.canvas, **reading(options))
        self.read_as = read_as(self.source, self.window)
        self.seed, self.mode, self.pairs = seed, shift_mode, pairs

    def _inputs(self, batch: Tensor, indices: Tensor, cell: tuple[str, int]) -> Tensor:
        """Crops `(B, 2 * pairs, 3, w, w)` for the pairs cell (crops a, b of pair j at 2j, 2j + 1), `(B, 3, w, w)`
        for a diagonal one."""
        circular = self.mode == "circular"
        if cell == PAIRS:
            seeds = [derive_seed(self.seed, "shift-pairs", 0, index) for index in indices.tolist()]
            offsets = crop_pair_offsets(seeds, self.pairs, self.max_shift)
            crops = crop_pairs(batch, offsets, self.window, circular=circular)
            return crops.reshape(batch.shape[0], 2 * self.pairs, *crops.shape[3:])
        return diagonal_shifts(batch, self.max_shift, self.window, mode=self.mode, shifts=[cell[1]])[:, 0]

    def _views(self, dataset: Dataset, cells: list[tuple[str, int]]) -> tuple[Dataset, InputFn]:
        return dataset, self._inputs

    def groups(self) -> list[CellGroup]:
        base = {"data": self.source.fingerprint(), "images": len(self.source), "window": self.window,
                "shift_mode": self.mode, "max_shift": self.max_shift,
                **({"canvas": self.canvas} if self.canvas else {})}
        fingerprints = {PAIRS: {**base, "pairs": self.pairs, "seed": self.seed}}
        fingerprints.update({(DIAGONAL, s): base for s in range(self.max_shift + 1)})
        return [CellGroup(self.source, fingerprints, self._views, frames=2 * self.pairs, anchor=(DIAGONAL, 0))]

    def cell_metrics(self, cell: tuple[str, int], predictions: np.ndarray, labels: np.ndarray,
                     anchor: np.ndarray | None = None) -> tuple[float, float, dict[str, Any]]:
        """Errors over every crop, `consistency` (pairs) or `agreement` with `anchor` (diagonal), `shift_mode`."""
        top1, top5, _ = super().cell_metrics(cell, predictions, labels)
        if cell == PAIRS:
            return top1, top5, {"consistency": float(np.mean(pair_agreement(predictions))), "shift_mode": self.mode}
        if anchor is None:
            raise ValueError(f"diagonal cell {cell} is scored against the shift-0 predictions: pass anchor")
        return top1, top5, {"agreement": diagonal_agreement(predictions, anchor), "shift_mode": self.mode}
