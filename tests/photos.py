"""Real photographs for tests, benchmarks and the fidelity table: scikit-image's colour images (no download),
and the two image-agreement measures the fidelity table reports."""

import math

import numpy as np
import torch
import torch.nn.functional as F

PHOTOGRAPHS = ("astronaut", "coffee", "chelsea", "rocket")
"""scikit-image's colour photographs (`skimage.data`), shipped with that package."""


def load_photographs(size: int | tuple[int, int], names: tuple[str, ...] = PHOTOGRAPHS) -> torch.Tensor:
    """uint8 `(len(names), 3, h, w)`: each photograph centre-cropped to the aspect ratio of `size` and resized
    (antialiased bilinear) to `size` (an int for squares)."""
    from skimage import data

    h, w = (size, size) if isinstance(size, int) else size
    images = []
    for name in names:
        image = torch.from_numpy(np.ascontiguousarray(getattr(data, name)()[..., :3])).permute(2, 0, 1)
        ih, iw = image.shape[1:]
        scale = min(ih / h, iw / w)
        ch, cw = int(h * scale), int(w * scale)
        top, left = (ih - ch) // 2, (iw - cw) // 2
        crop = image[None, :, top:top + ch, left:left + cw].float()
        resized = F.interpolate(crop, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        images.append(resized[0].round().clamp(0, 255).to(torch.uint8))
    return torch.stack(images)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 tensors (inf when equal)."""
    mse = (a.double() - b.double()).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def mean_abs_difference(corrupted: torch.Tensor, clean: torch.Tensor) -> float:
    """Mean |corrupted - clean| of uint8 tensors, in 0..255 levels."""
    return (corrupted.double() - clean.double()).abs().mean().item()
