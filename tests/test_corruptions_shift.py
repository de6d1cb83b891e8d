"""Shift transforms checked against independent torch.roll and slicing loops."""

import pytest
import torch

from corruptions.shift import diagonal_shifts, random_crop_pairs, shift
from robustbench_lift.errors import UsageError


def _zero_fill_shift(image: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Non-circular shift of one (C, H, W) image by slicing."""
    out = torch.zeros_like(image)
    h, w = image.shape[1:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[:, max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_circular_shift_equals_roll_per_image(dtype):
    images = torch.randint(0, 256, (4, 3, 13, 17)).to(dtype)
    dx, dy = torch.tensor([0, 3, -5, 20]), torch.tensor([1, -2, 14, 0])
    out = shift(images, dx, dy, mode="circular")
    assert out.dtype == dtype and out.shape == images.shape
    for n in range(4):
        assert torch.equal(out[n], torch.roll(images[n], (int(dy[n]), int(dx[n])), dims=(1, 2)))


def test_crop_shift_equals_slicing_with_zero_fill():
    images = torch.rand(3, 3, 11, 9)
    for dx, dy in [(0, 0), (2, -3), (-4, 5), (9, 0), (-1, -10)]:
        out = shift(images, dx, dy, mode="crop")
        for n in range(3):
            assert torch.equal(out[n], _zero_fill_shift(images[n], dx, dy))


def test_shift_rejects_unknown_mode_and_float_shifts():
    images = torch.rand(1, 3, 8, 8)
    with pytest.raises(UsageError, match="circular"):
        shift(images, 1, 1, mode="wrap")
    with pytest.raises(UsageError, match="integers"):
        shift(images, torch.tensor([0.5]), 0)


def test_random_crop_pairs_are_the_slices_at_the_returned_offsets(photos):
    images = torch.nn.functional.interpolate(photos.float(), size=40).to(torch.uint8)
    a, b, offsets = random_crop_pairs(images, 32, n_pairs=3, max_offset=8, generator=torch.Generator().manual_seed(0))
    assert a.shape == b.shape == (4, 3, 3, 32, 32) and a.dtype == torch.uint8
    assert offsets.shape == (4, 3, 2, 2) and offsets.min() >= 0 and offsets.max() < 8
    for n in range(4):
        for p in range(3):
            for crops, which in ((a, 0), (b, 1)):
                top, left = offsets[n, p, which].tolist()
                assert torch.equal(crops[n, p], images[n, :, top:top + 32, left:left + 32])


def test_random_crop_pairs_per_image_offsets_do_not_depend_on_batch_size(photos):
    images = torch.nn.functional.interpolate(photos.float(), size=40)
    *_, whole = random_crop_pairs(images, 32, max_offset=8, generator=torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)
    halves = [random_crop_pairs(images[i:i + 2], 32, max_offset=8, generator=generator)[2] for i in (0, 2)]
    assert torch.equal(whole, torch.cat(halves))
    # offsets cover the range and differ between images
    *_, many = random_crop_pairs(images.repeat(16, 1, 1, 1), 32, max_offset=8,
                                 generator=torch.Generator().manual_seed(4))
    assert set(many.unique().tolist()) == set(range(8))
    assert not torch.equal(many[0], many[1])


def test_random_crop_pairs_rejects_too_small_images():
    with pytest.raises(UsageError, match="255"):
        random_crop_pairs(torch.rand(1, 3, 250, 250), 224, max_offset=32)


def test_diagonal_shifts_imagenet_protocol_are_crops_at_k_k():
    images = torch.rand(2, 3, 64, 64)
    crops = diagonal_shifts(images, 8, 56)
    assert crops.shape == (2, 9, 3, 56, 56)
    for k in range(9):
        assert torch.equal(crops[:, k], images[:, :, k:k + 56, k:k + 56])


@pytest.mark.parametrize("mode", ["circular", "crop"])
def test_diagonal_shifts_cifar_size_defaults(mode):
    images = torch.rand(2, 3, 32, 32)
    crops = diagonal_shifts(images, mode=mode)
    assert crops.shape == (2, 5, 3, 32, 32)  # k scales with the input: 32 // 8 = 4
    for k in range(5):
        expected = (torch.roll(images, (-k, -k), dims=(2, 3)) if mode == "circular"
                    else torch.stack([_zero_fill_shift(image, -k, -k) for image in images]))
        assert torch.equal(crops[:, k], expected)


def test_diagonal_shifts_max_shift_scales_with_size_and_dtype_is_kept():
    crops = diagonal_shifts(torch.rand(1, 3, 256, 256, dtype=torch.float16), crop_size=224)
    assert crops.shape == (1, 33, 3, 224, 224) and crops.dtype == torch.float16
