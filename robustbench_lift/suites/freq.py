"""Suite `freq`: the Fourier heat map (Yin et al., NeurIPS 2019; google-research `frequency_analysis`).

Per basis image U(u, v) of unit l2 norm (`corruptions.fourier`) the model sees `clip(x + eps * r * U(u, v), 0, 1)`,
`r` a random sign per image, channel and frequency (`fourier_signs`, seeded per image from the run's seed), and
the cell `fourier_<u>_<v>` (severity 0) keeps its per-image predictions; the clean cell is in the same pass. One
pass over the data: each batch is decoded and scaled once, and every frequency's inputs are its basis image, built
on the device, added to that batch and clipped. Only one frequency of each conjugate pair is a cell
(the two give one image). Every cell records `eps`, `freq_window`, `freq_step` (the frequency grid, which also
fixes which sign an image draws for a frequency) and the seed. docs/freq.md has the protocol and its sources.
"""

from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from corruptions.fourier import canonical_offsets, fourier_basis, fourier_perturb, fourier_signs
from robustbench_lift.data import open_clean
from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.freq import cell_name
from robustbench_lift.suites.base import CLEAN, CellGroup, InputFn, Suite, read_as
from robustbench_lift.suites.options import FreqOptions, at_model_size, reading

EPS_IMAGENET, EPS_CIFAR = 15.7, 4.0
"""Yin et al. 2019's perturbation norms (images in [0, 1]) for ImageNet and CIFAR-10 heat maps."""
CIFAR_SIDE = 32
"""Inputs of at most this side get the CIFAR-10 norm by default."""
MAX_WINDOW = 63
"""Default frequency window above 63 px: the paper's central 63 x 63 of ImageNet's 224 px spectrum."""


class FreqSuite(Suite):
    """Suite `freq` (module docstring) over clean images `data` read at the model's size."""

    name = "freq"

    def __init__(self, data: str | Path, options: FreqOptions = FreqOptions(), *, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        super().__init__(options.dataset or Path(str(data)).name)
        options = at_model_size(options)
        self.source = open_clean(data, options.class_map, options.resize, options.crop, **reading(options))
        self.read_as = read_as(self.source)
        self.size = tuple(self.source[0][1].shape[-2:])
        side = min(self.size)
        self.eps = options.eps if options.eps is not None else EPS_CIFAR if side <= CIFAR_SIDE else EPS_IMAGENET
        self.window = options.freq_window or min(side, MAX_WINDOW)
        self.step = options.freq_step or 1
        if not 1 <= self.window <= side:
            raise UsageError(f"--freq-window must be in 1..{side} for {self.size[0]} x {self.size[1]} px inputs, "
                             f"got {self.window}")
        if self.eps < 0 or self.step < 1:
            raise UsageError(f"--eps must be >= 0 and --freq-step >= 1, got {self.eps} and {self.step}")
        self.offsets = canonical_offsets(self.size, self.window, self.step)
        self.seed = seed

    def _views(self, dataset: Dataset, cells: list[tuple[str, int]]) -> tuple[Dataset, InputFn]:
        position = {cell_name(offset): k for k, offset in enumerate(self.offsets)}
        cache: dict[str, Tensor] = {}  # this batch's float images and signs, made once per batch

        def inputs(batch: Tensor, indices: Tensor, cell: tuple[str, int]) -> Tensor:
            if cache.get("indices") is not indices:
                signs = fourier_signs(self.seed, indices.tolist(), len(self.offsets), batch.shape[1])
                cache.update(indices=indices, images=batch.float() / 255, signs=signs.to(batch.device))
            if cell == CLEAN:  # float like the other cells: one forward pass may hold several cells' inputs
                return cache["images"]
            k = position[cell[0]]
            # one basis image at a time, on the device: all 1,985 of 224 px would hold 400 MB (float32)
            basis = fourier_basis([self.offsets[k]], self.size, batch.device)[0]
            return fourier_perturb(cache["images"], basis, cache["signs"][:, k], self.eps)
        return dataset, inputs

    def groups(self) -> list[CellGroup]:
        base = {"data": self.source.fingerprint(), "images": len(self.source)}
        settings = {**base, "source": "fourier", "eps": self.eps, "freq_window": self.window,
                    "freq_step": self.step, "seed": self.seed}
        fingerprints = {CLEAN: {**base, "source": "clean"}}
        fingerprints.update({(cell_name(offset), 0): settings for offset in self.offsets})
        return [CellGroup(self.source, fingerprints, self._views)]
