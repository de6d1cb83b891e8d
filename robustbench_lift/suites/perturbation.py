"""Suite `p` (ImageNet-P): flip probability and top-5 distance of perturbation sequences.

Cells `(perturbation, difficulty)`; each stores the top-k predictions of every frame, `(N, T, k)` (one row per
sequence), so every number below can be recomputed from the store. Sources:

- the released videos (`robustbench_lift.data.imagenet_p`), one group per folder, frames as they are;
- on the fly from clean images (a folder, CIFAR test pickles, `"demo"`): one group holds every cell, each
  clean batch is decoded once and `corruptions.perturbation_sequence` makes every cell's frames on the device.
  ImageNet-style folders are read as Resize(`resize`) then a centre window of `resize` x (`resize` + 40) (the
  release perturbed the whole resized image, and translate moves it by up to 20 px each way), and the
  frames are centre-cropped to `crop`. Randomness (noises, snow, spatter) is seeded per image from
  `(seed, perturbation, difficulty, index)`. Inputs of at most `SMALL_INPUT` px (CIFAR, the demo) are used
  whole, and translate follows CIFAR-10-P (`make_cifar_p.py`: 16 frames shifted `i - 7` px, zero fill) since
  ImageNet-P's +-20 px would move most of a 32 px image out of view. Names get `-otf` (ImageNet-P style).

Scores (`robustbench_lift.metrics.perturbation`; Hendrycks & Dietterich, ICLR 2019): per sequence the flip
probability (noises against the first frame, the others against the previous one) and uT5D; per cell their
means `flip_prob`, `ut5d`. FR and T5D need the baseline model's FP and uT5D, which are not published in a
readable form: with `p_baseline` (a CSV `perturbation,[difficulty,]flip_prob,ut5d`, or a results store holding
one model's `p` cells, `path.db#model` to choose) cells also get `fr = flip_prob / base_flip_prob`,
`t5d = ut5d / base_ut5d`, the baseline's values and its name `p_baseline`.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import Dataset

from corruptions.names import DIFFICULTIES, NOISE_PERTURBATIONS, RANDOM_PERTURBATIONS, expand_perturbations
from corruptions.perturbations import perturbation_sequence, release_length
from corruptions.seeding import seeded_generator
from corruptions.shift import shift
from robustbench_lift.data import ImageNetP, detect_layout, open_clean
from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.perturbation import per_sequence
from robustbench_lift.suites.base import CellGroup, InputFn, Suite, read_as
from robustbench_lift.suites.options import PerturbationOptions, at_model_size

TRANSLATE_MARGIN = 20
"""make_imagenet_p.py: translate shifts of up to 20 px before the centre crop."""
SMALL_INPUT = 32
CIFAR_TRANSLATE = (16, 7)
"""make_cifar_p.py translate: 16 frames, frame i shifted right by i - 7 px (PIL affine, zero fill)."""


@dataclass(frozen=True)
class PBaseline:
    """A model's FP and uT5D per `(perturbation, difficulty)`, the denominators of FR and T5D."""

    name: str
    values: dict[tuple[str, int], tuple[float, float]]


def load_p_baseline(source: str | Path) -> PBaseline:
    """A baseline from a CSV (`perturbation`, optional `difficulty` (default 1), `flip_prob`, `ut5d`) or from
    the `p` cells of a results store (`results.db`, or `results.db#<model>` when it holds several models)."""
    from robustbench_lift.store import load_results

    path, _, model = str(source).partition("#")
    if not Path(path).is_file():
        raise UsageError(f"p baseline {path} not found: expected a CSV (perturbation,difficulty,flip_prob,ut5d) "
                         "or a results store of `liftbench evaluate --suite p --model alexnet-max ...`")
    if path.endswith(".csv"):
        table = pd.read_csv(path)
        missing = sorted({"perturbation", "flip_prob", "ut5d"} - set(table))
        if missing:
            raise UsageError(f"p baseline {path}: no column(s) {', '.join(missing)} (expected perturbation,"
                             "[difficulty,]flip_prob,ut5d)")
        difficulty = table["difficulty"] if "difficulty" in table else pd.Series(1, index=table.index)
        rows = zip(table["perturbation"], difficulty, table["flip_prob"], table["ut5d"])
        return PBaseline(Path(path).name, {(str(p), int(d)): (float(f), float(u)) for p, d, f, u in rows})
    frame = load_results(path)
    cells = frame[frame["suite"] == "p"] if "suite" in frame else frame
    if model:
        cells = cells[cells["model"] == model]
    runs = sorted(set(zip(cells["model"], cells["dataset"]))) if len(cells) else []
    if len(runs) != 1:
        found = ", ".join(f"{m} on {d}" for m, d in runs) or "no p cells"
        raise UsageError(f"p baseline {source}: expected the p cells of one model on one data set, found {found}"
                         + ("; choose one with <store>#<model>" if len(runs) > 1 else ""))
    values = {(c, int(s)): (float(f), float(u)) for c, s, f, u in
              zip(cells["corruption"], cells["severity"], cells["flip_prob"], cells["ut5d"])}
    return PBaseline(f"{runs[0][0]} ({Path(path).name}, {runs[0][1]})", values)


