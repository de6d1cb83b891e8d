"""Suite `seg`: semantic segmentation under ImageNet-C corruptions (Kamann & Rother, CVPR 2020).

Clean cell `("clean", 0)` and every `(corruption, severity)`: on the fly from a segmentation set (PASCAL VOC
2012, Cityscapes, `images/` + `masks/`, or `"demo"`), each image corrupted at its own size (batches hold images
of one size) with the per-image seeds of suite `c`; or from a tree `liftbench render` wrote
(`<corruption>/<severity>/images/`, `masks/`), with `clean` the set it was rendered from. A cell stores per
image and class the intersection and union pixel counts (predictions `(N, 2, C)`) and the true pixel counts
(labels `(N, C)`); its scalars are `miou` and `pixel_acc` (`metrics.segmentation`), and with a `seg_baseline`
(the seg cells of another model in a results store) `base_miou` and `seg_baseline`, from which the summary
computes mCD; stored cells are re-scored when a baseline is given.

Shift consistency, cell `("shift", 0)` of the clean group: per image two crops of `(H - m + 1, W - m + 1)` at
corners uniform in `{0..m-1}^2`, m = `default_max_shift(min(H, W))` (1/8 of the side), drawn per image from
`derive_seed(seed, "seg-shift", 0, index)` (`corruptions.shift.crop_pair_offsets`); it stores per image and
class the agreeing and overlap pixel counts (`engine.dense.agreement_counts`, predictions `(N, 2, C)`) and scores
`consistency` = agreeing / overlap pixels over every overlap pixel (ignore-labelled ones too: no label is used).
"""

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from corruptions.names import SEVERITIES, expand_corruptions
from corruptions.registry import resolve_corruption
from corruptions.seeding import derive_seed
from corruptions.shift import crop_pair_offsets, default_max_shift, windows
from robustbench_lift.data import DEMO
from robustbench_lift.data.segmentation import SegmentationFolder, open_segmentation
from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.segmentation import consistency, mean_iou, pixel_accuracy
from robustbench_lift.suites.base import CLEAN, CellGroup, InputFn, baseline_cells
from robustbench_lift.suites.corruption import CorruptionSuite, jpeg_setting
from robustbench_lift.suites.options import SegmentationOptions
from robustbench_lift.suites.protocol import resolve_preset

SHIFT = ("shift", 0)
"""The shift-consistency cell (module doc)."""


def load_seg_baseline(source: str | Path) -> tuple[str, dict[tuple[str, int], float]]:
    """`(name, {cell: mIoU})` of the seg cells of one model in a results store (`<store>#<model>` picks one)."""
    path, _, model = str(source).partition("#")
    if not Path(path).is_file():
        raise UsageError(f"seg baseline {path} not found: expected a results store of `liftbench evaluate --suite "
                         "seg --model <baseline>`")
    cells, name = baseline_cells(path, model, "seg", str(source))
    return name, {(c, int(s)): float(m) for c, s, m in zip(cells["corruption"], cells["severity"], cells["miou"])}


def is_segmentation_tree(root: str | Path) -> bool:
    """Whether `root` holds `<corruption>/<severity>/images/` cells (a rendered segmentation tree)."""
    root = Path(root)
    return root.is_dir() and any(p.is_dir() for p in root.glob("*/[0-9]/images"))


