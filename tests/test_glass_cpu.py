"""glass_blur's compiled CPU loop (`corruptions._glass_cpu`) against the batched tensor path, bit for bit, and
its shuffle against imagecorruptions' own numba loop."""

import numpy as np
import pytest
import torch
from imagecorruptions import corruptions as ic
from photos import load_photographs

from corruptions._glass_cpu import glass_blur_images
from corruptions._random import seed_generators
from corruptions.blur import GLASS, batched_glass_blur, glass_blur


def _photos(h: int, w: int) -> torch.Tensor:
    return load_photographs((h, w), names=("astronaut", "coffee", "chelsea")).float() / 255


@pytest.mark.parametrize("preset", ["imagenet", "cifar"])
@pytest.mark.parametrize("size", [(41, 53), (224, 224), (7, 9)])  # odd sides; 7 x 9: no pixel visited at d >= 3
def test_the_compiled_loop_gives_the_batched_images_bit_for_bit(preset, size):
    x = _photos(*size)
    for severity, (sigma, max_delta, passes) in enumerate(GLASS[preset], start=1):
        seeds = [severity, 2**40 + 7, 11]
        expected = batched_glass_blur(x, sigma, max_delta, passes, seed_generators(seeds, x.device))
        assert torch.equal(glass_blur(x, severity, seeds, preset=preset), expected), (severity, size)


@pytest.mark.parametrize("max_delta, passes", [(1, 2), (3, 2), (4, 1)])
def test_the_compiled_shuffle_is_the_reference_loop_given_its_offsets(max_delta, passes):
    """With a one-tap kernel (no blur) the loop is truncation then the shuffle: the reference's numba kernel,
    fed the offsets its NumPy stream draws, on the truncated image."""
    h, w = 45, 38
    image = _photos(h, w)[:1]
    stream = np.random.RandomState(5)
    codes = np.zeros((1, passes, h, w), np.int32)
    for k in range(passes):
        for row in range(h - max_delta, max_delta, -1):
            for col in range(w - max_delta, max_delta, -1):
                dx, dy = stream.randint(-max_delta, max_delta, size=(2,))
                codes[0, k, row, col] = (dy + max_delta) * 2 * max_delta + dx + max_delta
    levels = np.floor(image[0].numpy() * np.float32(255)).astype(np.uint8).transpose(1, 2, 0)
    expected = ic._shuffle_pixels_njit_glass_blur(h, w, levels.copy(), (1, max_delta, passes), 5)
    out = np.empty_like(image.numpy())
    glass_blur_images(image.numpy(), np.ones(1, np.float32), codes, max_delta, out)
    np.testing.assert_array_equal(np.rint(out[0] * 255).astype(np.uint8).transpose(1, 2, 0), expected)


def test_other_dtypes_and_autograd_inputs_are_corrupted_too():
    x = _photos(33, 35)
    assert glass_blur(x.double(), 3, [1, 2, 3]).dtype == torch.float64
    assert torch.equal(glass_blur(x.requires_grad_(), 3, [1, 2, 3]), glass_blur(x.detach(), 3, [1, 2, 3]))
