"""Suite `p` (ImageNet-P): flip probability and top-5 distance of perturbation sequences.

Cells `(perturbation, difficulty)`; each stores the top-k predictions of every frame, `(N, T, k)` (one row per
sequence), so every number below can be recomputed from the store. Sources:

- the released videos (`robustbench_lift.data.imagenet_p`), one group per folder, frames as they are;
- on the fly from clean images (a folder, CIFAR test pickles, `"demo"`): one group holds every cell, each
  clean batch is decoded once and `corruptions.perturbation_sequence` makes every cell's frames on the device.
  As make_imagenet_p.py, image folders are perturbed whole after Resize(`resize`) and the frames cut to
  CenterCrop(`crop`): items are read as centre canvases that hold every pixel a frame reads
  (`corruptions.perturbations.source_window`) with each image's whole size (`ImageFolder.resized_sizes`).
  Other inputs (CIFAR, the demo) are used whole. Randomness (noises, snow, spatter) is seeded per image from
  `(seed, perturbation, difficulty, index)`, difficulty 1 for all but the noises (one sequence each).
  `preset`: the constants and lengths of `make_imagenet_p.py` (`"imagenet"`) or `make_cifar_p.py` (`"cifar"`,
  for 32 px images); default: the data set's own (`suites.protocol`). Names get `-otf` (`-otf-cifar`):
  ImageNet-P (CIFAR-10-P) style, not the released videos.

Scores (`robustbench_lift.metrics.perturbation`; Hendrycks & Dietterich, ICLR 2019): per sequence the flip
probability (noises against the first frame, the others at difficulty d frame j against frame j - d, as
`ImageNet-P/test.py`; `sequences_of`) and uT5D; per cell their means `flip_prob`, `ut5d`. FR and T5D need the
baseline model's FP and uT5D, which are not published in a readable form: with `p_baseline` (a CSV
`perturbation,[difficulty,]flip_prob,ut5d`, or a results store holding one model's `p` cells, `path.db#model`
to choose; validated by `suites.p_baseline`) cells also get `fr = flip_prob / base_flip_prob`,
`t5d = ut5d / base_ut5d`, the baseline's values and its name `p_baseline`.
"""

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from corruptions.names import DIFFICULTIES, NOISE_PERTURBATIONS, RANDOM_PERTURBATIONS, expand_perturbations
from corruptions.perturbations import perturbation_sequence, release_length, source_window
from corruptions.seeding import item_seeds
from robustbench_lift.data import ImageNetP, detect_layout, open_clean
from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.perturbation import per_sequence
from robustbench_lift.suites.base import CellGroup, InputFn, Suite, read_as
from robustbench_lift.suites.options import PerturbationOptions, at_model_size, reading
from robustbench_lift.suites.p_baseline import load_p_baseline
from robustbench_lift.suites.protocol import resolve_preset, warn_far_size


def sequences_of(cell: tuple[str, int]) -> tuple[str, int]:
    """The sequences cell `(perturbation, difficulty)` reads (`ImageNet-P/test.py`): the noises' own, stronger
    noise at difficulty d (release folder `name_d`); the others' one sequence (`name`), scored at step d."""
    name, difficulty = cell
    return (name, difficulty) if name in NOISE_PERTURBATIONS else (name, 1)


class PerturbationSuite(Suite):
    """Suite `p` over released videos or clean data (see the module docstring); cells `(perturbation,
    difficulty)` for `perturbations` (default the 10 test ones) and `difficulties` (default 1; any of 1-3 for
    every perturbation, as `ImageNet-P/test.py --difficulty`: `sequences_of`)."""

    name = "p"

    def __init__(self, data: str | Path, options: PerturbationOptions = PerturbationOptions(), *, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        options = at_model_size(options)
        self.layout = detect_layout(data)
        if options.preset is not None and self.layout == "imagenet-p":
            raise UsageError(f"preset {options.preset!r} applies to perturbations made on the fly; {data} holds the "
                             "released videos: drop the preset")
        self.preset = resolve_preset(options.preset, self.layout)
        suffix = "-otf" + ("" if self.preset == "imagenet" else f"-{self.preset}")
        super().__init__(options.dataset or Path(str(data)).name + ("" if self.layout == "imagenet-p" else suffix))
        names = expand_perturbations(options.perturbations or ("cifar" if self.preset == "cifar" else None))
        levels = sorted(set(options.difficulties or (1,)))
        if not set(levels) <= set(DIFFICULTIES):
            raise UsageError(f"difficulties must be in 1..3, got {', '.join(map(str, levels))}")
        self.cells = [(p, d) for p in names for d in levels]
        self.seed, self.crop, self.device = seed, options.crop, torch.device(device)
        if self.layout == "imagenet-p":
            self.tree = ImageNetP(data, options.class_map)
            self.tree.check([sequences_of(cell) for cell in self.cells])
        else:
            self.tree = None
            resize, crop = options.resize, options.crop
            self.whole = self.layout == "folder" and bool(resize)
            if self.whole and not crop:
                raise UsageError(f"resized image folders need a crop (frames of images of different sizes are cut "
                                 f"to one size), got resize={resize}, crop={crop}")
            window = (source_window(crop, self.preset),) * 2 if self.whole else None
            self.source = open_clean(data, options.class_map, resize, window, **reading(options))
            side = min(self.source[0][1].shape[-2:])
            self.read_as = read_as(self.source, crop if crop and (self.whole or crop < side) else side)
            warn_far_size(f"suite p on {data}", self.read_as["input_size"], self.preset, scaling=None)
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
        name, difficulty = sequences_of(cell)
        sizes = self.source.resized_sizes(indices) if self.whole else None
        out_size = self.crop if self.crop and (self.whole or self.crop < min(batch.shape[-2:])) else None
        options = {"difficulty": difficulty, "out_size": out_size, "preset": self.preset}
        seeds = item_seeds(self.seed, name, difficulty, indices.tolist()) if name in RANDOM_PERTURBATIONS else None
        return perturbation_sequence(batch, name, sizes=sizes, seeds=seeds, **options)

    def _views(self, dataset: Dataset, cells: list[tuple[str, int]]) -> tuple[Dataset, InputFn]:
        return dataset, self._inputs

    def groups(self) -> list[CellGroup]:
        if self.tree is not None:
            videos = {cell: self.tree.cell(*sequences_of(cell)) for cell in self.cells}
            return [CellGroup(video, {cell: {"data": video.fingerprint(), "images": len(video),
                                             "source": "imagenet-p"}}, frames=release_length(cell[0]))
                    for cell, video in videos.items()]
        base = {"data": self.source.fingerprint(), "images": len(self.source), "source": "on-the-fly",
                "crop": self.crop, "seed": self.seed, "frames": "release"}
        base |= {} if self.preset == "imagenet" else {"preset": self.preset}
        fingerprints = {cell: {**base, **({"rng_device": self.device.type} if cell[0] in RANDOM_PERTURBATIONS
                                          else {})} for cell in self.cells}
        frames = max(release_length(p, self.preset) for p, _ in self.cells)
        return [CellGroup(self.source, fingerprints, self._views, frames=frames)]

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
