"""ImageNet-C-bar's 10 corruptions against NumPy transcriptions of the published generator
(`cbar_transcription.py`), fed the same random draws, on a real photograph; the draws' distributions against
the published `sample_parameters`; severity, batch, size and dtype behaviour; the registry's errors, selection
and aggregate."""

import functools

import numpy as np
import pytest
import torch
from cbar_transcription import CSV_LEVELS, REFERENCE
from photos import load_photographs, psnr
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)

import corruptions
from corruptions import cbar
from corruptions._random import first_draws, image_seeds
from corruptions.names import CORRUPTIONS, expand_corruptions
from robustbench_lift.errors import UsageError
from robustbench_lift.suites.corruption import CorruptionSuite
from robustbench_lift.suites.options import CorruptionOptions

NAMES = ["blue_noise_sample", "brownish_noise", "caustic_refraction", "checkerboard_cutout", "cocentric_sine_waves",
         "inverse_sparkles", "perlin_noise", "plasma_noise", "single_frequency_greyscale", "sparkles"]
SIDE = 64
# caustic_refraction's transcription runs pixel by pixel in Python: a smaller photograph keeps it fast.
PARITY_SIDE = {"caustic_refraction": 40}
# Pattern edges (rings, board cells, the noise mask, the lens' straight-ray cut-off) are discontinuous: float32
# puts a few pixels on the other side of an edge than float64 does. Smooth corruptions must agree to one level.
EDGES = {"cocentric_sine_waves", "checkerboard_cutout", "blue_noise_sample", "caustic_refraction"}


@functools.cache
def photo(side: int = SIDE) -> torch.Tensor:
    """scikit-image's chelsea, uint8 `(1, 3, side, side)`."""
    return load_photographs(side, names=("chelsea",))


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    return load_photographs(SIDE)


def _numpy(value):
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, list):
        return [_numpy(v) for v in value]
    return value


def corrupt_with_draws(image: torch.Tensor, name: str, severity: int, seed: int) -> tuple[torch.Tensor, dict]:
    """`corrupt` of one image, and the draws it used: `corrupt` draws the image's seed from the caller's generator,
    and the corruption draws from a generator seeded with that seed's `first_draws`."""
    out = corruptions.corrupt(image, name, severity, generator=torch.Generator().manual_seed(seed))
    inner = torch.Generator().manual_seed(first_draws(image_seeds(torch.Generator().manual_seed(seed), 1))[0])
    size = (image.shape[-2], image.shape[-1])
    draws = CORRUPTIONS.get(name).sample(inner, size, cbar.LEVELS["imagenet"][name][severity - 1])
    return out, {key: _numpy(value) for key, value in draws.items()}


def test_names_subset_and_levels_are_the_published_ones():
    assert corruptions.get_corruption_names("cbar") == NAMES
    assert not set(NAMES) & set(corruptions.get_corruption_names("all"))
    assert {name: list(levels) for name, levels in cbar.LEVELS["imagenet"].items()} == CSV_LEVELS


@pytest.mark.parametrize("name", NAMES)
def test_matches_the_published_transform_given_the_same_draws(name):
    """Every severity, `corrupt` against the transcription fed the same draws: smooth corruptions within one
    8-bit level everywhere; those with edges (`EDGES`) within one level on at least 99.5% of the values."""
    chelsea = photo(PARITY_SIDE.get(name, SIDE))
    image = chelsea[0].permute(1, 2, 0).numpy()
    for severity in range(1, 6):
        out, draws = corrupt_with_draws(chelsea, name, severity, seed=severity)
        expected = REFERENCE[name](image, CSV_LEVELS[name][severity - 1], draws)
        diff = np.abs(out[0].permute(1, 2, 0).numpy().astype(int) - expected.astype(int))
        off = float(np.mean(diff > 1))
        assert off <= (0.005 if name in EDGES else 0.0), (severity, off, diff.max())
        assert psnr(out[0], torch.from_numpy(expected).permute(2, 0, 1)) >= 40, severity


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_uniform(values, low: float, high: float) -> None:
    """All values in [low, high) and their mean within 4 standard errors of the uniform distribution's."""
    values = np.concatenate([np.ravel(np.asarray(v, dtype=np.float64)) for v in values])
    assert low <= values.min() and values.max() < high, (values.min(), values.max())
    assert abs(values.mean() - (low + high) / 2) < 4 * (high - low) / np.sqrt(12 * values.size)


# `sample_parameters` of corrupt.py (and the arrays drawn from its seeds): uniform ranges at im_size s.
UNIFORM = {
    "single_frequency_greyscale": lambda s: {"phase": (0, 2 * np.pi)},
    "cocentric_sine_waves": lambda s: {"offset": (0, s), "freq": (0, 10), "amplitude": (0, s / 10),
                                       "ring_width": (0, s / 10)},
    "plasma_noise": lambda s: {"time": (0, 6 * np.pi), "sharpness": (0.5, 1.0), "scale": (0.075 * s, 0.2 * s)},
    "checkerboard_cutout": lambda s: {"angle": (0, 2 * np.pi), "scale": (0.1 * s, 0.25 * s), "cells": (0, 1)},
    "sparkles": lambda s: {"centers": (0, s)},
    "inverse_sparkles": lambda s: {"center": (0.25 * s, 0.75 * s)},
    "perlin_noise": lambda s: {"gradients": (0, 512), "swaps": (0, 256)},
    "blue_noise_sample": lambda s: {"phases": (0, 2 * np.pi)},
    "brownish_noise": lambda s: {"phases": (0, 2 * np.pi)},
    "caustic_refraction": lambda s: {"time": (0.5, 2.0), "size": (0.75 * s, 1.25 * s)},
}


