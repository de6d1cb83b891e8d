"""3D Common Corruptions' 2-D corruptions against the published generator (`create_3dcc/create_non3d.py`,
EPFL-VILAB/3DCommonCorruptions): color_quant against Pillow's posterize itself; iso_noise and low_light, whose
noise is NumPy's there and torch's here, against NumPy transcriptions of that file in distribution on real
photographs; severity, batch and dtype behaviour; the registry's errors and selection."""

import numpy as np
import pytest
import torch
from photos import load_photographs
from PIL import Image, ImageOps
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)

import corruptions
from corruptions.names import CORRUPTIONS, DETERMINISTIC, expand_corruptions
from robustbench_lift.suites.corruption import CorruptionSuite
from robustbench_lift.suites.options import CorruptionOptions

NAMES = ["iso_noise", "low_light", "color_quant"]
# Noise statistics must agree within this many standard errors of their difference (means over at least 100
# and up to 5 x 64 x 64 x 3 values per side): a deviation this large by chance has probability < 1e-6.
STANDARD_ERRORS = 5.0


# create_non3d.py, transcribed: each takes and returns an (H, W, 3) uint8 array, NumPy's legacy generator `rng`.
def ref_iso_noise(x, severity, rng):
    c_poisson = 25
    x = np.array(x) / 255.0
    x = np.clip(rng.poisson(x * c_poisson) / c_poisson, 0, 1) * 255
    c_gauss = 0.7 * [0.08, 0.12, 0.18, 0.26, 0.38][severity - 1]
    x = np.array(x) / 255.0
    x = np.clip(x + rng.normal(size=x.shape, scale=c_gauss), 0, 1) * 255
    return np.uint8(x)


def ref_poisson_gaussian_noise(x, severity, rng):
    c_poisson = 10 * [60, 25, 12, 5, 3][severity - 1]
    x = np.array(x) / 255.0
    x = np.clip(rng.poisson(x * c_poisson) / c_poisson, 0, 1) * 255
    c_gauss = 0.1 * [0.08, 0.12, 0.18, 0.26, 0.38][severity - 1]
    x = np.array(x) / 255.0
    x = np.clip(x + rng.normal(size=x.shape, scale=c_gauss), 0, 1) * 255
    return np.uint8(x)


def ref_low_light(x, severity, rng):
    c = [0.60, 0.50, 0.40, 0.30, 0.20][severity - 1]
    x = np.array(x) / 255.0
    a, b = x.min(), x.max()
    x_scaled = (((x - a) / (b - a)) ** 2.0) * (c - 0) + 0
    return ref_poisson_gaussian_noise(x_scaled * 255, 3, rng)


def ref_color_quant(x, severity):
    return np.array(ImageOps.posterize(Image.fromarray(x), 6 - severity))


REFERENCE = {"iso_noise": ref_iso_noise, "low_light": ref_low_light}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    return load_photographs(64)


def test_names_and_subset():
    assert corruptions.get_corruption_names("3dcc") == NAMES
    assert not set(NAMES) & set(corruptions.get_corruption_names("all"))
    assert "color_quant" in DETERMINISTIC


def test_color_quant_is_pillow_posterize(photos):
    """Bit for bit at every severity, on photographs and on every 8-bit level."""
    ramp = torch.arange(256, dtype=torch.uint8).expand(1, 3, 32, 256).contiguous()
    for images in (photos, ramp):
        for severity in range(1, 6):
            out = corruptions.corrupt(images, "color_quant", severity)
            for got, image in zip(out, images):
                expected = ref_color_quant(image.permute(1, 2, 0).numpy(), severity)
                assert np.array_equal(got.permute(1, 2, 0).numpy(), expected), severity


def _statistics(first: np.ndarray, second: np.ndarray, clean: np.ndarray) -> dict[str, tuple[float, float]]:
    """(value, standard error) per band of 32 clean levels of the mean output (how each level is mapped,
    clipping included) and of the mean |first - second| of two independent draws (the noise's size), from two
    corruptions of the same images; the noise is independent per value, so the error is std / sqrt(count)."""
    first, second, clean = first.astype(np.float64), second.astype(np.float64), clean.astype(np.float64)
    stats = {"mean |draw 1 - draw 2|": np.abs(first - second)}
    for band in range(8):
        inside = clean // 32 == band
        if inside.sum() > 100:
            stats[f"mean out, clean {32 * band}+"] = np.concatenate([first[inside], second[inside]])
            stats[f"mean |draw 1 - draw 2|, clean {32 * band}+"] = np.abs(first - second)[inside]
    return {key: (v.mean(), v.std() / np.sqrt(v.size)) for key, v in stats.items()}


