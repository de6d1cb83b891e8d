"""The "cifar" severity preset: make_cifar_c.py's constants and operations, checked against independent NumPy,
scikit-image, OpenCV, SciPy and Pillow implementations of that script's functions on a real 32 x 32 photograph;
and how the preset reaches the backends, suites, renderers and reports."""

import io

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import hwc, nchw
from imagecorruptions import corruptions as ic
from photos import load_photographs
from PIL import Image
from scipy.ndimage import map_coordinates
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from skimage import color
from skimage.filters import gaussian

import corruptions
from corruptions import blur, digital, noise, weather
from corruptions.registry import resolve_backend
from robustbench_lift.errors import UsageError
from robustbench_lift.report.build import grid_preset
from robustbench_lift.suites.corruption import CorruptionSuite
from robustbench_lift.suites.options import CorruptionOptions

SEVERITIES = (1, 2, 3, 4, 5)
# make_cifar_c.py (hendrycks/robustness), as the script writes them: the oracle of the tests below.
SCRIPT = {
    "gaussian_noise": [0.04, 0.06, .08, .09, .10],
    "shot_noise": [500, 250, 100, 75, 50],
    "impulse_noise": [.01, .02, .03, .05, .07],
    "speckle_noise": [.06, .1, .12, .16, .2],
    "gaussian_blur": [.4, .6, 0.7, .8, 1],
    "defocus_blur": [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)],
    "zoom_blur": [np.arange(1, 1.06, 0.01), np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01),
                  np.arange(1, 1.21, 0.01), np.arange(1, 1.26, 0.01)],
    "contrast": [.75, .5, .4, .3, 0.15],
    "brightness": [.05, .1, .15, .2, .3],
    "saturate": [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)],
    "jpeg_compression": [80, 65, 58, 50, 40],
    "pixelate": [0.95, 0.9, 0.85, 0.75, 0.65],
    "frost": [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)],
    "elastic_transform": [(32 * 0, 32 * 0, 32 * 0.08), (32 * 0.05, 32 * 0.2, 32 * 0.07),
                          (32 * 0.08, 32 * 0.06, 32 * 0.06), (32 * 0.1, 32 * 0.04, 32 * 0.05),
                          (32 * 0.1, 32 * 0.03, 32 * 0.03)],
}


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """float64 `(32, 32, 3)` in [0, 1] on the 8-bit grid, from a real photograph."""
    return load_photographs((32, 32), names=("chelsea",))[0].permute(1, 2, 0).double().numpy() / 255


def _script_contrast(x: np.ndarray, c: float) -> np.ndarray:
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1)


def _script_brightness(x: np.ndarray, c: float) -> np.ndarray:
    hsv = color.rgb2hsv(x)
    hsv[:, :, 2] = np.clip(hsv[:, :, 2] + c, 0, 1)
    return np.clip(color.hsv2rgb(hsv), 0, 1)


def _script_saturate(x: np.ndarray, c: tuple[float, float]) -> np.ndarray:
    hsv = color.rgb2hsv(x)
    hsv[:, :, 1] = np.clip(hsv[:, :, 1] * c[0] + c[1], 0, 1)
    return np.clip(color.hsv2rgb(hsv), 0, 1)


def _script_gaussian_blur(x: np.ndarray, c: float) -> np.ndarray:
    return np.clip(gaussian(x, sigma=c, channel_axis=-1), 0, 1)


def _script_defocus_blur(x: np.ndarray, c: tuple[float, float]) -> np.ndarray:
    kernel = ic.disk(radius=c[0], alias_blur=c[1])
    return np.clip(np.stack([cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)], axis=-1), 0, 1)


