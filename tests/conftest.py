"""Shared fixtures: small real photographs from scikit-image, never downloaded."""

import numpy as np
import pytest
import torch

PHOTO_NAMES = ("astronaut", "coffee", "chelsea", "rocket")


def load_photos(size: int = 64, names: tuple[str, ...] = PHOTO_NAMES) -> torch.Tensor:
    """uint8 `(len(names), 3, size, size)` tensor of scikit-image's colour photographs, centre-cropped and resized."""
    from skimage import data
    from skimage.transform import resize

    images = []
    for name in names:
        image = getattr(data, name)()[..., :3]
        side = min(image.shape[:2])
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        square = image[top:top + side, left:left + side]
        images.append((resize(square, (size, size), anti_aliasing=True) * 255).round().astype(np.uint8))
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


@pytest.fixture(scope="session")
def photos() -> torch.Tensor:
    """Four real photographs as uint8 `(4, 3, 64, 64)`."""
    return load_photos(64)


def nchw(image: np.ndarray) -> torch.Tensor:
    """An `(H, W, 3)` array as a `(1, 3, H, W)` tensor (same dtype)."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]


def hwc(x: torch.Tensor) -> np.ndarray:
    """The first image of an `(N, 3, H, W)` tensor as an `(H, W, 3)` float64 array."""
    return x[0].permute(1, 2, 0).double().numpy()
