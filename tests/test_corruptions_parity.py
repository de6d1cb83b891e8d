"""The torch backend against imagecorruptions, SciPy, scikit-image and NumPy on real photographs: primitives
exactly, deterministic corruptions by PSNR, random ones in distribution (noise, blur and digital families; the
weather family is tested in test_corruptions_weather.py)."""

import imagecorruptions
import numpy as np
import pytest
import torch
from conftest import hwc, nchw
from imagecorruptions import corruptions as ic
from photos import load_photographs, mean_abs_difference, psnr
from scipy.ndimage import gaussian_filter, map_coordinates
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from skimage import color
from skimage.filters import gaussian

import corruptions
from corruptions import _ops
from corruptions._random import per_image_uniform_bits
from corruptions.blur import GLASS, ZOOM_RANGES, gather_pixels, shuffle_codes, shuffle_sources, zoom_factors
from corruptions.digital import warp_reflect
from corruptions.names import DETERMINISTIC, SUBSETS

SEVERITIES = (1, 2, 3, 4, 5)
RANDOM_HERE = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "glass_blur", "motion_blur",
               "elastic_transform")


@pytest.fixture(scope="module")
def odd_photo() -> np.ndarray:
    """float64 `(97, 131, 3)` in [0, 1] from a real photograph."""
    return load_photographs((97, 131), names=("astronaut",))[0].permute(1, 2, 0).double().numpy() / 255


@pytest.mark.parametrize("sigma", [0.7, 1, 3, 6])
def test_gaussian_blur_is_skimage_gaussian(odd_photo, sigma):
    expected = gaussian(odd_photo, sigma=sigma, channel_axis=-1)
    np.testing.assert_allclose(hwc(_ops.gaussian_blur2d(nchw(odd_photo).float(), sigma)), expected, atol=1e-6)


