"""Suite `shift`: consistency of the top-1 prediction under small translations (Zhang, ICML 2019).

The clean images form a canvas: ImageNet-style folders are read as Resize(`resize`) + CenterCrop(`resize`)
(antialiased-cnns `main.py`: 256); in-memory arrays (CIFAR, the demo) as they are. Model inputs are windows of
side `crop` (224) of that canvas, or the whole canvas when it is not larger than `crop` (CIFAR: 32 px inputs).
`max_shift` defaults to canvas // 8 (32 at 256 px, 4 at 32 px). Windows that run past the canvas read zeros
(`shift_mode="crop"`, what pad-then-crop gives) or wrap around (`"circular"`); inside it the two agree, so at
ImageNet size (224 + 31 < 256) the mode changes nothing. Cells, all from one pass over the data:

- `("pairs", 0)`: `pairs` pairs of windows per image at offsets (row, col) uniform in `{0..max_shift-1}^2`, drawn
  per image from a generator seeded by `(seed, index)`: the numbers do not depend on the batch size or the
  sharding. (The reference draws one offset pair per batch of 8, unseeded, and makes 5 passes.) Predictions
  `(N, 2 * pairs, k)`, crops a and b of pair j at frames 2j, 2j + 1. `consistency` = fraction of pairs with the
  same top-1; the top-1/top-5 errors are over every crop ("accuracy under the same crops").
- `("diagonal", s)`, s = 0..max_shift: the window at (s, s) (antialiased-cnns `main.py -ed`); predictions
  `(N, k)`, `agreement` = fraction of images whose top-1 equals that at shift 0 (the group's anchor cell).

Every cell also records its `shift_mode`.
"""

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from corruptions.shift import SHIFT_MODES, default_max_shift, windows
from robustbench_lift.data import open_clean
from robustbench_lift.errors import UsageError
from robustbench_lift.render import image_seed
from robustbench_lift.suites import CellGroup, InputFn, Suite

PAIRS = ("pairs", 0)
DIAGONAL = "diagonal"
DEFAULT_MODE = "crop"
DEFAULT_PAIRS = 5
"""antialiased-cnns `main.py -es`: 5 passes over val, one pair per image each."""


def pair_offsets(seed: int, index: int, pairs: int, max_shift: int) -> Tensor:
    """int64 `(pairs, 2, 2)` = `[pair, crop a/b, (row, col)]` offsets of image `index`, uniform in
    `{0..max_shift-1}`, from a CPU generator seeded with `image_seed(seed, "shift-pairs", 0, index)`."""
    generator = torch.Generator().manual_seed(image_seed(seed, "shift-pairs", 0, index))
    return torch.randint(max_shift, (pairs, 2, 2), generator=generator)


class ShiftSuite(Suite):
    """Suite `shift` (see the module docstring): crop-pair consistency and the diagonal-shift curve;
    `shift_mode` defaults to `"crop"`, `pairs` to 5."""

    name = "shift"

    def __init__(self, data: str | Path, dataset: str | None = None, class_map: dict[str, int] | None = None,
                 seed: int = 0, shift_mode: str | None = None, pairs: int | None = None,
                 max_shift: int | None = None, resize: int | None = 256, crop: int | None = 224) -> None:
        super().__init__(dataset or Path(str(data)).name)
        shift_mode, pairs = shift_mode or DEFAULT_MODE, DEFAULT_PAIRS if pairs is None else pairs
        if shift_mode not in SHIFT_MODES:
            raise UsageError(f"unknown shift mode {shift_mode!r}: expected one of {', '.join(SHIFT_MODES)}")
        if pairs < 1:
            raise UsageError(f"--pairs must be >= 1, got {pairs}")
        self.source = open_clean(data, class_map, resize, resize)
        side = min(self.source[0][1].shape[1:])
        self.window = crop if crop and crop < side else side
        self.max_shift = default_max_shift(side) if max_shift is None else max_shift
        if not 1 <= self.max_shift < self.window:
            raise UsageError(f"--max-shift must be in 1..{self.window - 1} for {self.window} px inputs, "
                             f"got {self.max_shift}")
        self.seed, self.mode, self.pairs = seed, shift_mode, pairs

    def _window(self, images: Tensor, top: Tensor, left: Tensor, index: Tensor | None = None) -> Tensor:
        return windows(images, top, left, self.window, self.window, index=index, circular=self.mode == "circular")

    def _inputs(self, batch: Tensor, indices: Tensor, cell: tuple[str, int]) -> Tensor:
        """Crops `(B, 2 * pairs, 3, w, w)` for the pairs cell, `(B, 3, w, w)` for a diagonal one."""
        n = batch.shape[0]
        if cell == PAIRS:
            offsets = torch.stack([pair_offsets(self.seed, i, self.pairs, self.max_shift) for i in indices.tolist()])
            flat = offsets.to(batch.device).reshape(-1, 2)  # image-major, then pair, then crop a/b
            source = torch.arange(n, device=batch.device).repeat_interleave(2 * self.pairs)
            crops = self._window(batch, flat[:, 0], flat[:, 1], source)
            return crops.reshape(n, 2 * self.pairs, *crops.shape[1:])
        at = torch.full((n,), cell[1], device=batch.device)
        return self._window(batch, at, at)

    def _views(self, dataset: Dataset, cells: list[tuple[str, int]]) -> tuple[Dataset, InputFn]:
        return dataset, self._inputs

    def groups(self) -> list[CellGroup]:
        base = {"data": self.source.fingerprint(), "images": len(self.source), "window": self.window,
                "shift_mode": self.mode, "max_shift": self.max_shift}
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
        return top1, top5, {"agreement": float(np.mean(predictions[:, 0] == anchor[:, 0])), "shift_mode": self.mode}


def pair_agreement(predictions: np.ndarray) -> np.ndarray:
    """Per image, the fraction of its pairs with the same top-1: float `(N,)` from `(N, 2 * pairs, k)`."""
    return np.mean(predictions[:, 0::2, 0] == predictions[:, 1::2, 0], axis=1)
