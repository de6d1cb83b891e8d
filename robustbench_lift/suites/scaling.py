"""Severity scaling: on-the-fly corruptions at input sizes other than the one their constants were set for.

ImageNet-C's constants are in pixels of 224 px images (CIFAR-10-C's: of 32 px images, `preset="cifar"`). Applied
as they are to a 288 px image, a 10 px blur covers a smaller part of the object: the severity drops with the
resolution. `severity_scaling` picks the rule (docs/protocols.md, "Severity scaling"):

- `"none"` (default): the constants as published, in pixels of the image at hand;
- `"area"`: each corruption of `PIXEL_CORRUPTIONS` is applied at the preset's reference area: the image is resampled
  (bilinear, antialiased, aspect kept) to `reference_side ** 2` pixels, corrupted there, and resampled back to its
  size, so every pixel constant (blur radii and sigmas, glass-blur displacements, elastic displacements, the
  frost picture's, fog map's and snow and spatter layers' scales, model-vs-human's low- and high-pass sigmas, set
  for 224 px: subset freq runs with the imagenet preset only) covers the same fraction of the image as at
  the reference size. The others are per-pixel or already relative to the image side (noises, brightness,
  contrast, saturate, JPEG's 8x8 blocks, pixelate's and zoom_blur's factors, freq's phase noise, uniform noise
  and grey contrast) and are applied at the native size.
"""

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torchvision.transforms.v2.functional as TF
from torch import Tensor

from corruptions.presets import CIFAR_SIDE
from corruptions.seeding import item_seeds
from robustbench_lift.errors import UsageError

if TYPE_CHECKING:
    from corruptions.registry import Corruption

SEVERITY_SCALINGS = ("none", "area")
REFERENCE_SIDE = {"imagenet": 224, "cifar": CIFAR_SIDE}
"""The image side each preset's pixel constants were set for (ImageNet-C's 224 px crops, CIFAR-10-C's 32 px)."""
PIXEL_CORRUPTIONS = frozenset({"defocus_blur", "glass_blur", "motion_blur", "gaussian_blur", "snow", "frost", "fog",
                               "spatter", "elastic_transform", "low_pass", "high_pass"})
"""Corruptions with constants in pixels (see the module docstring), the ones `"area"` scaling changes."""


def check_scaling(scaling: str) -> str:
    """`scaling` if it is one of `SEVERITY_SCALINGS`, else `UsageError`."""
    if scaling not in SEVERITY_SCALINGS:
        raise UsageError(f"unknown severity scaling {scaling!r}: expected one of {', '.join(SEVERITY_SCALINGS)} "
                         "(none: the published pixel constants; area: constants scaled to the image's area)")
    return scaling


def reference_size(height: int, width: int, preset: str = "imagenet") -> tuple[int, int]:
    """`(h, w)` of the resampled image under `"area"` scaling: the aspect of `(height, width)` at the preset's
    reference area, `h = round(height * s)`, `w = round(width * s)`, `s = side / sqrt(height * width)`."""
    scale = REFERENCE_SIDE[preset] / math.sqrt(height * width)
    return round(height * scale), round(width * scale)


def corrupt_scaled(images: Tensor, indices: Sequence[int], corruption: "Corruption", seed: int,
                   scaling: str = "none") -> Tensor:
    """The resolved `corruption` of uint8 images `(N, 3, H, W)` that are items `indices` of a data set (image i
    seeded with `item_seeds(seed, name, severity, indices)[i]`, as `corrupt_indexed`), under severity `scaling`;
    uint8 out."""
    seeds = item_seeds(seed, corruption.name, corruption.severity, indices)
    height, width = images.shape[-2:]
    size = reference_size(height, width, corruption.preset)
    if scaling == "none" or corruption.name not in PIXEL_CORRUPTIONS or size == (height, width):
        return corruption(images, seeds)
    return _resample(corruption(_resample(images, size), seeds), (height, width))


def _resample(images: Tensor, size: tuple[int, int]) -> Tensor:
    """uint8 images resampled to `size`: bilinear with antialiasing on floats, rounded back to 8 bits."""
    out = TF.resize(images.float(), list(size), interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    return out.round_().clamp_(0, 255).to(torch.uint8)
