"""`--jpeg-quality`: on-the-fly corrupted images saved as JPEG and read back as the release's were (Pillow, bit for
bit), recorded in the fingerprint and the data set name only when asked for, refused for rendered trees."""

import io

import numpy as np
import pytest
import torch
from photos import load_photographs
from PIL import Image

from corruptions.jpeg import jpeg_roundtrip
from robustbench_lift.errors import UsageError
from robustbench_lift.suites import make_suite
from robustbench_lift.suites.base import CLEAN
from robustbench_lift.suites.options import CorruptionOptions

FOG = CorruptionOptions(corruptions=["fog", "gaussian_noise"], severities=[3])


def pillow_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """(H, W, 3) uint8 saved by Pillow as JPEG at `quality` (its defaults, no `optimize`) and decoded."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


@pytest.mark.parametrize("quality", [85, 40])
def test_roundtrip_equals_pillow_bit_for_bit(quality):
    photos = load_photographs((48, 40))
    out = jpeg_roundtrip(photos, quality)
    assert out.dtype == torch.uint8 and out.shape == photos.shape
    for got, photo in zip(out, photos):
        expected = pillow_roundtrip(photo.permute(1, 2, 0).numpy(), quality)
        assert np.array_equal(got.permute(1, 2, 0).numpy(), expected)
    assert not torch.equal(out, photos)  # it did compress


def test_fingerprints_without_the_option_are_unchanged_and_with_it_differ():
    plain = make_suite("c", "demo", FOG)
    jpeg = make_suite("c", "demo", CorruptionOptions(corruptions=["fog", "gaussian_noise"], severities=[3],
                                                     jpeg_quality=85))
    (before,), (after,) = plain.groups(), jpeg.groups()
    assert all("jpeg_quality" not in f for f in before.fingerprints.values())
    assert after.fingerprints[CLEAN] == before.fingerprints[CLEAN]  # clean images are not re-saved
    for cell in [("fog", 3), ("gaussian_noise", 3)]:
        assert after.fingerprints[cell] == {**before.fingerprints[cell], "jpeg_quality": 85}
    assert (plain.dataset, jpeg.dataset) == ("demo-otf-cifar", "demo-otf-cifar-jpeg85")


def test_cell_inputs_are_the_corrupted_images_saved_as_jpeg():
    plain, jpeg = (make_suite("c", "demo", CorruptionOptions(corruptions=["gaussian_noise"], severities=[3],
                                                            jpeg_quality=q)) for q in (None, 85))
    cell = ("gaussian_noise", 3)
    inputs = []
    for suite in (plain, jpeg):
        (group,) = suite.groups()
        dataset, make = group.prepare([CLEAN, cell])
        items = [dataset[i] for i in range(4)]
        batch, indices = torch.stack([item[1] for item in items]), torch.tensor([item[0] for item in items])
        inputs.append((make(batch, indices, CLEAN), make(batch, indices, cell)))
    (clean, noisy), (clean_jpeg, noisy_jpeg) = inputs
    assert torch.equal(clean, clean_jpeg)
    for got, image in zip(noisy_jpeg, noisy):
        assert np.array_equal(got.permute(1, 2, 0).numpy(), pillow_roundtrip(image.permute(1, 2, 0).numpy(), 85))


def test_refused_for_rendered_trees_and_bad_qualities(tmp_path):
    for severity in range(1, 6):
        folder = tmp_path / "tree" / "fog" / str(severity) / "a"
        folder.mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "0.png")
    with pytest.raises(UsageError, match="applies to corruption on the fly"):
        make_suite("c", tmp_path / "tree", CorruptionOptions(corruptions=["fog"], jpeg_quality=85))
    with pytest.raises(UsageError, match="1..95"):
        make_suite("c", "demo", CorruptionOptions(jpeg_quality=0))
