"""ImageNet-C corruptions, ImageNet-P perturbations and shift transforms as batched torch functions.

`corrupt(images, name, severity, generator=..., backend=...)` applies one of the 19 corruptions of
imagecorruptions / ImageNet-C (Hendrycks & Dietterich, ICLR 2019) to a batch `(N, 3, H, W)` on any device;
`get_corruption_names(subset)` lists them; `preset="cifar"` takes CIFAR-10-C's constants (`corruptions.presets`).

    >>> import torch
    >>> from corruptions import corrupt
    >>> images = torch.full((2, 3, 32, 32), 128, dtype=torch.uint8)          # uint8 (N, 3, H, W), any device
    >>> foggy = corrupt(images, "fog", 3, generator=torch.Generator().manual_seed(0), preset="cifar")
    >>> foggy.shape, foggy.dtype
    (torch.Size([2, 3, 32, 32]), torch.uint8)

Subsets "3dcc" and "cbar" add the 2-D corruptions of 3D Common Corruptions (`corruptions.cc3d`) and ImageNet-C-bar's
10 (`corruptions.cbar`); subset "freq" model-vs-human's frequency-filtered and contrast manipulations (low_pass,
high_pass, phase_noise, uniform_noise, grey_contrast; `corruptions.freq_filters`), each at its own published levels
(severities 1..8, phase_noise 1..7: `corruptions.names.severities_of`). Their 16-class protocol (mean softmax over
each category's ImageNet classes) is a class map of the evaluation, `class_map="16-class"` (`--class-map 16-class`,
`robustbench_lift.data.sixteen_class`), not a corruption.
Results of on-the-fly corruption are "ImageNet-C style": close to, but not the released ImageNet-C (see
`corruptions/FIDELITY.md`). Importing the package is light: the torch functions load on first use, so
`corruptions.names` (every name, family and subset) can be read without torch.
"""

from robustbench_lift.registry import lazy

_EXPORTS = {"corrupt": "corruptions.registry", "get_corruption_names": "corruptions.names",
            "get_perturbation_names": "corruptions.names", "perturbation_sequence": "corruptions.perturbations",
            "random_crop_pairs": "corruptions.shift", "shift": "corruptions.shift",
            "corrupt_indexed": "corruptions.seeding"}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy(_EXPORTS)
