"""model-vs-human's frequency and contrast manipulations (subset `freq`) against the published operations of
`code/image_manipulation.py` (rgeirhos/generalisation-humans-DNNs): the grey conversion against skimage's
rgb2gray, the Gaussian filters against scipy.ndimage.gaussian_filter itself, phase scrambling against a NumPy
transcription given the same draws, the rest against their formulas on hand cases; level indices as severities."""

import math

import numpy as np
import pytest
import torch
from photos import load_photographs
from scipy import fftpack, ndimage
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from skimage.color import rgb2gray

import corruptions
from corruptions import freq_filters as ff
from corruptions.names import severities_of
from robustbench_lift.errors import UsageError
from robustbench_lift.suites.corruption import CorruptionSuite
from robustbench_lift.suites.options import CorruptionOptions

NAMES = ["low_pass", "high_pass", "phase_noise", "uniform_noise", "grey_contrast"]
BG_GREY = 0.4423  # image_manipulation.py's bg_grey


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    return load_photographs(48).double() / 255


def _grey_np(photos: torch.Tensor) -> np.ndarray:
    return np.stack([rgb2gray(p.permute(1, 2, 0).numpy()) for p in photos])


def test_names_levels_and_subset():
    assert corruptions.get_corruption_names("freq") == NAMES
    assert not set(NAMES) & set(corruptions.get_corruption_names("all"))
    assert severities_of("low_pass") == tuple(range(1, 9)) and severities_of("phase_noise") == tuple(range(1, 8))
    assert severities_of("fog") == (1, 2, 3, 4, 5)
    # model-vs-human's experiments.py conditions
    assert ff.LEVELS["high_pass"][1:] == (3, 1.5, 1, 0.7, 0.55, 0.45, 0.4)
    assert ff.LEVELS["phase_noise"] == (0, 30, 60, 90, 120, 150, 180)


def test_severity_is_the_level_index():
    image = torch.full((1, 3, 32, 32), 100, dtype=torch.uint8)
    assert corruptions.corrupt(image, "low_pass", 8, [0]).shape == image.shape
    with pytest.raises(UsageError, match="from 1 to 7 for phase_noise"):
        corruptions.corrupt(image, "phase_noise", 8, [0])
    with pytest.raises(UsageError, match="from 1 to 5 for fog"):
        corruptions.corrupt(image, "fog", 6, [0])


def test_grey_is_skimage_rgb2gray(photos):
    ours = ff.to_grey(photos)[:, 0].numpy()
    np.testing.assert_allclose(ours, _grey_np(photos), atol=1e-12)


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 8])
def test_low_pass_is_scipy_gaussian_filter(photos, severity):
    sigma = ff.LEVELS["low_pass"][severity - 1]
    expected = [np.clip(ndimage.gaussian_filter(g, sigma, mode="constant", cval=BG_GREY), 0, 1)
                for g in _grey_np(photos)]
    out = ff.low_pass(photos, severity)
    assert torch.equal(out[:, 0], out[:, 2])
    np.testing.assert_allclose(out[:, 0].numpy(), np.stack(expected), atol=1e-9)


@pytest.mark.parametrize("severity", [2, 4, 8])
def test_high_pass_is_image_minus_low_pass_shifted_to_bg_grey(photos, severity):
    sigma = ff.LEVELS["high_pass"][severity - 1]
    expected = []
    for g in _grey_np(photos):
        high = g - ndimage.gaussian_filter(g, sigma, mode="constant", cval=BG_GREY)
        expected.append(np.clip(high + (BG_GREY - high.mean()), 0, 1))
    np.testing.assert_allclose(ff.high_pass(photos, severity)[:, 0].numpy(), np.stack(expected), atol=1e-9)


def test_filters_of_a_constant_image():
    """Low-pass keeps a constant away from the grey padding; high-pass of the padding grey is that grey; sigma
    inf (the unfiltered condition) shifts the grey image's mean to bg_grey."""
    x = torch.full((1, 3, 64, 64), 0.8, dtype=torch.float64)
    radius = int(4 * 3 + 0.5)
    inner = (slice(None), slice(None), slice(radius, -radius), slice(radius, -radius))
    torch.testing.assert_close(ff.low_pass(x, 3)[inner], torch.full_like(x[inner], 0.8))
    grey = torch.full_like(x, BG_GREY)
    torch.testing.assert_close(ff.high_pass(grey, 5), grey)
    ramp = torch.linspace(0, 1, 64, dtype=torch.float64).expand(1, 3, 64, 64)
    torch.testing.assert_close(ff.high_pass(ramp, 1), (ramp - 0.5 + BG_GREY).clamp(0, 1))