class SegmentationSuite(CorruptionSuite):
    """Suite `seg`: mIoU and pixel accuracy per cell; on-the-fly inputs made as suite `c` makes them."""

    name = "seg"

    def __init__(self, data: str | Path, options: SegmentationOptions = SegmentationOptions(), *, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        rendered = str(data) != DEMO and is_segmentation_tree(data)
        if options.preset is not None and rendered:
            raise UsageError(f"preset {options.preset!r} applies to corruption on the fly; {data} is a rendered "
                             "tree, whose images are fixed: drop the preset")
        self.preset = resolve_preset(options.preset, DEMO if str(data) == DEMO else None)
        suffix = "" if rendered else "-otf" + ("" if self.preset == "imagenet" else f"-{self.preset}")
        self.jpeg, jpeg_suffix = jpeg_setting(options.jpeg_quality, not rendered, data)
        self.dataset = options.dataset or Path(str(data)).name + suffix + jpeg_suffix
        self.severities = sorted(set(options.severities or SEVERITIES))
        if not set(self.severities) <= set(SEVERITIES):
            raise UsageError(f"severities must be in 1..5, got {', '.join(map(str, self.severities))}")
        self.corruptions = expand_corruptions(options.corruptions, strict=not rendered)
        self.seed, self.root = seed, Path(str(data)) if rendered else None
        self.scaling = "none"  # images keep their own size: the published constants as they are (Kamann & Rother)
        clean = options.clean if rendered else (options.clean or data)
        self.clean = open_segmentation(clean, options.split or "val") if clean is not None else None
        if rendered:
            missing = [f"{c}/{s}" for c in self.corruptions for s in self.severities
                       if not (self.root / c / str(s) / "images").is_dir()]
            if missing:
                raise UsageError(f"{data} has no cells {', '.join(missing[:5])}: render them or pick others")
        else:
            self.resolved = {(c, s): resolve_corruption(c, s, backend=options.backend, device=device,
                                                        preset=self.preset)
                             for c in self.corruptions for s in self.severities}
        self.baseline = load_seg_baseline(options.seg_baseline) if options.seg_baseline is not None else None
        if self.baseline is not None:
            absent = [f"{c}/{s}" for c in self.corruptions for s in self.severities if (c, s) not in self.baseline[1]]
            if absent:
                raise UsageError(f"seg baseline {self.baseline[0]} has no mIoU for {', '.join(absent[:5])}: "
                                 "evaluate the baseline model on the same cells")
        self.rescore = self.baseline is not None

    def _group(self, dataset: Any, fingerprints: dict, views: Any = None) -> CellGroup:
        sizes = dataset.sizes
        return CellGroup(dataset, fingerprints, views, dense=True, sizes=None if len(set(sizes)) == 1 else sizes)

    def _pair_offsets(self, indices: Tensor) -> Tensor:
        """Corners int64 `(B, 2, 2)` of the two crops of each image (a batch holds images of one size)."""
        seeds = [derive_seed(self.seed, "seg-shift", 0, index) for index in indices.tolist()]
        return crop_pair_offsets(seeds, 1, default_max_shift(min(self.clean.sizes[int(indices[0])])))[:, 0]

    def _shift_views(self, views: Any) -> Any:
        """`views` (None: the images as they are) whose input function also makes the `SHIFT` cell's crop pairs
        `(B, 2, 3, H - m + 1, W - m + 1)` from the clean images."""

        def shifted(dataset: Dataset, cells: list[tuple[str, int]]) -> tuple[Dataset, InputFn]:
            others = [cell for cell in cells if cell != SHIFT]
            data, inputs = views(dataset, others) if views is not None else (dataset, lambda b, i, c: b)

            def make(batch: Tensor, indices: Tensor, cell: tuple[str, int]) -> Tensor:
                if cell != SHIFT:
                    return inputs(batch, indices, cell)
                clean = inputs(batch, indices, CLEAN)
                corners = self._pair_offsets(indices).to(clean.device).reshape(-1, 2)
                size = [side - default_max_shift(min(clean.shape[-2:])) + 1 for side in clean.shape[-2:]]
                source = torch.arange(len(clean), device=clean.device).repeat_interleave(2)
                crops = windows(clean, corners[:, 0], corners[:, 1], *size, index=source)
                return crops.reshape(len(clean), 2, *crops.shape[1:])
            return data, make
        return shifted

    def _clean_group(self, fingerprints: dict, views: Any = None) -> CellGroup:
        """The group of the clean images: `fingerprints`' cells and `SHIFT`."""
        base = {"images": len(self.clean), "data": self.clean.fingerprint()}
        fingerprints = {**fingerprints, SHIFT: {**base, "source": "shift", "seed": self.seed,
                                                "max_shift": "min(H, W) // 8"}}
        group = self._group(self.clean, fingerprints, self._shift_views(views))
        group.frames, group.crop_pairs = 2, {SHIFT: self._pair_offsets}
        return group

    def groups(self) -> list[CellGroup]:
        cells = [(c, s) for c in self.corruptions for s in self.severities]
        base = {"images": len(self.clean), "data": self.clean.fingerprint()} if self.clean is not None else {}
        if self.root is None:
            settings = {"seed": self.seed} | ({} if self.preset == "imagenet" else {"preset": self.preset}) | self.jpeg
            fingerprints = {CLEAN: {**base, "source": "clean"}}
            fingerprints.update({cell: {**base, **settings, "backend": self.resolved[cell].backend,
                                        "source": "on-the-fly"} for cell in cells})
            return [self._clean_group(fingerprints, self._views)]
        groups = [self._clean_group({CLEAN: {**base, "source": "clean"}})] if self.clean is not None else []
        for cell in cells:
            tree = SegmentationFolder(self.root / cell[0] / str(cell[1]))
            groups.append(self._group(tree, {cell: {"data": tree.fingerprint(), "images": len(tree),
                                                    "source": "rendered"}}))
        return groups

    def cell_metrics(self, cell: tuple[str, int], predictions: np.ndarray, labels: np.ndarray,
                     anchor: np.ndarray | None = None) -> tuple[None, None, dict[str, Any]]:
        """No top-k errors; `miou` and `pixel_acc` from the counts `(N, 2, C)` (fractions), and the baseline's
        `base_miou` of the cell with its name `seg_baseline`; `consistency` for the `SHIFT` cell's counts."""
        if cell == SHIFT:
            return None, None, {"consistency": float(consistency(predictions[:, 0], predictions[:, 1]))}
        intersection, union = predictions[:, 0], predictions[:, 1]
        metrics = {"miou": float(mean_iou(intersection, union)),
                   "pixel_acc": float(pixel_accuracy(intersection, union))}
        if self.baseline is not None and cell in self.baseline[1]:
            metrics.update(base_miou=self.baseline[1][cell], seg_baseline=self.baseline[0])
        return None, None, metrics
