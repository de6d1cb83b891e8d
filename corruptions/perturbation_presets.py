"""Per-frame constants of the perturbation sequences: `"imagenet"` (ImageNet-P) and `"cifar"` (CIFAR-10-P).

Sources: hendrycks/robustness `ImageNet-P/create_p/make_imagenet_p.py` (Resize(256), perturb, CenterCrop(224))
and `make_cifar_p.py` (the whole 32 x 32 test image). Frame `i` runs over `0..T-1`; the noises' frame 0 is the
clean image and their three levels are the difficulties 1-3 (the release folders `name`, `name_2`, `name_3`).
"""

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

Formula = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class SnowLayer:
    """Snow: layer N(loc, scale) zoomed by `zoom` about the centre, zero below `threshold`, motion-blurred
    (`radius`, `sigma`) at frame i's angle, blended with image weight `mix`."""

    loc: float
    scale: float
    zoom: float
    threshold: float
    radius: int
    sigma: float
    mix: float


@dataclass(frozen=True)
class SpatterLayer:
    """Spatter: liquid N(loc, scale) blurred (Gaussian `sigma`), zero below `threshold`, water drops of
    `intensity`; after each frame the liquid flows down: `np.convolve(column, flow, "same")`."""

    loc: float
    scale: float
    sigma: float
    threshold: float
    intensity: float
    flow: tuple[float, ...]


@dataclass(frozen=True)
class PerturbationPreset:
    """The constants of one generator script."""

    lengths: dict[str, int]
    """Frames of the sequences that do not have `DEFAULT_LENGTH`."""
    frames: dict[str, Formula]
    """Frame i's parameter (float64 `i` in, same shape out): degrees (motion_blur, snow's blur, rotate, tilt,
    shear), zoom (zoom_blur), scale, HSV value shift (brightness), pixels to the right (translate), sigma
    (gaussian_blur)."""
    noise: dict[str, tuple[float, float, float]]
    """Difficulty 1-3: Gaussian sigma, Poisson rate, speckle sigma."""
    motion_blur: tuple[int, float]
    """(radius, sigma) of ImageMagick's motion blur."""
    snow: SnowLayer
    blur_truncate: float
    """`truncate` of skimage's Gaussian filter (gaussian_blur)."""
    spatter: SpatterLayer
    min_scale: float
    """The smallest zoom of any frame (scale's first): how far outside the crop frames reach."""


DEFAULT_LENGTH = 31
IMAGENET = PerturbationPreset(
    lengths={"translate": 41},
    frames={"motion_blur": lambda i: (i - 30) * 4, "zoom_blur": lambda i: 1 + 0.004 * i,
            "snow": lambda i: i * 4 - 150, "brightness": lambda i: (i - 15) * 2 / 100, "translate": lambda i: i - 20,
            "rotate": lambda i: i - 15, "tilt": lambda i: i - 15, "scale": lambda i: (i * 2.5 + 40) / 100,
            "gaussian_blur": lambda i: 0.25 + 0.035 * i, "shear": lambda i: i - 15},
    noise={"gaussian_noise": (0.03, 0.05, 0.08), "shot_noise": (300, 120, 60), "speckle_noise": (0.05, 0.10, 0.15)},
    motion_blur=(10, 3.0),
    snow=SnowLayer(loc=0.05, scale=0.3, zoom=3, threshold=0.5, radius=14, sigma=4.0, mix=0.85),
    blur_truncate=6.0,
    spatter=SpatterLayer(loc=0.65, scale=0.27, sigma=3.7, threshold=0.69, intensity=0.6, flow=(0.05, 0.1, 0.15, 0.7)),
    min_scale=0.4,
)
CIFAR = PerturbationPreset(
    lengths={"translate": 16, "motion_blur": 21},
    frames={"motion_blur": lambda i: (i - 20) * 9, "zoom_blur": lambda i: 1 + 0.004 * i,
            "snow": lambda i: i * 4 - 150, "brightness": lambda i: (i - 15) * 1.5 / 100, "translate": lambda i: i - 7,
            "rotate": lambda i: i - 15, "tilt": lambda i: 0.75 * (i - 15), "scale": lambda i: (i * 2 + 70) / 100,
            "gaussian_blur": lambda i: 0.3 + 0.015 * i, "shear": lambda i: i - 15},
    noise={"gaussian_noise": (0.02, 0.04, 0.06), "shot_noise": (700, 400, 200), "speckle_noise": (0.05, 0.07, 0.10)},
    motion_blur=(6, 1.8),
    snow=SnowLayer(loc=0.05, scale=0.3, zoom=2, threshold=0.5, radius=10, sigma=2.0, mix=0.85),
    blur_truncate=7.0,
    spatter=SpatterLayer(loc=0.6, scale=0.265, sigma=1.75, threshold=0.7, intensity=0.6, flow=(0.2, 0.8)),
    min_scale=0.7,
)
PERTURBATION_PRESETS = {"imagenet": IMAGENET, "cifar": CIFAR}