def _small_translate(images: Tensor) -> Tensor:
    """CIFAR-10-P translate frames `(N, 16, 3, H, W)` of `(N, 3, H, W)` images (zero fill)."""
    frames, offset = CIFAR_TRANSLATE
    return torch.stack([shift(images, i - offset, 0, mode="crop") for i in range(frames)], dim=1)


class PerturbationSuite(Suite):
    """Suite `p` over released videos or clean data (see the module docstring); cells `(perturbation,
    difficulty)` for `perturbations` (default the 10 test ones) and `difficulties` (default 1; 2 and 3 apply
    to the noises)."""

    name = "p"

    def __init__(self, data: str | Path, options: PerturbationOptions = PerturbationOptions(), *, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        options = at_model_size(options)
        self.layout = detect_layout(data)
        super().__init__(options.dataset or Path(str(data)).name + ("" if self.layout == "imagenet-p" else "-otf"))
        names = expand_perturbations(options.perturbations)
        levels = sorted(set(options.difficulties or (1,)))
        if not set(levels) <= set(DIFFICULTIES):
            raise UsageError(f"difficulties must be in 1..3, got {', '.join(map(str, levels))}")
        self.cells = [(p, d) for p in names for d in levels if d == 1 or p in NOISE_PERTURBATIONS]
        if not self.cells:
            raise UsageError(f"difficulties {levels} apply to the noises only ({', '.join(NOISE_PERTURBATIONS)}); "
                             "add difficulty 1 for the other perturbations")
        self.seed, self.crop, self.device = seed, options.crop, torch.device(device)
        if self.layout == "imagenet-p":
            self.tree = ImageNetP(data, options.class_map)
            self.tree.check(self.cells)
        else:
            self.tree = None
            resize = options.resize
            window = (resize, resize + 2 * TRANSLATE_MARGIN) if resize else None
            self.source = open_clean(data, options.class_map, resize, window, options.interpolation)
            side = min(self.source[0][1].shape[-2:])
            self.read_as = read_as(self.source, self.crop if self.crop and self.crop < side else side)
        baseline = options.p_baseline
        self.baseline = load_p_baseline(baseline) if isinstance(baseline, (str, Path)) else baseline
        if self.baseline is not None:
            absent = [f"{p}/{d}" for p, d in self.cells if (p, d) not in self.baseline.values]
            if absent:
                raise UsageError(f"p baseline {self.baseline.name} has no values for {', '.join(absent)}: evaluate "
                                 "the baseline model on the same perturbations and difficulties")
        self.rescore = self.baseline is not None

    def _inputs(self, batch: Tensor, indices: Tensor, cell: tuple[str, int]) -> Tensor:
        """Frames `(B, T, 3, h, w)` (uint8) of `cell` for a clean uint8 batch `(B, 3, H, W)`."""
        name, difficulty = cell
        side = min(batch.shape[-2:])
        if name == "translate" and side <= SMALL_INPUT:
            return _small_translate(batch)
        out_size = self.crop if self.crop and self.crop < side else None
        if name not in RANDOM_PERTURBATIONS:
            return perturbation_sequence(batch, name, difficulty=difficulty, out_size=out_size)
        return torch.cat([perturbation_sequence(batch[i:i + 1], name, difficulty=difficulty, out_size=out_size,
                                                generator=seeded_generator(self.seed, name, difficulty, index))
                          for i, index in enumerate(indices.tolist())])

    def _views(self, dataset: Dataset, cells: list[tuple[str, int]]) -> tuple[Dataset, InputFn]:
        return dataset, self._inputs

    def groups(self) -> list[CellGroup]:
        if self.tree is not None:
            videos = {cell: self.tree.cell(*cell) for cell in self.cells}
            return [CellGroup(video, {cell: {"data": video.fingerprint(), "images": len(video),
                                             "source": "imagenet-p"}}, frames=release_length(cell[0]))
                    for cell, video in videos.items()]
        base = {"data": self.source.fingerprint(), "images": len(self.source), "source": "on-the-fly",
                "crop": self.crop, "seed": self.seed}
        fingerprints = {cell: {**base, **({"rng_device": self.device.type} if cell[0] in RANDOM_PERTURBATIONS
                                          else {})} for cell in self.cells}
        return [CellGroup(self.source, fingerprints, self._views, frames=max(release_length(p) for p, _ in self.cells))]

    def cell_metrics(self, cell: tuple[str, int], predictions: np.ndarray, labels: np.ndarray,
                     anchor: np.ndarray | None = None) -> tuple[float, float, dict[str, Any]]:
        """Errors over every frame, `flip_prob` and `ut5d` (means over sequences), and with a baseline that has
        the cell `fr`, `t5d`, `base_flip_prob`, `base_ut5d`, `p_baseline`."""
        top1, top5, _ = super().cell_metrics(cell, predictions, labels)
        flips, distances = per_sequence(cell, predictions)
        metrics: dict[str, Any] = {"flip_prob": float(flips.mean()), "ut5d": float(distances.mean())}
        if self.baseline is not None and cell in self.baseline.values:
            base_fp, base_ut5d = self.baseline.values[cell]
            metrics.update(fr=metrics["flip_prob"] / base_fp if base_fp else float("nan"),
                           t5d=metrics["ut5d"] / base_ut5d if base_ut5d else float("nan"),
                           base_flip_prob=base_fp, base_ut5d=base_ut5d, p_baseline=self.baseline.name)
        return top1, top5, metrics