@pytest.mark.parametrize("name", ["iso_noise", "low_light"])
def test_noise_matches_the_published_distribution(photos, name):
    """Per severity, torch's output and the transcription's (NumPy noise) agree within `STANDARD_ERRORS` in the
    mean output and the size of the noise per band of clean levels, and the noise's size overall
    (`_statistics`), on the photographs and a grey ramp white over its right half (the photographs have few
    values above 224, where the clipping between the two noises matters)."""
    ramp = (torch.arange(64) * 8).clamp(max=255).to(torch.uint8).expand(1, 3, 64, 64)
    images = torch.cat([photos, ramp])
    clean = images.permute(0, 2, 3, 1).numpy()
    for severity in range(1, 6):
        ours = [corruptions.corrupt(images, name, severity, generator=_gen(seed)).permute(0, 2, 3, 1).numpy()
                for seed in range(2)]
        rng = np.random.RandomState(severity)
        theirs = [np.stack([REFERENCE[name](image, severity, rng) for image in clean]) for _ in range(2)]
        expected = _statistics(*theirs, clean)
        for key, (value, error) in _statistics(*ours, clean).items():
            ref_value, ref_error = expected[key]
            assert abs(value - ref_value) <= STANDARD_ERRORS * np.hypot(error, ref_error), (severity, key)


def test_low_light_of_a_constant_image_is_that_of_black():
    """The reference divides by max - min = 0; a constant image is taken as all zeros (documented)."""
    grey = torch.full((1, 3, 40, 40), 90, dtype=torch.uint8)
    out = corruptions.corrupt(grey, "low_light", 2, generator=_gen(3))
    assert torch.equal(out, corruptions.corrupt(torch.zeros_like(grey), "low_light", 2, generator=_gen(3)))


@pytest.mark.parametrize("name", NAMES)
def test_change_grows_with_severity(photos, name):
    changes = [(corruptions.corrupt(photos, name, s, generator=_gen(0)).float() - photos.float()).abs().mean()
               for s in range(1, 6)]
    assert all(a < b for a, b in zip(changes, changes[1:])), changes


@pytest.mark.parametrize("name", NAMES)
def test_batched_equals_per_image(photos, name):
    """`corrupt` gives batches of 1 and 3 what one batch of 4 gives, the generator carried along; the whole-batch
    path (accelerators) gives them what it gives the batch, seeds split alike."""
    whole = corruptions.corrupt(photos, name, 2, generator=_gen(4))
    generator = _gen(4)
    parts = [corruptions.corrupt(photos[:1], name, 2, generator=generator),
             corruptions.corrupt(photos[1:], name, 2, generator=generator)]
    assert torch.equal(whole, torch.cat(parts))
    x, fn, seeds = photos.float() / 255, CORRUPTIONS.get(name), [4, 5, 6, 7]
    assert torch.equal(fn(x, 2, seeds), torch.cat([fn(x[:1], 2, seeds[:1]), fn(x[1:], 2, seeds[1:])]))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float_input_gives_the_uint8_result(photos, name, dtype):
    as_uint8 = corruptions.corrupt(photos, name, 4, generator=_gen(0))
    as_float = corruptions.corrupt(photos.to(dtype) / 255, name, 4, generator=_gen(0))
    assert as_float.dtype == dtype
    torch.testing.assert_close(as_float, as_uint8.to(dtype) / 255, rtol=0, atol=1e-6)


def test_selectable_like_the_others():
    assert expand_corruptions("3dcc") == NAMES
    suite = CorruptionSuite("demo", CorruptionOptions(corruptions="3dcc", severities=[1, 5], preset="imagenet"))
    assert {cell.backend for cell in suite.resolved.values()} == {"torch"} and len(suite.groups()[0].fingerprints) == 7
