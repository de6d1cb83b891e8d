"""Blur corruptions of ImageNet-C as batched torch functions: defocus_blur, glass_blur, motion_blur, zoom_blur
and the extra gaussian_blur.

Operations and per-severity constants follow imagecorruptions (imaug fork 1.1.5, `imagecorruptions/
corruptions.py`); `preset="cifar"` takes make_cifar_c.py's constants (`corruptions.presets`). Every function is
`fn(x, severity, seeds, *, preset) -> Tensor` (one seed per image) on float `(N, 3, H, W)` in [0, 1].

Differences from the reference:
- glass_blur resolves the reference's sequential pixel-shuffling loop for all pixels at once (`shuffle_sources`):
  the same operation, but fed by torch's random stream, so equal in distribution (checked in FIDELITY.md).
- motion_blur, like imagecorruptions, uses a NumPy kernel (shifted copies weighted by a half Gaussian) where the
  released ImageNet-C called ImageMagick's `MotionBlurImage`.
"""

import functools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from corruptions._ops import disk_kernel, filter2d, gaussian_blur2d, image_chunks, zoom_center
from corruptions._ops import motion_blur as _motion_blur
from corruptions._random import per_image_uniform, seed_generators

# Tables map a preset (`corruptions.presets`) to its five severities: imagecorruptions' constants, then
# make_cifar_c.py's.
# `defocus_blur`: (disk radius, alias blur sigma).
DEFOCUS = {"imagenet": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
           "cifar": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1))}
# `gaussian_blur`: sigma (skimage `gaussian`, truncate 4, border "nearest").
GAUSSIAN_SIGMA = {"imagenet": (1, 2, 3, 4, 6), "cifar": (0.4, 0.6, 0.7, 0.8, 1)}
# `glass_blur`: (sigma, max_delta, iterations).
GLASS = {"imagenet": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
         "cifar": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))}
# `motion_blur`: (radius, sigma); angle uniform in [-45, 45) degrees.
MOTION = {"imagenet": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
          "cifar": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5))}
MOTION_ANGLE_RANGE = (-45.0, 45.0)
# `zoom_blur`: zoom factors `np.arange(1, stop, step)` as (stop, step).
ZOOM_RANGES = {"imagenet": ((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03)),
               "cifar": ((1.06, 0.01), (1.11, 0.01), (1.16, 0.01), (1.21, 0.01), (1.26, 0.01))}

def defocus_blur(x: Tensor, severity: int, seeds: Sequence[int] = (), *,
                 preset: str = "imagenet") -> Tensor:
    """Correlation with an antialiased disk (`disk_kernel`), OpenCV reflect-101 border."""
    radius, alias_blur = DEFOCUS[preset][severity - 1]
    return filter2d(x, disk_kernel(radius, alias_blur)).clamp(0, 1)


def gaussian_blur(x: Tensor, severity: int, seeds: Sequence[int] = (), *,
                  preset: str = "imagenet") -> Tensor:
    """Gaussian filter with sigma from `GAUSSIAN_SIGMA` (skimage `gaussian`)."""
    return gaussian_blur2d(x, GAUSSIAN_SIGMA[preset][severity - 1]).clamp(0, 1)


def motion_blur(x: Tensor, severity: int, seeds: Sequence[int], *,
                preset: str = "imagenet") -> Tensor:
    """Motion blur along a random direction per image (`corruptions._ops.motion_blur`)."""
    radius, sigma = MOTION[preset][severity - 1]
    low, high = MOTION_ANGLE_RANGE
    angles = low + (high - low) * per_image_uniform(seed_generators(seeds, x.device), (), x.device)
    return _motion_blur(x, radius, sigma, angles).clamp_(0, 1)


def zoom_factors(severity: int, preset: str = "imagenet") -> list[float]:
    """The zooms of `zoom_blur`, exactly `np.arange(1, stop, step)`: length `ceil((stop - 1) / step)`, values
    `1 + k * delta` with NumPy's `delta = (1 + step) - 1` (not `step`: 1.25 is 1.2500000000000002 there, and a
    32 px crop of 26 then zooms to 33 rows rather than 32)."""
    stop, step = ZOOM_RANGES[preset][severity - 1]
    delta = (1 + step) - 1
    return [1 + k * delta for k in range(math.ceil((stop - 1) / step))]


def zoom_blur(x: Tensor, severity: int, seeds: Sequence[int] = (), *,
              preset: str = "imagenet") -> Tensor:
    """Mean of the image and its centre zooms by every factor of `zoom_factors` (`zoom_center`)."""
    factors = zoom_factors(severity, preset)
    out = x.clone()
    for part in image_chunks(x):
        for factor in factors:
            out[part] += zoom_center(x[part], factor)
    return (out / (len(factors) + 1)).clamp(0, 1)