def test_gaussian_blur_reflect_with_two_sigmas_is_scipy(odd_photo):
    field = odd_photo[..., 0] - 0.5
    expected = gaussian_filter(field, (0.97, 1.31), mode="reflect", truncate=3)
    got = _ops.gaussian_blur2d(torch.from_numpy(field)[None, None], (0.97, 1.31), truncate=3, mode="reflect")
    np.testing.assert_allclose(got[0, 0].numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("mode, numpy_mode", [("nearest", "edge"), ("reflect", "symmetric"), ("mirror", "reflect")])
@pytest.mark.parametrize("pads", [(3, 2, 0, 1), (7, 7, 9, 9), (15, 1, 20, 4)])
def test_pad2d_matches_numpy_pad_also_beyond_the_image(mode, numpy_mode, pads):
    x = torch.arange(7 * 9, dtype=torch.float64).view(1, 1, 7, 9)
    top, bottom, left, right = pads
    expected = np.pad(x[0, 0].numpy(), ((top, bottom), (left, right)), mode=numpy_mode)
    np.testing.assert_array_equal(_ops.pad2d(x, *pads, mode)[0, 0].numpy(), expected)


@pytest.mark.parametrize("radius, alias_blur", [(3, 0.1), (4, 0.5), (8, 0.5), (10, 0.5)])
def test_disk_kernel_is_imagecorruptions_disk(radius, alias_blur):
    np.testing.assert_allclose(_ops.disk_kernel(radius, alias_blur).numpy(), ic.disk(radius, alias_blur), atol=1e-8)


@pytest.mark.parametrize("factor", [1.0, 1.07, 1.3, 2.5, 4.5])
def test_zoom_center_is_clipped_zoom(odd_photo, factor):
    image = odd_photo.astype(np.float32)
    expected = ic.clipped_zoom(image, factor)[:97, :131]
    np.testing.assert_allclose(hwc(_ops.zoom_center(nchw(image), factor)), expected, atol=1e-5)


@pytest.mark.parametrize("preset", ["imagenet", "cifar"])
def test_zoom_factors_are_numpy_aranges(preset):
    for severity, (stop, step) in enumerate(ZOOM_RANGES[preset], start=1):
        np.testing.assert_array_equal(zoom_factors(severity, preset), np.arange(1, stop, step))


@pytest.mark.parametrize("angle", [-45.0, -20.3, 0.0, 13.7, 44.9, -100.0])
@pytest.mark.parametrize("radius, sigma", [(10, 3), (20, 15)])
def test_motion_blur_is_imagecorruptions_kernel(odd_photo, angle, radius, sigma):
    expected = ic._motion_blur(odd_photo * 255, radius=radius, sigma=sigma, angle=angle)
    got = _ops.motion_blur(nchw(odd_photo * 255).float(), radius, sigma, torch.tensor([angle]))
    np.testing.assert_allclose(hwc(got), expected, atol=2e-4)


def test_motion_blur_stops_where_the_reference_leaves_the_image(odd_photo):
    """At 32 px and radius 20 the horizontal taps pass the border: the reference drops them."""
    small = odd_photo[:32, :40] * 255
    for angle in (0.0, 30.0):
        expected = ic._motion_blur(small, radius=20, sigma=15, angle=angle)
        got = _ops.motion_blur(nchw(small).float(), 20, 15, torch.tensor([angle]))
        np.testing.assert_allclose(hwc(got), expected, atol=2e-4)


def test_hsv_round_trip_is_skimage(odd_photo):
    rgb = np.round(odd_photo * 255) / 255
    rgb[:4, :4] = 0.5  # grey pixels (zero saturation)
    rgb[4:8, :4] = [0.2, 0.7, 0.7]  # ties in the maximum
    hsv = color.rgb2hsv(rgb)
    np.testing.assert_allclose(hwc(_ops.rgb_to_hsv(nchw(rgb))), hsv, atol=1e-12)
    hsv[..., 2] = np.clip(hsv[..., 2] + 0.3, 0, 1)
    np.testing.assert_allclose(hwc(_ops.hsv_to_rgb(nchw(hsv))), color.hsv2rgb(hsv), atol=1e-12)


@pytest.mark.parametrize("h, w, constants", [(40, 50, (1, 2, 1)), (97, 131, (1, 4, 2)), (32, 32, (0.7, 1, 2)),
                                             (60, 45, (1, 3, 3))])
def test_shuffle_pixels_equals_the_numba_loop_given_its_offsets(h, w, constants):
    """numba's `np.random.randint` is NumPy's legacy stream: replay it to get the loop's offsets."""
    image = np.random.default_rng(h).integers(0, 256, (h, w, 3)).astype(np.uint8)
    expected = ic._shuffle_pixels_njit_glass_blur(h, w, image.copy(), constants, 7)
    delta, iterations = constants[1], constants[2]
    stream = np.random.RandomState(7)
    codes = np.zeros((iterations, h, w), np.int32)  # (dy + delta) * 2 delta + dx + delta; unvisited pixels: 0
    for it in range(iterations):
        for row in range(h - delta, delta, -1):
            for col in range(w - delta, delta, -1):
                dx, dy = stream.randint(-delta, delta, size=(2,))
                codes[it, row, col] = (dy + delta) * 2 * delta + dx + delta
    got = nchw(image).float()
    for it in range(iterations):
        got = gather_pixels(got, shuffle_sources(torch.from_numpy(codes[it])[None], delta))
    np.testing.assert_array_equal(hwc(got).astype(np.uint8), expected)
    # all passes solved at once (what glass_blur runs)
    at_once = gather_pixels(nchw(image).float(), shuffle_sources(torch.from_numpy(codes)[:, None], delta))
    np.testing.assert_array_equal(hwc(at_once).astype(np.uint8), expected)


@pytest.mark.parametrize("bits", [24, 4])
@pytest.mark.parametrize("shape", [(2, 37, 41), (37, 41)])  # an even and an odd number of draws
def test_uniform_bits_are_torch_rand_on_the_cpu(shape, bits):
    seeds = [0, 2**40 + 12345, 2**62 - 1]
    got = per_image_uniform_bits([torch.Generator().manual_seed(s) for s in seeds], shape, bits)
    expected = torch.stack([torch.rand(shape, generator=torch.Generator().manual_seed(s)) for s in seeds])
    assert torch.equal(got.double(), (expected.double() * 2**bits).floor())


def _glass_codes(u: np.ndarray, max_delta: int) -> np.ndarray:
    """glass_blur's codes `(dy + d) 2d + dx + d` of float32 uniforms, in NumPy float32."""
    scaled = u * np.float32(2) * np.float32(max_delta)
    dy = np.floor(scaled)
    return (dy * 2 * max_delta + np.floor((scaled - dy) * np.float32(2) * np.float32(max_delta))).astype(np.int32)


@pytest.mark.parametrize("max_delta", [1, 2, 4])
def test_glass_codes_of_a_power_of_two_span_are_the_top_bits_of_every_cpu_uniform(max_delta):
    """What `shuffle_codes` relies on, for all 2**24 float32 uniforms `k / 2**24` torch.rand gives on the CPU."""
    k = np.arange(2**24, dtype=np.int32)
    top = 2 * (2 * max_delta).bit_length() - 2
    np.testing.assert_array_equal(_glass_codes(k.astype(np.float32) * np.float32(2.0**-24), max_delta),
                                  k >> (24 - top))


@pytest.mark.parametrize("max_delta", [1, 2, 3, 4])
def test_glass_codes_are_the_float32_offsets_of_torch_rand(max_delta):
    seeds = [5, 2**33 + 1]
    got = shuffle_codes([torch.Generator().manual_seed(s) for s in seeds], (3, 301, 211), max_delta,
                        torch.device("cpu"))
    u = torch.stack([torch.rand((3, 301, 211), generator=torch.Generator().manual_seed(s)) for s in seeds])
    np.testing.assert_array_equal(got.numpy(), _glass_codes(u.numpy(), max_delta))


@pytest.mark.parametrize("severity", SEVERITIES)
def test_glass_blur_is_blur_truncate_shuffle_blur_with_torch_rand_offsets(odd_photo, severity):
    """The CPU path (integer draws, the compiled loop of `corruptions._glass_cpu`) against the operations written out:
    offsets from `torch.rand` of each image's generator in float32, the shuffle applied, then padded and blurred."""
    x = torch.cat([nchw(odd_photo).float(), nchw(odd_photo[::-1].copy()).float()])
    seeds = [3, 2**40 + 7]
    sigma, d, passes = GLASS["imagenet"][severity - 1]
    u = torch.stack([torch.rand((passes, 97, 131), generator=torch.Generator().manual_seed(s)) for s in seeds])
    scaled = u * 2 * d
    dy = scaled.floor()
    codes = (dy * 2 * d + ((scaled - dy) * 2 * d).floor()).int()
    blurred = (_ops.gaussian_blur2d(x, sigma) * 255).floor() / 255
    expected = _ops.gaussian_blur2d(gather_pixels(blurred, shuffle_sources(codes.transpose(0, 1), d)), sigma)
    assert torch.equal(corruptions.blur.glass_blur(x, severity, seeds), expected.clamp(0, 1))


def test_warp_reflect_is_map_coordinates(odd_photo):
    rng = np.random.default_rng(0)
    dy, dx = rng.uniform(-3, 3, (2, 97, 131))
    rows, cols = np.meshgrid(np.arange(97), np.arange(131), indexing="ij")
    expected = np.stack([map_coordinates(odd_photo[..., c], (rows + dy, cols + dx), order=1, mode="reflect")
                         for c in range(3)], axis=-1)
    got = warp_reflect(nchw(odd_photo).float(), torch.from_numpy(dy)[None].float(), torch.from_numpy(dx)[None].float())
    np.testing.assert_allclose(hwc(got), expected, atol=1e-4)


@pytest.mark.parametrize("name", [n for n in DETERMINISTIC if n in SUBSETS["all"]])
def test_deterministic_corruptions_match_reference_by_psnr(name):
    """PSNR >= 35 dB against imagecorruptions at every severity, on a 224 and an odd-size photograph;
    pixelate is bit-exact (Pillow's BOX and NEAREST reproduced)."""
    for images in (load_photographs(224, names=("coffee",)), load_photographs((97, 131), names=("rocket",))):
        for severity in SEVERITIES:
            ours = corruptions.corrupt(images, name, severity)
            theirs = corruptions.corrupt(images, name, severity, backend="reference")
            assert psnr(ours, theirs) >= 35, (name, tuple(images.shape), severity)
            if name == "pixelate":
                assert torch.equal(ours, theirs)


@pytest.mark.parametrize("name", RANDOM_HERE)
def test_random_corruptions_match_reference_in_distribution(name):
    """Over 8 seeds, the mean |corrupted - clean| is within 10% of the reference's at every severity."""
    images = load_photographs(96, names=("astronaut", "chelsea"))
    for severity in SEVERITIES:
        ours, theirs = (np.mean([mean_abs_difference(corruptions.corrupt(
            images, name, severity, generator=torch.Generator().manual_seed(seed), backend=backend), images)
            for seed in range(8)]) for backend in ("torch", "reference"))
        assert ours == pytest.approx(theirs, rel=0.10), (name, severity)


def test_reference_module_is_the_imaug_fork():
    assert "seed" in imagecorruptions.corruptions.glass_blur.__code__.co_varnames
