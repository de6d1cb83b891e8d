"""Noise corruptions of ImageNet-C as batched torch functions: gaussian_noise, shot_noise, impulse_noise and
the extra speckle_noise.

Operations and per-severity constants follow imagecorruptions (imaug fork 1.1.5, `imagecorruptions/
corruptions.py`), which are those of `make_imagenet_c.py` (hendrycks/robustness); `preset="cifar"` takes those of
`make_cifar_c.py` (`corruptions.presets`). Every function is `fn(x, severity, seeds, *, preset) -> Tensor`
on float `(N, 3, H, W)` in [0, 1]; each image draws its noise from a generator seeded with its seed
(`corruptions._random`), so its result does not depend on its batch. The noise itself is torch's
(not NumPy's) random stream: equal in distribution to the reference, not bit for bit.
"""

from collections.abc import Sequence

import torch
from torch import Tensor

from corruptions._random import per_image_normal, per_image_poisson, per_image_uniform, seed_generators

# Tables map a preset to its five severities: imagecorruptions' constants, then make_cifar_c.py's.
# `gaussian_noise`: standard deviation of the additive noise.
GAUSSIAN_SIGMA = {"imagenet": (0.08, 0.12, 0.18, 0.26, 0.38), "cifar": (0.04, 0.06, 0.08, 0.09, 0.10)}
# `shot_noise`: photons per unit intensity, `poisson(x * c) / c`.
SHOT_RATE = {"imagenet": (60, 25, 12, 5, 3), "cifar": (500, 250, 100, 75, 50)}
# `impulse_noise`: fraction of values replaced (skimage `random_noise(mode="s&p")`, half salt).
IMPULSE_AMOUNT = {"imagenet": (0.03, 0.06, 0.09, 0.17, 0.27), "cifar": (0.01, 0.02, 0.03, 0.05, 0.07)}
# skimage `random_noise` default `salt_vs_pepper`.
SALT_VS_PEPPER = 0.5
# `speckle_noise`: standard deviation of the multiplicative noise.
SPECKLE_SIGMA = {"imagenet": (0.15, 0.2, 0.35, 0.45, 0.6), "cifar": (0.06, 0.1, 0.12, 0.16, 0.2)}


def _normal(x: Tensor, seeds: Sequence[int]) -> Tensor:
    return per_image_normal(seed_generators(seeds, x.device), x.shape[1:], x.device).to(x.dtype)


def gaussian_noise(x: Tensor, severity: int, seeds: Sequence[int], *,
                   preset: str = "imagenet") -> Tensor:
    """`clip(x + N(0, sigma^2))` per value, sigma from `GAUSSIAN_SIGMA`."""
    return (x + _normal(x, seeds) * GAUSSIAN_SIGMA[preset][severity - 1]).clamp(0, 1)


def shot_noise(x: Tensor, severity: int, seeds: Sequence[int], *,
               preset: str = "imagenet") -> Tensor:
    """`clip(Poisson(x * c) / c)` per value, c from `SHOT_RATE`."""
    rate = SHOT_RATE[preset][severity - 1]
    gens = seed_generators(seeds, x.device)
    return (per_image_poisson(gens, x * rate) / rate).clamp(0, 1)


def impulse_noise(x: Tensor, severity: int, seeds: Sequence[int], *,
                  preset: str = "imagenet") -> Tensor:
    """Salt and pepper: each value independently becomes 1 or 0 (equally likely) with probability `amount`
    (`IMPULSE_AMOUNT`), as `skimage.util.random_noise(mode="s&p")`."""
    amount = IMPULSE_AMOUNT[preset][severity - 1]
    u = per_image_uniform(seed_generators(seeds, x.device), x.shape[1:], x.device)
    # one uniform per value: u < amount flips it, and given that, u < amount * salt_vs_pepper makes it salt
    return torch.where(u < amount, (u < amount * SALT_VS_PEPPER).to(x.dtype), x)


def speckle_noise(x: Tensor, severity: int, seeds: Sequence[int], *,
                  preset: str = "imagenet") -> Tensor:
    """`clip(x + x * N(0, sigma^2))` per value, sigma from `SPECKLE_SIGMA`."""
    return (x + x * _normal(x, seeds) * SPECKLE_SIGMA[preset][severity - 1]).clamp(0, 1)