@functools.lru_cache(maxsize=16)
def _pixel_layout(n: int, h: int, w: int, max_delta: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """bool `(N * H * W,)`: the pixels glass_blur's loop visits, `max_delta < row <= H - max_delta` (same for
    columns), and their flat positions int32 `(N * H * W,)`."""
    rows = torch.arange(h, device=device)
    cols = torch.arange(w, device=device)
    visited = (((rows > max_delta) & (rows <= h - max_delta))[:, None]
               & ((cols > max_delta) & (cols <= w - max_delta))[None, :]).reshape(-1).repeat(n)
    return visited, torch.arange(n * h * w, device=device, dtype=torch.int32)


def shuffle_sources(offsets: Tensor, max_delta: int) -> Tensor:
    """Where each pixel comes from after glass_blur's local pixel shuffling, exactly, for per-pixel offsets
    `(dy, dx)` in `[-max_delta, max_delta)^2` given flattened as `offsets = dy * W + dx`: int `(N, H, W)` for one
    pass, or `(P, N, H, W)` for `P` passes in turn. Returns int32 `(N * H * W,)` flat source indices into the
    batch.

    The reference (`_shuffle_pixels_njit_glass_blur`) visits every pixel `p` of `_pixel_layout` in reverse
    raster order and runs `x[p], x[q] = x[q], x[p]` with `q = p + (dy, dx)`. On NumPy/numba array views that is
    not a swap: `x[p]` receives `x[q]` and `x[q]` is left as it is. So in pass `k`, `out_k[p] = out_k[q]` if `q`
    was visited before `p` (visited and later in raster order), else `out_{k-1}[q]` (`out_{-1}` the input). That
    sequential loop is solved for all pixels and passes at once by pointer doubling on `(P + 1) M` nodes
    (`M = N H W`): node `(k, p)` (at `(k + 1) M + p`) links to `(k, q)` or `(k - 1, q)`, and the input's nodes
    `0..M-1` link to themselves; each round replaces every link by its target's link (halving the remaining
    chains) until every pixel of the last pass reaches the input.
    """
    if offsets.ndim == 3:
        offsets = offsets[None]
    passes, n, h, w = offsets.shape
    size = n * h * w
    visited, positions = _pixel_layout(n, h, w, max_delta, offsets.device)
    target = positions + offsets.reshape(passes, size).to(torch.int32) * visited
    # target > p only where p moved, so p was visited
    chained = (target > positions) & visited.index_select(0, target.view(-1)).view(passes, size)
    first = torch.arange(passes, device=offsets.device, dtype=torch.int32).view(passes, 1) * size
    links = torch.cat([positions, (target + first + chained.int() * size).view(-1)])
    spare = links.clone()  # rounds alternate between two buffers: no copy back
    while int(links[passes * size:].amax()) >= size:  # a max is ~10x cheaper than `.any()` on the CPU
        torch.index_select(links, 0, links[size:], out=spare[size:])
        links, spare = spare, links
    return links[passes * size:]


def gather_pixels(x: Tensor, sources: Tensor) -> Tensor:
    """`x` `(N, C, H, W)` with every pixel replaced by pixel `sources[p]` (flat index into the batch)."""
    n, c, h, w = x.shape
    return x.transpose(0, 1).reshape(c, -1).index_select(1, sources).view(c, n, h, w).transpose(0, 1)


def glass_blur(x: Tensor, severity: int, seeds: Sequence[int], *,
               preset: str = "imagenet") -> Tensor:
    """Gaussian blur, truncation to 8 bits, `iterations` passes of local pixel shuffling (`shuffle_sources`,
    `dy, dx` uniform in `[-max_delta, max_delta)`), Gaussian blur again."""
    sigma, max_delta, iterations = GLASS[preset][severity - 1]
    n, _, h, w = x.shape
    gens = seed_generators(seeds, x.device)
    out = torch.empty_like(x)
    for part in image_chunks(x):  # draws included: on the CPU a chunk's offsets stay in cache
        # One uniform per pixel and pass gives both offsets: dy = floor(2 d u), dx = floor(2 d frac(2 d u)).
        scaled = per_image_uniform(gens[part], (iterations, h, w), x.device) * 2 * max_delta
        dy = scaled.floor()
        dx = ((scaled - dy) * 2 * max_delta).floor()
        offsets = ((dy - max_delta) * w + dx - max_delta).int()
        sources = shuffle_sources(offsets.transpose(0, 1), max_delta)
        blurred = gaussian_blur2d(x[part], sigma).mul_(255).floor_().div_(255)
        out[part] = gaussian_blur2d(gather_pixels(blurred, sources), sigma)
    return out.clamp_(0, 1)
