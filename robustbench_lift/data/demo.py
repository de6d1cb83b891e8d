"""The built-in demo data set: ten classes of shapes, generated procedurally and deterministically.

Every image is drawn from its own seed, so the data set needs no files, is identical on every machine and
device, and any image can be regenerated alone. Each image shows one shape (the class) at a random position,
scale and rotation, in a random colour, over a textured background (oriented stripes of two random colours
plus pixel noise), rendered at 2x and box-filtered down for anti-aliased edges. Classes are balanced exactly.

    >>> from robustbench_lift.data.demo import demo_dataset
    >>> images, labels = demo_dataset("test", size=32)
    >>> images.shape, images.dtype, labels.shape, labels.dtype
    (torch.Size([2000, 3, 32, 32]), torch.uint8, torch.Size([2000]), torch.int64)
"""

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from robustbench_lift.data.cifar import PRESET as CIFAR_PRESET
from robustbench_lift.errors import UsageError

CLASSES = ("circle", "ring", "square", "frame", "triangle", "plus", "star", "ellipse", "crescent", "two_dots")
SPLITS = {"train": (10_000, 0), "test": (2_000, 1)}
"""split -> (number of images, split index mixed into every image's seed so the splits never overlap)."""
DEFAULT_SEED = 0
MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)
"""Input normalisation of the demo models (the data is roughly centred on mid-grey)."""
PRESET = CIFAR_PRESET
"""The demo images' protocol: 32 px like CIFAR's, so CIFAR-10-C's severity constants (`suites.protocol`)."""


def _inside(shape: Tensor, u: Tensor, v: Tensor) -> Tensor:
    """Boolean masks `(N, S, S)` of each image's shape in its own rotated unit coordinates `u`, `v`."""
    r = torch.sqrt(u ** 2 + v ** 2)
    phi = torch.atan2(v, u)
    box = torch.maximum(u.abs(), v.abs())
    corners = (math.pi / 2, 7 * math.pi / 6, 11 * math.pi / 6)
    triangle = torch.stack([u * math.cos(a) + v * math.sin(a) for a in corners])
    masks = torch.stack([
        r <= 1.0,
        (r >= 0.55) & (r <= 1.0),
        box <= 0.8,
        (box >= 0.45) & (box <= 0.85),
        (triangle <= 0.5).all(0),
        ((u.abs() <= 0.3) & (v.abs() <= 1.0)) | ((v.abs() <= 0.3) & (u.abs() <= 1.0)),
        r <= 0.4 + 0.6 * ((1 + torch.cos(5 * phi)) / 2) ** 2,
        u ** 2 + (v / 0.45) ** 2 <= 1.0,
        (r <= 1.0) & ((u - 0.45) ** 2 + v ** 2 > 0.8 ** 2),
        ((u - 0.55) ** 2 + v ** 2 <= 0.42 ** 2) | ((u + 0.55) ** 2 + v ** 2 <= 0.42 ** 2),
    ])
    return masks.gather(0, shape.view(1, -1, 1, 1).expand(1, *u.shape)).squeeze(0)


def _shape_coverage(params: Tensor, labels: Tensor, size: int) -> tuple[Tensor, Tensor, Tensor]:
    """The shape of each image on the 2x canvas: float mask `(N, 1, 2 size, 2 size)` and the canvas grid `y`, `x`."""
    canvas = 2 * size
    grid = (torch.arange(canvas, dtype=torch.float32) + 0.5) / canvas * 2 - 1  # pixel centres in [-1, 1]
    y, x = grid.view(1, -1, 1), grid.view(1, 1, -1)
    centre_x, centre_y = (params[:, 0] - 0.5) * 0.8, (params[:, 1] - 0.5) * 0.8
    scale = 0.3 + 0.25 * params[:, 2]
    angle = params[:, 3] * 2 * math.pi
    cos, sin = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    dx, dy = x - centre_x.view(-1, 1, 1), y - centre_y.view(-1, 1, 1)
    u, v = (cos * dx + sin * dy) / scale.view(-1, 1, 1), (-sin * dx + cos * dy) / scale.view(-1, 1, 1)
    return _inside(labels, u, v).unsqueeze(1).float(), y, x


