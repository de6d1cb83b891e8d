"""ImageNet-C-bar (Mintun, Kirillov & Xie, NeurIPS 2021): its 10 corruptions as batched torch functions.

Source: facebookresearch/augmentation-corruption, `imagenet_c_bar/` (commit
ba4d5a5e9132fe98fcd4be1ac90abedbbb188794; the files unchanged since c7d90e34): the operations of `corrupt.py`
(+ `utils/image.py`, `utils/perlin_noise.py`) and the per-severity parameters of `imagenet_c_bar.csv`, which
`make_imagenet_c_bar.py` applies to Resize(256) + CenterCrop(224) ImageNet images (`im_size` 224).

Each corruption, like the reference's `Transform`, draws one image's random parameters (`sample`, on a CPU
generator, so they do not depend on the device) and then applies them (`render`, on the image's device). The
renderers are in `cbar_patterns` and `cbar_noise`. The reference takes a square `im_size x im_size` image; here
lengths that scale with `im_size` scale with the shorter side and positions cover each axis (identical for
squares). Randomness is torch's, not NumPy's: equal in distribution, not image for image. The release stored
JPEGs (quality 85); on-the-fly corruption, like the reference's in-memory `test_c_bar.py`, does not compress.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from corruptions import cbar_noise, cbar_patterns
from corruptions._random import seed_generators

# `imagenet_c_bar.csv`: the level (0-10 scale of `float_parameter(level, maxval) = level * maxval / 10`) of each
# corruption at severities 1..5, in the CSV's order. One preset: the benchmark has these constants only.
LEVELS: dict[str, dict[str, tuple[float, ...]]] = {"imagenet": {
    "caustic_refraction": (2.35, 3.2, 4.9, 6.6, 9.15),
    "inverse_sparkles": (1.0, 2.0, 4.0, 9.0, 10.0),
    "sparkles": (1.0, 2.0, 3.0, 5.0, 6.0),
    "perlin_noise": (4.6, 5.2, 5.8, 7.6, 8.8),
    "blue_noise_sample": (0.8, 1.6, 2.4, 4.0, 5.6),
    "plasma_noise": (4.75, 7.0, 8.5, 9.25, 10.0),
    "checkerboard_cutout": (2.0, 3.0, 4.0, 5.0, 6.0),
    "cocentric_sine_waves": (3.0, 5.0, 8.0, 9.0, 10.0),
    "single_frequency_greyscale": (1.0, 1.5, 2.0, 4.5, 5.0),
    "brownish_noise": (1.0, 2.0, 3.0, 4.0, 5.0),
}}

Parameters = dict[str, object]


@dataclass(frozen=True)
class CbarCorruption:
    """One ImageNet-C-bar corruption as `fn(x, severity, seeds, *, preset) -> Tensor` on float
    `(N, 3, H, W)` in [0, 1], any device. `sample(generator, (H, W), level) -> parameters` draws one image's
    parameters on the CPU; `render(image (3, H, W), **parameters)` applies them (8-bit units, as the reference)."""

    name: str
    sample: Callable[[torch.Generator, tuple[int, int], float], Parameters]
    render: Callable[..., Tensor]

    def __call__(self, x: Tensor, severity: int, seeds: Sequence[int], *,
                 preset: str = "imagenet") -> Tensor:
        level = LEVELS[preset][self.name][severity - 1]
        size = (x.shape[-2], x.shape[-1])
        gens = seed_generators(seeds, torch.device("cpu"))
        return torch.stack([self.render(image, **self.sample(g, size, level)) for image, g in zip(x, gens)])


# The corruptions, registered in `corruptions.names` (subset `cbar`).
blue_noise_sample = CbarCorruption("blue_noise_sample", cbar_noise.sample_blue_noise_sample,
                                   cbar_noise.render_blue_noise_sample)
brownish_noise = CbarCorruption("brownish_noise", cbar_noise.sample_brownish_noise, cbar_noise.render_brownish_noise)
caustic_refraction = CbarCorruption("caustic_refraction", cbar_noise.sample_caustic_refraction,
                                    cbar_noise.render_caustic_refraction)
checkerboard_cutout = CbarCorruption("checkerboard_cutout", cbar_patterns.sample_checkerboard_cutout,
                                     cbar_patterns.render_checkerboard_cutout)
cocentric_sine_waves = CbarCorruption("cocentric_sine_waves", cbar_patterns.sample_cocentric_sine_waves,
                                      cbar_patterns.render_cocentric_sine_waves)
inverse_sparkles = CbarCorruption("inverse_sparkles", cbar_patterns.sample_inverse_sparkles,
                                  cbar_patterns.render_inverse_sparkles)
perlin_noise = CbarCorruption("perlin_noise", cbar_noise.sample_perlin_noise, cbar_noise.render_perlin_noise)
plasma_noise = CbarCorruption("plasma_noise", cbar_patterns.sample_plasma_noise, cbar_patterns.render_plasma_noise)
single_frequency_greyscale = CbarCorruption("single_frequency_greyscale",
                                            cbar_patterns.sample_single_frequency_greyscale,
                                            cbar_patterns.render_single_frequency_greyscale)
sparkles = CbarCorruption("sparkles", cbar_patterns.sample_sparkles, cbar_patterns.render_sparkles)
