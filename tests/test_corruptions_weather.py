"""Weather corruptions (snow, frost, fog, spatter) against imagecorruptions and OpenCV on real photographs."""

import importlib.resources

import cv2
import numpy as np
import pytest
import torch
from conftest import load_photos
from imagecorruptions import corrupt as reference_corrupt
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)

from corruptions import _cv, weather
from corruptions._random import image_seeds

NAMES = ("snow", "frost", "fog", "spatter")
SEVERITIES = (1, 2, 3, 4, 5)


@pytest.fixture(scope="module")
def photos64() -> torch.Tensor:
    return load_photos(64)


def _seeds(seed: int, n: int) -> list[int]:
    return image_seeds(torch.Generator().manual_seed(seed), n)


def _mean_abs_diff(corrupted: torch.Tensor, clean: torch.Tensor) -> float:
    """Mean |corrupted - clean| in 0..255 after the reference's uint8 truncation."""
    return (corrupted * 255).floor().sub(clean.float()).abs().mean().item()


# `repeats` copies of the 4 photographs per seed: the noisier the statistic (spatter drops, frost picture and
# crop, fog plasma), the more samples keep sampling error well inside the 10% bound (measured with many more
# samples, every ratio is within 1-2% of 1).
@pytest.mark.parametrize("name, kwargs, repeats", [("snow", {}, 2), ("fog", {}, 6), ("spatter", {}, 8),
                                                   ("frost", {"frost_images": 6}, 4)])
def test_mean_abs_difference_matches_reference_at_every_severity(photos64, name, kwargs, repeats):
    """Agreement in distribution: over 8 seeds (each on `repeats` copies of 4 photographs, every copy with its
    own per-image stream) the mean |corrupted - clean| is within 10% of imagecorruptions' (the imaug fork draws
    frost among six pictures, hence `frost_images=6` here)."""
    batch = photos64.repeat(repeats, 1, 1, 1)
    fn = getattr(weather, name)
    for severity in SEVERITIES:
        ours = np.mean([_mean_abs_diff(fn(batch.float() / 255, severity, _seeds(seed, len(batch)),
                                          **kwargs), batch) for seed in range(8)])
        theirs = []
        for seed in range(8):
            for i, image in enumerate(batch.permute(0, 2, 3, 1).numpy()):
                np.random.seed(1000 * seed + i)
                out = reference_corrupt(image, severity=severity, corruption_name=name)
                theirs.append(np.abs(out.astype(np.float64) - image).mean())
        assert ours == pytest.approx(np.mean(theirs), rel=0.10), (name, severity)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_spatter_and_snow_equal_reference_given_the_same_draws(photos64, severity):
    """With NumPy's own draws fed in, the torch pipelines reproduce imagecorruptions image by image."""
    for k, image in enumerate(photos64.permute(0, 2, 3, 1).numpy()):
        x = photos64[k:k + 1].float() / 255
        np.random.seed(k)
        expected = reference_corrupt(image, severity=severity, corruption_name="spatter").astype(np.float64)
        np.random.seed(k)
        noise = torch.from_numpy(np.random.standard_normal(image.shape[:2])).float()[None, None]
        ours = (weather.spatter_from_noise(x, severity, noise) * 255).floor()[0].permute(1, 2, 0).numpy()
        assert _psnr(ours, expected) > 40, ("spatter", severity, k)

        np.random.seed(k)
        expected = reference_corrupt(image, severity=severity, corruption_name="snow").astype(np.float64)
        np.random.seed(k)
        noise = torch.from_numpy(np.random.standard_normal(image.shape[:2])).float()[None, None]
        angle = torch.tensor([np.random.uniform(-135, -45)])
        ours = (weather.snow_from_noise(x, severity, noise, angle) * 255).floor()[0].permute(1, 2, 0).numpy()
        # the reference blurs the zoomed layer before cropping it: a few border columns may differ
        assert _psnr(ours, expected) > 25, ("snow", severity, k)
        assert _psnr(ours[:-6, 6:-6], expected[:-6, 6:-6]) > 60, ("snow interior", severity, k)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.mark.parametrize("shape", [(2, 3, 97, 131), (1, 3, 224, 224), (2, 3, 32, 32)])
def test_every_severity_runs_on_odd_imagenet_and_cifar_sizes(shape):
    x = torch.rand(shape)
    for name in NAMES:
        for severity in SEVERITIES:
            out = getattr(weather, name)(x, severity, _seeds(severity, len(x)))
            assert out.shape == x.shape and out.dtype == x.dtype, (name, severity)
            assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1, (name, severity)
            assert not torch.equal(out, x), (name, severity)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_per_seed_and_independent_of_batching(photos64, name):
    x = photos64.float() / 255
    fn = getattr(weather, name)
    seeds = _seeds(7, len(x))
    first = fn(x, 3, seeds)
    assert torch.equal(first, fn(x, 3, seeds))
    assert not torch.equal(first, fn(x, 3, _seeds(8, len(x))))
    halves = torch.cat([fn(x[:2], 3, seeds[:2]), fn(x[2:], 3, seeds[2:])])
    assert torch.equal(first, halves)
    # every image draws its own randomness: two copies of one photograph come out different
    pair = fn(x[:1].repeat(2, 1, 1, 1), 3, seeds[:2])
    assert not torch.equal(pair[0], pair[1])