def _scramble_np(grey: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """image_manipulation.py's scramble_phases / shift_phases, transcribed, with the draws `shifts` given."""
    f = fftpack.fftshift(fftpack.fft2(grey))
    amp, phase = np.abs(f), np.angle(f)
    block = phase[1:, 1:].flatten()
    n = block.shape[0]
    block[:n // 2] += shifts
    block[n // 2 + 1:] -= shifts
    phase[1:, 1:] = block.reshape(phase[1:, 1:].shape)
    return np.clip(fftpack.ifft2(fftpack.ifftshift(amp * np.exp(1j * phase))).real, 0, 1)


@pytest.mark.parametrize("severity", [1, 4, 7])
def test_phase_noise_is_their_scrambling_with_our_draws(photos, severity):
    width = ff.LEVELS["phase_noise"][severity - 1]
    seeds = [5, 9]
    out = ff.phase_noise(photos[:2], severity, seeds)
    for i, grey in enumerate(_grey_np(photos[:2])):
        u = torch.rand((grey.size - sum(grey.shape) + 1) // 2, generator=torch.Generator().manual_seed(seeds[i]))
        shifts = (u.double().numpy() - 0.5) * 2 * width / 180 * math.pi
        np.testing.assert_allclose(out[i, 0].numpy(), _scramble_np(grey, shifts), atol=1e-9)
    if severity == 1:  # zero width: the grey image itself
        np.testing.assert_allclose(out[:, 0].numpy(), _grey_np(photos[:2]), atol=1e-12)


def test_phase_noise_takes_odd_sides():
    x = torch.rand(2, 3, 33, 35, generator=torch.Generator().manual_seed(0))
    assert ff.phase_noise(x, 4, [1, 2]).shape == x.shape
    torch.testing.assert_close(ff.phase_noise(x, 1, [1, 2])[:, :1], ff.to_grey(x))


def test_contrast_and_uniform_noise_formulas(photos):
    grey = ff.to_grey(photos)
    for severity, c in enumerate(ff.LEVELS["grey_contrast"], 1):
        torch.testing.assert_close(ff.grey_contrast(photos, severity)[:, :1], (1 - c) / 2 + c * grey)
    base = 0.35 + 0.3 * grey
    torch.testing.assert_close(ff.uniform_noise(photos, 1, [1, 2, 3, 4])[:, :1], base)
    width = ff.LEVELS["uniform_noise"][3]  # 0.1: 0.35 + 0.3 g +- 0.1 stays inside [0, 1]
    noise = ff.uniform_noise(photos, 4, [1, 2, 3, 4])
    assert torch.equal(noise[:, 0], noise[:, 1])
    residual = noise[:, :1] - base
    assert residual.abs().max() <= width
    # U[-w, w): mean 0, variance w^2 / 3; 5 standard errors over 9216 values
    n = residual.numel()
    assert abs(residual.mean().item()) < 5 * width / math.sqrt(3 * n)
    assert abs(residual.var().item() / (width**2 / 3) - 1) < 5 * math.sqrt(0.8 / n)


def test_selectable_like_the_others():
    suite = CorruptionSuite("demo", CorruptionOptions(corruptions="freq", preset="imagenet"))
    fingerprints = {cell: f for cell, f in suite.groups()[0].fingerprints.items() if cell[0] != "clean"}
    assert len(fingerprints) == 4 * 8 + 7 and ("phase_noise", 8) not in fingerprints and ("low_pass", 8) in fingerprints
    assert {f["backend"] for f in fingerprints.values()} == {"torch"}


def test_the_report_grid_leaves_levels_a_corruption_lacks_empty():
    from robustbench_lift.report.figures import corruption_grid

    image = torch.full((3, 32, 32), 100, dtype=torch.uint8)
    axes = corruption_grid(image, ["low_pass", "phase_noise"], [1, 8]).axes
    assert [ax.axison for ax in axes] == [True, True, True, True, True, False]


def test_rendered_tree_has_each_corruptions_levels_and_is_read_back(tmp_path):
    import numpy as np
    from PIL import Image

    from robustbench_lift.data.render import render_imagenet_c

    rng = np.random.default_rng(0)
    (tmp_path / "val" / "a").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "val" / "a" / "0.png")
    render_imagenet_c(tmp_path / "val", tmp_path / "tree", corruptions="phase_noise,grey_contrast", progress=False)
    assert sorted(p.name for p in (tmp_path / "tree" / "phase_noise").iterdir()) == list("1234567")
    assert len(list((tmp_path / "tree" / "grey_contrast").iterdir())) == 8
    suite = CorruptionSuite(tmp_path / "tree", CorruptionOptions(corruptions="phase_noise,grey_contrast"))
    cells = [cell for group in suite.groups() for cell in group.fingerprints]
    assert len(cells) == 15 and ("grey_contrast", 8) in cells and ("phase_noise", 8) not in cells
