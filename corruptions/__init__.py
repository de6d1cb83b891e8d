"""ImageNet-C corruptions, ImageNet-P perturbations and shift transforms as batched torch functions.

`corrupt(images, name, severity, generator=..., backend=...)` applies one of the 19 corruptions of
imagecorruptions / ImageNet-C (Hendrycks & Dietterich, ICLR 2019) to a batch `(N, 3, H, W)` on any device;
`get_corruption_names(subset)` lists them; `preset="cifar"` takes CIFAR-10-C's constants (`corruptions.presets`).
Results of on-the-fly corruption are "ImageNet-C style": close to, but not the released ImageNet-C (see
`corruptions/FIDELITY.md`).
"""

from corruptions.perturbations import perturbation_sequence
from corruptions.registry import corrupt, get_corruption_names
from corruptions.shift import random_crop_pairs, shift

__all__ = ["corrupt", "get_corruption_names", "perturbation_sequence", "random_crop_pairs", "shift"]
