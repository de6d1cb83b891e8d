"""`severity_scaling="area"` for model-vs-human's low- and high-pass (subset freq): their sigmas are pixels of 224
px images, so at 448 px under area scaling a sigma acts as twice as wide. Checked against the closed-form gain of a
Gaussian filter on a cosine grating, `exp(-2 pi^2 sigma^2 f^2)` (low-pass) and one minus it (high-pass)."""

import math

import pytest
import torch

from corruptions.freq_filters import LEVELS
from corruptions.registry import resolve_corruption
from robustbench_lift.suites.scaling import corrupt_scaled

SIDE, REFERENCE = 448, 224


def grating_gain(name: str, severity: int, period: int, scaling: str) -> float:
    """Amplitude out / in of a grey cosine grating of `period` px across a `SIDE` px image, in its central half
    (away from the filters' grey padding)."""
    cols = torch.arange(SIDE, dtype=torch.float64)
    wave = torch.cos(2 * math.pi * cols / period)
    image = (0.5 + 0.3 * wave).expand(1, 3, SIDE, SIDE)
    images = (image * 255).round().to(torch.uint8)
    out = corrupt_scaled(images, [0], resolve_corruption(name, severity), seed=0, scaling=scaling)
    centre = slice(SIDE // 4, 3 * SIDE // 4)
    grey = out[0, 0, centre, centre].double() / 255
    grey = grey - grey.mean()
    return float((grey * wave[centre]).mean() / (wave[centre] ** 2).mean() / 0.3)  # least-squares amplitude


def gaussian_gain(sigma: float, period: int) -> float:
    return math.exp(-2 * math.pi ** 2 * sigma ** 2 / period ** 2)


@pytest.mark.parametrize("name, severity, period", [("low_pass", 4, 64), ("high_pass", 2, 32)])
def test_area_scaling_widens_the_sigma_with_the_image(name, severity, period):
    sigma = LEVELS[name][severity - 1]
    for scaling, width in (("none", sigma), ("area", sigma * SIDE / REFERENCE)):
        gain = gaussian_gain(width, period)
        expected = gain if name == "low_pass" else 1 - gain
        assert grating_gain(name, severity, period, scaling) == pytest.approx(expected, abs=0.03), scaling
