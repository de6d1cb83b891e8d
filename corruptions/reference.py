"""The reference backend: imagecorruptions (`imagecorruptions-imaug` 1.1.5) image by image on the CPU.

Each image gets its own seed (`corruptions.corrupt`'s `seeds`, or drawn from its generator in batch order as for the
torch backend), so results are reproducible and independent of the batch size. The seed fixes
NumPy's global generator for the call (restored afterwards) and is passed as the fork's `seed=` keyword to
impulse_noise and glass_blur, whose generators (scikit-image's and numba's) ignore the NumPy one. numba compiles
glass_blur's shuffle loop (~1 s per severity) on first use; `warm_up(severity)` does it once per process.
"""

import functools
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

# imagecorruptions-imaug: these two take `seed=` because a global NumPy seed does not fix them.
SEEDED_BY_KEYWORD = ("impulse_noise", "glass_blur")
# imagecorruptions `corrupt`: height and width must be at least 32 pixels.
MIN_SIZE = 32


@functools.cache
def warm_up(severity: int) -> None:
    """Compile imagecorruptions' numba glass_blur kernel for `severity` (numba specialises it on the types of the
    severity's constants), once per process, on a 32x32 image."""
    from imagecorruptions import corrupt

    corrupt(np.zeros((MIN_SIZE, MIN_SIZE, 3), np.uint8), severity=severity, corruption_name="glass_blur", seed=0)


def corrupt_image(image: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """imagecorruptions' `corrupt` of one uint8 `(H, W, 3)` image with NumPy seeded by `seed` (32 bits used);
    the global NumPy state is restored afterwards. Returns uint8 `(H, W, 3)`."""
    from imagecorruptions import corrupt

    if name == "glass_blur":
        warm_up(severity)
    seed32 = seed % 2**32
    kwargs = {"seed": seed32} if name in SEEDED_BY_KEYWORD else {}
    state = np.random.get_state()
    np.random.seed(seed32)
    try:
        return corrupt(image, severity=severity, corruption_name=name, **kwargs)
    finally:
        np.random.set_state(state)


def corrupt_reference(images: Tensor, name: str, severity: int, seeds: Sequence[int]) -> Tensor:
    """Corrupt uint8 `(N, 3, H, W)` images (any device) with imagecorruptions, image i with NumPy seeded by
    `seeds[i]` (`corrupt_image`). Returns uint8 `(N, 3, H, W)` on the input's device."""
    arrays = images.permute(0, 2, 3, 1).cpu().numpy()
    out = np.stack([corrupt_image(a, name, severity, s) for a, s in zip(arrays, seeds)])
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous().to(images.device)