def _reference_frost_pictures(x_shape: tuple[int, int]) -> list[np.ndarray]:
    """The six frost pictures decoded and rescaled with OpenCV exactly as imagecorruptions `frost` does."""
    pictures = []
    for name in weather.FROST_FILES:
        path = importlib.resources.files("imagecorruptions") / "frost" / name
        picture = cv2.imread(str(path))[..., ::-1].astype(np.float32)
        factor = max(1.0, x_shape[0] / picture.shape[0], x_shape[1] / picture.shape[1]) * 1.1
        size = (int(np.ceil(picture.shape[1] * factor)), int(np.ceil(picture.shape[0] * factor)))
        pictures.append(cv2.resize(picture, dsize=size, interpolation=cv2.INTER_CUBIC).round().clip(0, 255))
    return pictures


@pytest.mark.parametrize("frost_images", [5, 6])
def test_frost_crops_come_from_the_package_pictures(frost_images):
    """On a black image frost is `weight * crop`: every crop is found (up to rounding) in one of the first
    `frost_images` pictures, read and rescaled independently with OpenCV."""
    x = torch.zeros(16, 3, 40, 48)
    out = weather.frost(x, 1, _seeds(0, len(x)), frost_images=frost_images)
    crops = (out * 255 / weather.FROST_PARAMS["imagenet"][0][1]).permute(0, 2, 3, 1).numpy().astype(np.float32)
    pictures = _reference_frost_pictures((40, 48))
    used = set()
    for crop in crops:
        scores = [cv2.matchTemplate(p, crop, cv2.TM_SQDIFF).min() / crop.size for p in pictures]
        assert min(scores) < 2.0
        used.add(int(np.argmin(scores)))
    assert used <= set(range(frost_images)) and len(used) >= 3
    if frost_images == 6:
        assert 5 in used


def test_frost_covers_images_larger_than_the_pictures():
    out = weather.frost(torch.rand(1, 3, 700, 1000), 5, [0])
    assert out.shape == (1, 3, 700, 1000)
    with pytest.raises(ValueError, match="frost_images"):
        weather.frost(torch.rand(1, 3, 32, 32), 1, [0], frost_images=4)


def test_fog_formula_and_plasma_range():
    gens = [torch.Generator().manual_seed(s) for s in range(3)]
    plasma = weather.plasma_fractal(gens, 64, 2.0, torch.device("cpu"))
    assert plasma.shape == (3, 64, 64)
    assert torch.allclose(plasma.amin(dim=(1, 2)), torch.zeros(3))
    assert torch.allclose(plasma.amax(dim=(1, 2)), torch.ones(3))
    # fog = (x + w * plasma) * peak / (peak + w): a black image stays black (peak 0); on a white 64 x 64 image
    # the whole map is used, so the output spans [1 / (1 + w), 1] and is grey (equal channels)
    assert torch.equal(weather.fog(torch.zeros(1, 3, 40, 40), 3, [0]), torch.zeros(1, 3, 40, 40))
    white = weather.fog(torch.ones(2, 3, 64, 64), 3, [0, 1])
    weight = weather.FOG_PARAMS["imagenet"][2][0]
    assert torch.allclose(white.amin(dim=(1, 2, 3)), torch.full((2,), 1 / (1 + weight)))
    assert torch.allclose(white.amax(dim=(1, 2, 3)), torch.ones(2))
    assert torch.equal(white[:, 0], white[:, 2])


def test_opencv_steps_of_spatter_match_opencv():
    """Canny exactly, the truncated distance within OpenCV's chamfer error, histogram equalisation and the
    emboss filter exactly, on real liquid layers."""
    from skimage.filters import gaussian

    rng = np.random.default_rng(0)
    water = weather.SPATTER_PARAMS["imagenet"][:3] + weather.SPATTER_PARAMS["cifar"][:3]
    for loc, scale, sigma, threshold, *_ in water:
        layers = []
        for _ in range(3):
            layer = gaussian(rng.normal(loc, scale, size=(61, 83)), sigma=sigma)
            layer[layer < threshold] = 0
            layers.append((layer * 255).astype(np.uint8))
        torch_layers = torch.from_numpy(np.stack(layers)).float()
        edges = np.stack([cv2.Canny(layer, 50, 150) > 0 for layer in layers])
        assert np.array_equal(_cv.canny(torch_layers, 50, 150).numpy(), edges)
        distance = np.stack([np.minimum(cv2.distanceTransform(255 * (~e).astype(np.uint8), cv2.DIST_L2, 5), 20)
                             for e in edges])
        ours = _cv.distance_to_edges(torch.from_numpy(edges), 20).numpy()
        assert np.abs(ours - distance).max() < 0.5 and np.abs(ours - distance).mean() < 0.1
        levels = np.stack([cv2.blur(d, (3, 3)) for d in distance]).astype(np.uint8)
        equalised = np.stack([cv2.equalizeHist(level) for level in levels])
        assert np.array_equal(_cv.equalize_hist(torch.from_numpy(levels).float()).numpy(), equalised)
        embossed = np.stack([cv2.filter2D(e, cv2.CV_8U, np.array(weather.EMBOSS)) for e in equalised])
        ours = _cv.correlate3x3(torch.from_numpy(equalised).float(), weather.EMBOSS, "reflect").round().clamp(0, 255)
        assert np.array_equal(ours.numpy(), embossed)