def _script_zoom_blur(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    for factor in c:
        out += ic.clipped_zoom(x, factor)[:32, :32]  # make_cifar_c.py trims to 32 inside its clipped_zoom
    return np.clip((x + out) / (len(c) + 1), 0, 1)


@pytest.mark.parametrize("name, script", [
    ("contrast", _script_contrast), ("brightness", _script_brightness), ("saturate", _script_saturate),
    ("gaussian_blur", _script_gaussian_blur), ("defocus_blur", _script_defocus_blur),
    ("zoom_blur", _script_zoom_blur)])
def test_deterministic_corruptions_follow_the_script(photo, name, script):
    function = {"contrast": digital.contrast, "brightness": digital.brightness, "saturate": digital.saturate,
                "gaussian_blur": blur.gaussian_blur, "defocus_blur": blur.defocus_blur,
                "zoom_blur": blur.zoom_blur}[name]
    for severity, c in zip(SEVERITIES, SCRIPT[name]):
        got = hwc(function(nchw(photo).float(), severity, preset="cifar"))
        np.testing.assert_allclose(got, script(photo, c), atol=2e-5, err_msg=f"{name} severity {severity}")


def test_pixelate_resizes_with_pil_box_both_ways(photo):
    """make_cifar_c.py: BOX down to int(32 c), BOX back up (imagecorruptions: NEAREST up); bit-exact."""
    levels = np.round(photo * 255).astype(np.uint8)
    for severity, c in zip(SEVERITIES, SCRIPT["pixelate"]):
        small = Image.fromarray(levels).resize((int(32 * c), int(32 * c)), Image.BOX)
        expected = np.asarray(small.resize((32, 32), Image.BOX))
        got = corruptions.corrupt(nchw(levels), "pixelate", severity, preset="cifar")
        np.testing.assert_array_equal(got[0].permute(1, 2, 0).numpy(), expected)


def test_jpeg_uses_the_script_qualities(photo):
    levels = np.round(photo * 255).astype(np.uint8)
    for severity, quality in zip(SEVERITIES, SCRIPT["jpeg_compression"]):
        buffer = io.BytesIO()
        Image.fromarray(levels).save(buffer, "JPEG", quality=quality)
        expected = np.asarray(Image.open(buffer)).astype(np.float64)
        got = corruptions.corrupt(nchw(levels), "jpeg_compression", severity, preset="cifar")
        assert np.abs(got[0].permute(1, 2, 0).numpy() - expected).mean() < 0.5, f"severity {severity}"


def test_noise_strength_follows_the_script():
    """On grey images (0.5): std of the additive and multiplicative noise, Poisson variance 0.5 / c, and the
    fraction of impulse-replaced values, each within 5% of make_cifar_c.py's constant."""
    grey = torch.full((64, 3, 32, 32), 0.5)
    for severity in SEVERITIES:
        seeds = range(100 * severity, 100 * severity + len(grey))
        gaussian_std = (noise.gaussian_noise(grey, severity, seeds, preset="cifar") - 0.5).std().item()
        speckle_std = (noise.speckle_noise(grey, severity, seeds, preset="cifar") - 0.5).std().item()
        shot_var = noise.shot_noise(grey, severity, seeds, preset="cifar").var().item()
        impulse = (noise.impulse_noise(grey, severity, seeds, preset="cifar") != 0.5).double().mean().item()
        index = severity - 1
        assert gaussian_std == pytest.approx(SCRIPT["gaussian_noise"][index], rel=0.05)
        assert speckle_std == pytest.approx(0.5 * SCRIPT["speckle_noise"][index], rel=0.05)
        assert shot_var == pytest.approx(0.5 / SCRIPT["shot_noise"][index], rel=0.05)
        assert impulse == pytest.approx(SCRIPT["impulse_noise"][index], rel=0.05)


def _script_elastic(image: np.ndarray, shifts: np.ndarray, fields: np.ndarray, c: tuple) -> np.ndarray:
    """make_cifar_c.py `elastic_transform` with its three random draws given."""
    image = image.astype(np.float32)
    center_square = np.float32(image.shape[:2]) // 2
    square_size = min(image.shape[:2]) // 3
    pts1 = np.float32([center_square + square_size, [center_square[0] + square_size, center_square[1] - square_size],
                       center_square - square_size])
    pts2 = pts1 + shifts.astype(np.float32)
    warped = cv2.warpAffine(image, cv2.getAffineTransform(pts1, pts2), image.shape[1::-1],
                            borderMode=cv2.BORDER_REFLECT_101)
    dx = gaussian(fields[0], c[1], mode="reflect", truncate=3) * c[0]
    dy = gaussian(fields[1], c[1], mode="reflect", truncate=3) * c[0]
    x, y, z = np.meshgrid(np.arange(32), np.arange(32), np.arange(3))
    indices = np.reshape(y + dy[..., None], (-1, 1)), np.reshape(x + dx[..., None], (-1, 1)), np.reshape(z, (-1, 1))
    return np.clip(map_coordinates(warped, indices, order=1, mode="reflect").reshape(image.shape), 0, 1)


def test_elastic_is_the_scripts_affine_and_elastic_warp(photo):
    rng = np.random.default_rng(0)
    for c in SCRIPT["elastic_transform"]:
        shifts = rng.uniform(-c[2], c[2], size=(3, 2))
        fields = rng.uniform(-1, 1, size=(2, 32, 32))
        got = digital.affine_elastic(nchw(photo), torch.from_numpy(shifts)[None], torch.from_numpy(fields)[None],
                                     c[0], c[1])
        np.testing.assert_allclose(hwc(got), _script_elastic(photo, shifts, fields, c), atol=1e-5)


def test_elastic_draws_come_from_the_generator_per_image(photo):
    x = nchw(photo).float().repeat(4, 1, 1, 1)
    first = digital.elastic_transform(x, 3, [3, 4, 5, 6], preset="cifar")
    assert torch.equal(first, digital.elastic_transform(x, 3, [3, 4, 5, 6], preset="cifar"))
    assert not torch.equal(first[0], first[1])


def test_frost_crops_come_from_pictures_scaled_by_a_fifth():
    """On black images frost is `weight * crop`; every crop lies in one of the first five pictures resized by
    `cv2.resize(fx=fy=0.2)` as make_cifar_c.py does."""
    x = torch.zeros(12, 3, 32, 32)
    out = weather.frost(x, 1, list(range(len(x))), preset="cifar")
    crops = (out * 255 / SCRIPT["frost"][0][1]).permute(0, 2, 3, 1).numpy().astype(np.float32)
    pictures = []
    for index in range(5):
        picture = weather._frost_picture(index, torch.device("cpu")).permute(1, 2, 0).numpy().astype(np.float32)
        pictures.append(cv2.resize(picture, (0, 0), fx=0.2, fy=0.2).round())
    used = set()
    for crop in crops:
        scores = [cv2.matchTemplate(p, crop, cv2.TM_SQDIFF).min() / crop.size for p in pictures]
        assert min(scores) < 0.01
        used.add(int(np.argmin(scores)))
    assert len(used) >= 3


def test_preset_is_milder_on_average_for_the_noises(photo):
    """CIFAR-10-C's constants are milder: at every severity, every noise changes the photograph less."""
    x = nchw(np.round(photo * 255).astype(np.uint8)).repeat(8, 1, 1, 1)
    for name in ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"):
        for severity in SEVERITIES:
            change = {preset: (corruptions.corrupt(x, name, severity, generator=torch.Generator().manual_seed(0),
                                                   preset=preset).float() - x.float()).abs().mean().item()
                      for preset in ("imagenet", "cifar")}
            assert change["cifar"] < change["imagenet"], (name, severity, change)


def test_every_corruption_runs_with_the_preset_and_the_default_is_imagenet():
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    for name in corruptions.get_corruption_names("all"):
        out = corruptions.corrupt(x, name, 3, generator=torch.Generator().manual_seed(0), preset="cifar")
        assert out.shape == x.shape and out.dtype == torch.uint8
        default = corruptions.corrupt(x, name, 3, generator=torch.Generator().manual_seed(0))
        imagenet = corruptions.corrupt(x, name, 3, generator=torch.Generator().manual_seed(0), preset="imagenet")
        assert torch.equal(default, imagenet)


def test_preset_errors_and_backends():
    x = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    with pytest.raises(UsageError, match="only ImageNet-C constants"):
        corruptions.corrupt(x, "pixelate", 1, backend="reference", preset="cifar")
    with pytest.raises(UsageError, match="unknown severity preset 'cifar10'.*imagenet, cifar"):
        corruptions.corrupt(x, "pixelate", 1, preset="cifar10")
    assert resolve_backend("auto", "pixelate", torch.device("cpu"), "cifar") == "torch"
    assert resolve_backend("auto", "pixelate", torch.device("cpu")) == "reference"


def test_corruption_suite_names_and_fingerprints_the_preset(tmp_path):
    suite = CorruptionSuite("demo", CorruptionOptions(corruptions=["fog"], severities=[2], preset="cifar"))
    assert suite.dataset == "demo-otf-cifar"
    fingerprints = suite.groups()[0].fingerprints
    assert fingerprints[("fog", 2)]["preset"] == "cifar" and "preset" not in fingerprints[("clean", 0)]
    assert CorruptionSuite("demo", CorruptionOptions(corruptions=["fog"], preset="imagenet")).dataset == "demo-otf"
    (tmp_path / "labels.npy").write_bytes(b"")
    with pytest.raises(UsageError, match="pre-rendered cifar-c tree"):
        CorruptionSuite(tmp_path, CorruptionOptions(preset="cifar"))


def test_report_grid_uses_the_cells_preset():
    def frame(*fingerprints: dict) -> pd.DataFrame:
        return pd.DataFrame({"suite": "c", "corruption": "fog", "severity": 1, "fingerprint": list(fingerprints)})

    assert grid_preset(frame({"source": "on-the-fly", "preset": "cifar"})) == "cifar"
    assert grid_preset(frame({"source": "cifar-c"})) == "cifar"
    assert grid_preset(frame({"source": "on-the-fly"})) == "imagenet"
    assert grid_preset(frame({"source": "on-the-fly", "preset": "cifar"}, {"source": "imagenet-c"})) == "imagenet"
