"""What the release transcription (`release_p.py`) is fed so that it draws what our generators draw, and the PSNR
of its frames against ours; shared by `test_perturbations_release.py` and `scripts/fidelity_p.py`."""

import math

import numpy as np
import torch
from release_p import NOISE

from corruptions._random import image_seeds, per_image_normal, per_image_poisson, seed_generators
from corruptions.names import NOISE_PERTURBATIONS, RANDOM_PERTURBATIONS


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 arrays (inf when equal)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255 ** 2 / mse)


def draws(name: str, crops: list[np.ndarray], preset: str, frames: int, seed: int, difficulty: int = 1
          ) -> list[np.ndarray | None]:
    """Per image, the numbers its generator gives `perturbation_sequence` (`corruptions._random`) from `seed`,
    in HWC layout: Poisson counts at the release's rate (shot noise), standard normals (the other noises), or
    one standard-normal layer (snow, spatter); None for deterministic perturbations."""
    if name not in RANDOM_PERTURBATIONS:
        return [None] * len(crops)
    x = torch.stack([torch.from_numpy(c).permute(2, 0, 1) for c in crops]).float() / 255
    n, c, h, w = x.shape
    gens = seed_generators(image_seeds(torch.Generator().manual_seed(seed), n), x.device)
    if name == "shot_noise":
        rate = NOISE[preset][name][difficulty - 1]
        out = per_image_poisson(gens, x[:, None].expand(n, frames - 1, c, h, w) * rate)
    elif name in NOISE_PERTURBATIONS:
        out = per_image_normal(gens, (frames - 1, c, h, w), x.device)
    else:
        return list(per_image_normal(gens, (1, h, w), x.device)[:, 0].double().numpy())
    return list(out.permute(0, 1, 3, 4, 2).numpy())
