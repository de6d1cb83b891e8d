"""Frequency-filtered and contrast manipulations of model-vs-human (Geirhos et al., NeurIPS 2018 and 2021) as
batched torch functions: low_pass, high_pass, phase_noise, uniform_noise and grey_contrast (corruption subset
`freq`).

Operations follow `code/image_manipulation.py` of rgeirhos/generalisation-humans-DNNs (the stimuli model-vs-human
ships pre-rendered), levels the `*_experiment` conditions of model-vs-human's `modelvshuman/datasets/experiments.py`
(docs/corruptions.md, "Frequency-filtered accuracy"). Every manipulation first turns the image grey (skimage
`rgb2gray` weights) and returns it as three equal channels. A severity is a level index: severity k is the k-th
level of `LEVELS`, so severity 1 is the unmanipulated (grey) condition. Every function is `fn(x, severity, seeds,
*, preset) -> Tensor` on float `(N, 3, H, W)` in [0, 1]; the two random ones draw from one generator per image.
Sigmas are in pixels, as published for 224 px images.
"""

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from corruptions._random import per_image_uniform, seed_generators

LEVELS: dict[str, tuple[float, ...]] = {
    "low_pass": (0, 1, 3, 5, 7, 10, 15, 40),  # Gaussian sigma, px
    "high_pass": (math.inf, 3, 1.5, 1, 0.7, 0.55, 0.45, 0.4),  # sigma of the subtracted low-pass, px
    "phase_noise": (0, 30, 60, 90, 120, 150, 180),  # width w of the uniform phase shifts in [-w, w], degrees
    "uniform_noise": (0.0, 0.03, 0.05, 0.1, 0.2, 0.35, 0.6, 0.9),  # width w of the noise U[-w, w)
    "grey_contrast": (1.0, 0.5, 0.3, 0.15, 0.1, 0.05, 0.03, 0.01),  # contrast level c
}
"""Corruption -> its published levels, in model-vs-human's condition order (severity k = level k - 1)."""
GREY_WEIGHTS = (0.2125, 0.7154, 0.0721)
"""skimage.color.rgb2gray's luminance weights (R, G, B)."""
BACKGROUND_GREY = 0.4423
"""`bg_grey` of image_manipulation.py: mean pixel value over all their images, the filters' padding value and
the mean a high-passed image is shifted to."""
GAUSS_TRUNCATE = 4.0
"""scipy.ndimage.gaussian_filter's default `truncate`: kernel radius `int(4 sigma + 0.5)`."""
NOISE_CONTRAST = 0.3
"""Contrast the uniform-noise stimuli are reduced to before the noise (their noise experiment, 30 %)."""