@pytest.mark.parametrize("name", NAMES)
def test_draws_follow_the_published_distributions(name):
    draws = [{k: _numpy(v) for k, v in CORRUPTIONS.get(name).sample(_gen(i), (SIDE, SIDE), 5.0).items()}
             for i in range(300)]
    for key, (low, high) in UNIFORM[name](SIDE).items():
        assert_uniform([d[key] for d in draws], low, high)
    if name == "single_frequency_greyscale":
        freqs = np.array([d["freq"] for d in draws])
        major = np.abs(freqs).max(axis=1)
        minor = np.take_along_axis(freqs, np.abs(freqs).argmin(axis=1)[:, None], axis=1)[:, 0]
        assert_uniform(major, 0, np.pi)
        assert_uniform(minor / major, -1, 1)
        assert_uniform(np.abs(freqs[:, 0]) > np.abs(freqs[:, 1]), 0, 1.0001)
    if name == "plasma_noise":
        assert {d["iterations"] for d in draws} == {4, 5, 6}
    if name in ("sparkles", "inverse_sparkles"):
        noise = [d["ray_noise"] for d in draws]
        noise = [n for stars in noise for n in stars] if name == "sparkles" else noise
        assert_uniform([len(n) for n in noise], 50, 200)
        values = np.concatenate(noise)
        assert abs(values.mean()) < 0.02 and abs(values.std() - 1) < 0.02
    if name in ("blue_noise_sample", "brownish_noise"):
        phases = draws[0]["phases"] if name == "blue_noise_sample" else draws[0]["phases"][0]
        assert phases.shape == (SIDE, SIDE // 2)
        odd = CORRUPTIONS.get(name).sample(_gen(0), (SIDE + 1, SIDE + 1), 5.0)
        centre = odd["centre"] if name == "blue_noise_sample" else odd["centres"][0]
        assert centre.shape == (SIDE // 2,)


@pytest.mark.parametrize("name", NAMES)
def test_change_grows_with_severity(photos, name):
    """The CSV's levels grow with severity and each makes its corruption stronger: with the same draws, the mean
    |corrupted - clean| grows strictly."""
    changes = [(corruptions.corrupt(photos, name, s, generator=_gen(0)).float() - photos.float()).abs().mean()
               for s in range(1, 6)]
    assert all(a < b for a, b in zip(changes, changes[1:])), changes


@pytest.mark.parametrize("name", NAMES)
def test_batched_equals_per_image(photos, name):
    """`corrupt` gives what batches of 1 and 3 give with the generator carried along; the whole-batch path
    (accelerators) gives image i what its own draws from a generator seeded with its seed give."""
    whole = corruptions.corrupt(photos, name, 3, generator=_gen(5))
    generator = _gen(5)
    parts = [corruptions.corrupt(photos[:1], name, 3, generator=generator),
             corruptions.corrupt(photos[1:], name, 3, generator=generator)]
    assert torch.equal(whole, torch.cat(parts))
    x, fn = photos.float() / 255, CORRUPTIONS.get(name)
    level = CSV_LEVELS[name][2]
    per_image = [fn.render(image, **fn.sample(_gen(seed), (SIDE, SIDE), level))
                 for image, seed in zip(x, image_seeds(_gen(5), len(x)))]
    assert torch.equal(fn(x, 3, image_seeds(_gen(5), len(x))), torch.stack(per_image))


@pytest.mark.parametrize("name", NAMES)
def test_odd_and_non_square_sizes(name):
    for size in [(33, 47), (47, 33)]:
        image = load_photographs(size, names=("coffee",))
        out = corruptions.corrupt(image, name, 4, generator=_gen(1))
        assert out.shape == image.shape and out.dtype == torch.uint8 and not torch.equal(out, image)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float_input_gives_the_uint8_result(photos, dtype):
    for name in ("perlin_noise", "checkerboard_cutout"):
        as_uint8 = corruptions.corrupt(photos, name, 4, generator=_gen(0))
        as_float = corruptions.corrupt(photos.to(dtype) / 255, name, 4, generator=_gen(0))
        assert as_float.dtype == dtype
        torch.testing.assert_close(as_float, as_uint8.to(dtype) / 255, rtol=0, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_matches_cpu(photos, name):
    """The draws come from CPU generators, so the device changes only float rounding."""
    x, seeds = photos.float() / 255, image_seeds(_gen(2), len(photos))
    cpu = (CORRUPTIONS.get(name)(x, 3, seeds).clamp(0, 1) * 255).floor()
    cuda = (CORRUPTIONS.get(name)(x.cuda(), 3, seeds).clamp(0, 1) * 255).floor().cpu()
    assert float(((cpu - cuda).abs() > 1).float().mean()) <= (0.005 if name in EDGES else 0.0)


def test_selectable_like_the_others():
    names = expand_corruptions("cbar,fog")
    assert names == [*NAMES, "fog"]
    suite = CorruptionSuite("demo", CorruptionOptions(corruptions=names, severities=[1], preset="imagenet"))
    assert {cell.backend for cell in suite.resolved.values()} == {"torch"} and len(suite.groups()[0].fingerprints) == 12
    with pytest.raises(UsageError, match="no 'cifar' preset"):
        CorruptionSuite("demo", CorruptionOptions(corruptions=NAMES, preset="cifar"))