def render_shapes(seeds: Tensor, labels: Tensor, size: int = 32) -> Tensor:
    """Draw one image per `(seed, label)`: uint8 `(N, 3, size, size)`; depends on nothing but its arguments."""
    if size < 16:
        raise UsageError(f"demo images need size >= 16, got {size}")
    generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    params = torch.stack([torch.rand(18, generator=g) for g in generators])
    noise = torch.stack([torch.randn(3, size, size, generator=g) for g in generators])
    mask, y, x = _shape_coverage(params, labels, size)
    background_a, background_b, foreground = (params[:, k:k + 3].view(-1, 3, 1, 1) for k in (9, 12, 15))
    stripe_angle = params[:, 4] * math.pi
    frequency = 2 + 10 * params[:, 5]
    stripes = torch.sin(frequency.view(-1, 1, 1) * math.pi * (x * torch.cos(stripe_angle).view(-1, 1, 1)
                        + y * torch.sin(stripe_angle).view(-1, 1, 1)) + 2 * math.pi * params[:, 6].view(-1, 1, 1))
    texture = (0.5 + 0.5 * stripes).unsqueeze(1) * (0.3 + 0.7 * params[:, 7].view(-1, 1, 1, 1))
    background = background_a + (background_b - background_a) * texture
    # Keep the shape visible: push its colour away from the background's mean luminance.
    luminance = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    too_close = ((foreground - background.mean((2, 3), keepdim=True)) * luminance).sum(1, keepdim=True).abs() < 0.25
    foreground = torch.where(too_close, 1 - foreground, foreground)
    image = background * (1 - mask) + foreground * mask
    image = F.avg_pool2d(image, 2)
    noise = noise * (0.02 + 0.04 * params[:, 8].view(-1, 1, 1, 1))
    return ((image + noise).clamp(0, 1) * 255).round().to(torch.uint8)


def render_masks(seeds: Tensor, labels: Tensor, size: int = 32) -> Tensor:
    """The segmentation masks of `render_shapes(seeds, labels, size)`: uint8 `(N, size, size)`, `label + 1` where
    the shape covers at least half of the pixel (2 of its 4 canvas sub-pixels), 0 (background) elsewhere."""
    params = torch.stack([torch.rand(18, generator=torch.Generator().manual_seed(int(s))) for s in seeds])
    coverage = F.avg_pool2d(_shape_coverage(params, labels, size)[0], 2)[:, 0]
    return torch.where(coverage >= 0.5, labels.view(-1, 1, 1) + 1, 0).to(torch.uint8)


def demo_dataset(split: str = "test", size: int = 32, seed: int = DEFAULT_SEED, limit: int | None = None,
                 ) -> tuple[Tensor, Tensor]:
    """The demo split as uint8 images `(N, 3, size, size)` and int64 labels `(N,)` in 0..9 (`CLASSES`).

    Classes are balanced over the whole split (label `i % 10` before a seeded shuffle); `limit` keeps the first
    `limit` images of the split (a prefix: not balanced in general). Image `i` of a split is drawn from the seed
    `(seed, split, i)`. The last few splits generated are cached (the caller gets its own copy).
    """
    if split not in SPLITS:
        raise UsageError(f"unknown demo split {split!r}: expected one of {sorted(SPLITS)}")
    count = SPLITS[split][0] if limit is None else min(SPLITS[split][0], limit)
    images, labels = _generate(split, size, seed, count)
    return images.clone(), labels.clone()


def demo_segmentation(split: str = "test", size: int = 32, seed: int = DEFAULT_SEED, limit: int | None = None,
                      ) -> tuple[Tensor, Tensor]:
    """The demo split for segmentation: the images of `demo_dataset` and their masks uint8 `(N, size, size)`
    (`render_masks`: 0 background, 1 + class index on the shape; `len(CLASSES) + 1` classes)."""
    images, labels = demo_dataset(split, size, seed, limit)
    seeds = _split_draws(split, seed, len(labels))[0]
    masks = torch.cat([render_masks(seeds[i:i + 500], labels[i:i + 500], size) for i in range(0, len(labels), 500)])
    return images, masks


def _split_draws(split: str, seed: int, count: int) -> tuple[Tensor, Tensor]:
    """Seeds and labels of the first `count` images of a split."""
    split_index = SPLITS[split][1]
    order = torch.randperm(SPLITS[split][0], generator=torch.Generator().manual_seed(seed * 7919 + split_index))
    labels = (order[:count] % len(CLASSES)).long()
    return (seed * len(SPLITS) + split_index) * 10_000_000 + torch.arange(count), labels


@functools.lru_cache(maxsize=4)
def _generate(split: str, size: int, seed: int, count: int) -> tuple[Tensor, Tensor]:
    seeds, labels = _split_draws(split, seed, count)
    images = torch.cat([render_shapes(seeds[i:i + 500], labels[i:i + 500], size) for i in range(0, count, 500)])
    return images, labels