def to_grey(x: Tensor) -> Tensor:
    """`(N, 3, H, W)` -> `(N, 1, H, W)`: `0.2125 R + 0.7154 G + 0.0721 B` (skimage rgb2gray)."""
    weights = torch.tensor(GREY_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def _rgb(grey: Tensor) -> Tensor:
    return grey.clamp(0, 1).expand(-1, 3, -1, -1)


def gaussian_blur_constant(grey: Tensor, sigma: float, cval: float = BACKGROUND_GREY) -> Tensor:
    """`(N, 1, H, W)` filtered like `scipy.ndimage.gaussian_filter(img, sigma, mode="constant", cval=cval)`:
    separable normalised Gaussian of radius `int(4 sigma + 0.5)`, outside pixels `cval`; sigma 0 is the identity."""
    if sigma == 0:
        return grey
    radius = int(GAUSS_TRUNCATE * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64, device=grey.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(grey.dtype)
    out = F.pad(grey, (radius, radius, radius, radius), value=cval)
    out = F.conv2d(out, kernel.view(1, 1, 1, -1))
    return F.conv2d(out, kernel.view(1, 1, -1, 1))


def low_pass(x: Tensor, severity: int, seeds: Sequence[int] = (), *, preset: str = "imagenet") -> Tensor:
    """`clip(G_sigma * grey(x))` with grey padding (`gaussian_blur_constant`). Deterministic."""
    return _rgb(gaussian_blur_constant(to_grey(x), LEVELS["low_pass"][severity - 1]))


def high_pass(x: Tensor, severity: int, seeds: Sequence[int] = (), *, preset: str = "imagenet") -> Tensor:
    """`clip(h - mean(h) + 0.4423)`, `h = grey(x) - G_sigma * grey(x)`. sigma inf (severity 1) is the limit, where
    the low-pass is the constant padding grey: `grey(x) - mean(grey(x)) + 0.4423`. Deterministic."""
    grey = to_grey(x)
    sigma = LEVELS["high_pass"][severity - 1]
    high = grey if math.isinf(sigma) else grey - gaussian_blur_constant(grey, sigma)
    return _rgb(high - high.mean(dim=(2, 3), keepdim=True) + BACKGROUND_GREY)


def grey_contrast(x: Tensor, severity: int, seeds: Sequence[int] = (), *, preset: str = "imagenet") -> Tensor:
    """`(1 - c) / 2 + c * grey(x)`, c from `LEVELS["grey_contrast"]` (their `grayscale_contrast`). Deterministic."""
    contrast = LEVELS["grey_contrast"][severity - 1]
    return _rgb((1 - contrast) / 2 + contrast * to_grey(x))


def uniform_noise(x: Tensor, severity: int, seeds: Sequence[int], *, preset: str = "imagenet") -> Tensor:
    """`clip(0.35 + 0.3 grey(x) + U[-w, w))`: contrast 30 %, then one noise value per pixel (all three channels
    equal), w from `LEVELS["uniform_noise"]`."""
    width = LEVELS["uniform_noise"][severity - 1]
    grey = (1 - NOISE_CONTRAST) / 2 + NOISE_CONTRAST * to_grey(x)
    u = per_image_uniform(seed_generators(seeds, x.device), grey.shape[1:], x.device).to(x.dtype)
    return _rgb(grey + (2 * u - 1) * width)


def phase_noise(x: Tensor, severity: int, seeds: Sequence[int], *, preset: str = "imagenet") -> Tensor:
    """Phase scrambling: the grey image's centred spectrum `S = fftshift(fft2(grey))` keeps its amplitudes while
    the block `S[1:, 1:]` (flattened, L values) has phases shifted by `+s_i` at flat index i < L // 2 and `-s_j` at
    index L // 2 + 1 + j, `s ~ U[-w, w)` degrees per image; the result is the real part of the inverse transform.

    For even sides the block is point-symmetric around DC (flat index L // 2), which stays unshifted; as in their
    `shift_phases`, index i and its conjugate partner get independent draws, the real part pairing them. Odd sides
    (for which their code fails) use the same rule, the last index of the second half left unshifted.
    """
    width = LEVELS["phase_noise"][severity - 1]
    grey = to_grey(x)[:, 0].to(torch.float64)
    n, height, cols = grey.shape
    length = (height - 1) * (cols - 1)
    half = length // 2
    u = per_image_uniform(seed_generators(seeds, x.device), (half,), x.device).to(torch.float64)
    shifts = (u - 0.5) * (2 * width / 180 * math.pi)
    field = torch.zeros(n, length, dtype=torch.float64, device=x.device)
    field[:, :half] = shifts
    field[:, half + 1:] = -shifts[:, :length - half - 1]
    phase = torch.zeros(n, height, cols, dtype=torch.float64, device=x.device)
    phase[:, 1:, 1:] = field.view(n, height - 1, cols - 1)
    spectrum = torch.fft.fftshift(torch.fft.fft2(grey), dim=(-2, -1)) * torch.polar(torch.ones_like(phase), phase)
    out = torch.fft.ifft2(torch.fft.ifftshift(spectrum, dim=(-2, -1))).real
    return _rgb(out[:, None].to(x.dtype))
