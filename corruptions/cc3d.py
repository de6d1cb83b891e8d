"""The three 2-D corruptions of 3D Common Corruptions (Kar et al., CVPR 2022) as batched torch functions:
iso_noise, low_light and color_quant.

Operations and per-severity constants follow `create_3dcc/create_non3d.py` of EPFL-VILAB/3DCommonCorruptions
(commit 4fc007b022b91774c9d671afe3d29005812d5745; the file unchanged since 62894083). There each works on one
8-bit PIL image and returns one. Every function here is `fn(x, severity, seeds, *, preset) -> Tensor` on
float `(N, 3, H, W)` in [0, 1]; the noise of each image comes from a generator seeded with its seed
(`corruptions._random`), so a result does not depend on the batch. The noise is torch's random stream: equal in
distribution to the reference's NumPy draws, not bit for bit. The benchmark has one set of
constants (`preset="imagenet"`).
"""

from collections.abc import Sequence

import torch
from torch import Tensor

from corruptions._random import per_image_normal, per_image_poisson, seed_generators

# `iso_noise`: photon (Poisson) noise at a fixed 25 photons per unit intensity ("ISO does not affect photon
# noise"), then Gaussian electronic noise of 0.7 x ImageNet-C gaussian_noise's sigma.
ISO_PHOTONS = 25
ISO_SIGMA = {"imagenet": tuple(0.7 * s for s in (0.08, 0.12, 0.18, 0.26, 0.38))}
# `low_light`: MATLAB-style `imadjust` from the image's [min, max] to [0, c] with gamma 2, then the file's
# `poisson_gaussian_noise` at its severity 3: 10 x 12 photons per unit intensity, Gaussian sigma 0.1 x 0.18.
LOW_LIGHT_TOP = {"imagenet": (0.60, 0.50, 0.40, 0.30, 0.20)}
LOW_LIGHT_GAMMA = 2.0
LOW_LIGHT_PHOTONS = 10 * 12
LOW_LIGHT_SIGMA = 0.1 * 0.18
# `color_quant`: `PIL.ImageOps.posterize(image, bits)` keeps the top `6 - severity` bits of each 8-bit value.
COLOR_QUANT_BITS = {"imagenet": (5, 4, 3, 2, 1)}
# Float inputs become 8-bit levels by truncation (as the registry quantises results), with this tolerance so a
# float32 level / 255 * 255 that lands just below its level keeps it.
LEVEL_TOLERANCE = 1e-3


def _poisson_gaussian(x: Tensor, photons: float, sigma: float, seeds: Sequence[int]) -> Tensor:
    """`clip(clip(Poisson(x * photons) / photons) + N(0, sigma^2))`: the reference's two steps, each clipped to
    [0, 1], Poisson then Gaussian from each image's generator."""
    gens = seed_generators(seeds, x.device)
    shot = (per_image_poisson(gens, x * photons) / photons).clamp(0, 1)
    return (shot + per_image_normal(gens, x.shape[1:], x.device).to(x.dtype) * sigma).clamp(0, 1)


def iso_noise(x: Tensor, severity: int, seeds: Sequence[int], *,
              preset: str = "imagenet") -> Tensor:
    """Photon then electronic noise: `clip(clip(Poisson(25 x) / 25) + N(0, sigma^2))`, sigma from `ISO_SIGMA`."""
    return _poisson_gaussian(x, ISO_PHOTONS, ISO_SIGMA[preset][severity - 1], seeds)


def low_light(x: Tensor, severity: int, seeds: Sequence[int], *,
              preset: str = "imagenet") -> Tensor:
    """`c * ((x - min) / (max - min))^2` (min, max over each whole image, c from `LOW_LIGHT_TOP`), then
    Poisson noise at 120 photons per unit and Gaussian noise of sigma 0.018, as `iso_noise` composes them.

    A constant image (max = min), for which the reference divides by zero, is taken as all zeros.
    """
    low = x.amin(dim=(1, 2, 3), keepdim=True)
    span = x.amax(dim=(1, 2, 3), keepdim=True) - low
    scaled = torch.where(span > 0, (x - low) / span.clamp_min(torch.finfo(x.dtype).tiny), 0.0)
    dark = scaled.pow(LOW_LIGHT_GAMMA) * LOW_LIGHT_TOP[preset][severity - 1]
    return _poisson_gaussian(dark, LOW_LIGHT_PHOTONS, LOW_LIGHT_SIGMA, seeds)


def color_quant(x: Tensor, severity: int, seeds: Sequence[int] = (), *,
                preset: str = "imagenet") -> Tensor:
    """Posterize: each 8-bit level `v` becomes `v - v mod 2^(8 - bits)`, bits from `COLOR_QUANT_BITS`.
    Deterministic (`seeds` unused)."""
    step = 2 ** (8 - COLOR_QUANT_BITS[preset][severity - 1])
    levels = (x * 255 + LEVEL_TOLERANCE).floor().clamp(0, 255)
    return (levels - levels.remainder(step)) / 255

