"""Blur corruptions of ImageNet-C as batched torch functions: defocus_blur, glass_blur, motion_blur, zoom_blur
and the extra gaussian_blur.

Operations and per-severity constants follow imagecorruptions (imaug fork 1.1.5, `imagecorruptions/
corruptions.py`); `preset="cifar"` takes make_cifar_c.py's constants (`corruptions.presets`). Every function is
`fn(x, severity, seeds, *, preset) -> Tensor` (one seed per image) on float `(N, 3, H, W)` in [0, 1].

Differences from the reference:
- glass_blur's sequential pixel-shuffling loop is fed by torch's random stream, so equal in distribution (checked
  in FIDELITY.md). On the CPU it runs as the reference's loop, compiled (`corruptions._glass_cpu`); elsewhere it is
  solved for all pixels at once (`shuffle_sources`); both give the same images bit for bit.
- motion_blur, like imagecorruptions, uses a NumPy kernel (shifted copies weighted by a half Gaussian) where the
  released ImageNet-C called ImageMagick's `MotionBlurImage`.
"""

import functools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from corruptions._ops import (
    border_index,
    correlate_padded,
    disk_kernel,
    filter2d,
    gaussian_blur2d,
    gaussian_weights,
    image_chunks,
    zoom_center,
)
from corruptions._ops import motion_blur as _motion_blur
from corruptions._random import per_image_uniform, per_image_uniform_bits, seed_generators

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


def shuffle_codes(gens: list[torch.Generator], shape: tuple[int, ...], max_delta: int,
                  device: torch.device) -> Tensor:
    """glass_blur's pixel offsets `(dy, dx)` in `[-d, d)^2` (`d = max_delta`) as codes `(dy + d) 2d + dx + d`,
    int32 `(N, *shape)`, row `i` from `gens[i]`: one uniform `u` per pixel and pass gives both offsets,
    `dy + d = floor(2d u)`, `dx + d = floor(2d frac(2d u))`, in float32 (`u` from `per_image_uniform`)."""
    span = 2 * max_delta
    if device.type == "cpu" and span & (span - 1) == 0:
        # CPU uniforms are 24-bit fractions: for 2d = 2**m the float32 products are exact and the code is u's top
        # 2m bits, drawn as such
        return per_image_uniform_bits(gens, shape, 2 * (span.bit_length() - 1))
    scaled = per_image_uniform(gens, shape, device).mul_(span)  # = (u * 2) * d in float32: u * 2 is exact
    dy = scaled.floor()
    return dy.mul(span).add_(scaled.sub_(dy).mul_(span).floor_()).int()


@functools.lru_cache(maxsize=16)
def _shuffle_tables(h: int, w: int, max_delta: int, passes: int, size: int,
                    device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """The links of `shuffle_sources` as lookups, for `passes` over images `h x w` in a batch of `size` pixels.

    A pixel's link depends on its pass, its code and its class: 0 if the loop skips it, else its distances to the
    bottom, left and right edges of the visited rectangle `max_delta < row <= h - max_delta` (same for columns),
    capped at `d = max_delta` (which decide whether a forward target was visited). Returns int32 offsets
    `(passes, 1, h, w)` to add to the codes (pass and class), the int32 table they index (for pass `k`:
    `k size + dy w + dx`, plus `size` if the target is visited later in the loop; `k size` for a skipped pixel)
    and the int32 pixel positions `0 .. size - 1`.
    """
    d, span = max_delta, 2 * max_delta
    rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
    visited = ((rows > d) & (rows <= h - d))[:, None] & ((cols > d) & (cols <= w - d))[None, :]
    below, left, right = (h - d - rows).clamp(0, d)[:, None], (cols - d - 1).clamp(0, d), (w - d - cols).clamp(0, d)
    classes = torch.where(visited, 1 + (below * (d + 1) + left) * (d + 1) + right, 0)
    caps = torch.arange(d + 1, device=device)
    below, left, right = (t.reshape(-1, 1) for t in torch.meshgrid(caps, caps, caps, indexing="ij"))
    codes = torch.arange(span * span, device=device)
    dy, dx = codes.div(span, rounding_mode="floor") - d, codes.remainder(span) - d
    forward = (dy > 0) | ((dy == 0) & (dx > 0))
    chained = forward & (dy <= below) & (dx >= -left) & (dx <= right)
    deltas = torch.cat([torch.zeros_like(dy), (dy * w + dx + size * chained).reshape(-1)])
    first = torch.arange(passes, device=device)
    offsets = classes * span * span + (first * deltas.numel())[:, None, None, None]
    table = (deltas + first[:, None] * size).reshape(-1)
    return offsets.int(), table.int(), torch.arange(size, dtype=torch.int32, device=device)


@functools.lru_cache(maxsize=16)
def _edge_map(h: int, w: int, radius: int, device: torch.device) -> Tensor:
    """int64 `((h + 2 radius) (w + 2 radius),)`: the pixel (flat index into `h w`) each position of the
    edge-padded ("nearest") image takes."""
    rows = border_index(torch.arange(-radius, h + radius, device=device), h, "nearest")
    cols = border_index(torch.arange(-radius, w + radius, device=device), w, "nearest")
    return (rows[:, None] * w + cols).reshape(-1)


def shuffle_sources(codes: Tensor, max_delta: int) -> Tensor:
    """Where each pixel comes from after glass_blur's local pixel shuffling, exactly, for per-pixel offsets
    `(dy, dx)` in `[-max_delta, max_delta)^2` given as `shuffle_codes`: int `(N, H, W)` for one pass, or
    `(P, N, H, W)` for `P` passes in turn. Returns int32 `(N, H, W)` flat source indices into the batch.

    The reference (`_shuffle_pixels_njit_glass_blur`) visits every pixel `p` with `max_delta < row <= H -
    max_delta` (same for columns) in reverse raster order and runs `x[p], x[q] = x[q], x[p]` with
    `q = p + (dy, dx)`. On NumPy/numba array views that is not a swap: `x[p]` receives `x[q]` and `x[q]` is left
    as it is. So in pass `k`, `out_k[p] = out_k[q]` if `q` was visited before `p` (visited and later in raster
    order), else `out_{k-1}[q]` (`out_{-1}` the input). That sequential loop is solved for all pixels and passes
    at once by pointer doubling on `(P + 1) M` nodes (`M = N H W`): node `(k, p)` (at `(k + 1) M + p`) links to
    `(k, q)` or `(k - 1, q)` (looked up by pass, class and code, `_shuffle_tables`), and the input's nodes `0..M-1`
    link to themselves; each round replaces every link by its target's link (halving the remaining chains)
    until every pixel of the last pass reaches the input.
    """
    if codes.ndim == 3:
        codes = codes[None]
    passes, n, h, w = codes.shape
    size = n * h * w
    offsets, table, positions = _shuffle_tables(h, w, max_delta, passes, size, codes.device)
    index = torch.add(codes, offsets, out=torch.empty(codes.shape, dtype=torch.int32, device=codes.device))
    # rounds alternate between two buffers (no copy back), their views made once (slicing costs a dispatch)
    buffers = torch.empty((2, (passes + 1) * size), dtype=torch.int32, device=codes.device)
    buffers[:, :size] = positions
    links = buffers.unbind(0)
    lasts, earliers = [b[passes * size:] for b in links], [b[size:passes * size] for b in links]
    torch.index_select(table, 0, index.view(-1), out=links[0][size:]).view(passes, size).add_(positions)
    # A max is ~10x cheaper than `.any()` on the CPU. Each round doubles the last pass first: the earlier passes
    # only matter for the rounds after it.
    now, done = 0, int(lasts[0].amax()) < size
    while not done:
        torch.index_select(links[now], 0, lasts[now], out=lasts[1 - now])
        done = int(lasts[1 - now].amax()) < size
        if not done:
            torch.index_select(links[now], 0, earliers[now], out=earliers[1 - now])
        now = 1 - now
    return lasts[now].view(n, h, w)


def gather_pixels(x: Tensor, sources: Tensor) -> Tensor:
    """`(N', C, H', W')`: pixel `sources[i, y, x]` (a flat index into the `N H W` pixels of `x` `(N, C, H, W)`)
    at every position of `sources` `(N', H', W')`."""
    c = x.shape[1]
    picked = x.transpose(0, 1).reshape(c, -1).index_select(1, sources.reshape(-1))
    return picked.view(c, *sources.shape).transpose(0, 1)


def glass_blur(x: Tensor, severity: int, seeds: Sequence[int], *,
               preset: str = "imagenet") -> Tensor:
    """Gaussian blur, truncation to 8 bits, `iterations` passes of local pixel shuffling (`shuffle_sources`,
    `dy, dx` uniform in `[-max_delta, max_delta)`), Gaussian blur again. float32 on the CPU runs the compiled
    loop of `corruptions._glass_cpu`, the same images bit for bit; other devices and dtypes `batched_glass_blur`."""
    sigma, max_delta, iterations = GLASS[preset][severity - 1]
    gens = seed_generators(seeds, x.device)
    if x.device.type != "cpu" or x.dtype != torch.float32:
        return batched_glass_blur(x, sigma, max_delta, iterations, gens)
    from corruptions._glass_cpu import glass_blur_images  # numba: compiled (or loaded from its cache) on first use

    h, w = x.shape[-2:]
    images, kernel = x.detach().contiguous(), torch.tensor(gaussian_weights(sigma), dtype=torch.float32)
    out = torch.empty_like(images)
    for part in image_chunks(images):
        # int32 already; made contiguous for numba (an odd number of bit draws leaves a strided view)
        codes = shuffle_codes(gens[part], (iterations, h, w), max_delta, x.device).contiguous()
        glass_blur_images(images[part].numpy(), kernel.numpy(), codes.numpy(), max_delta, out[part].numpy())
    return out


def batched_glass_blur(x: Tensor, sigma: float, max_delta: int, iterations: int,
                       gens: list[torch.Generator]) -> Tensor:
    """glass_blur with whole-batch tensor operations (any device): the shuffle solved by `shuffle_sources`."""
    h, w = x.shape[-2:]
    kernel = gaussian_weights(sigma)
    radius = len(kernel) // 2
    out = torch.empty_like(x)
    for part in image_chunks(x):  # draws included: on the CPU a chunk's codes stay in cache
        codes = shuffle_codes(gens[part], (iterations, h, w), max_delta, x.device)
        sources = shuffle_sources(codes.transpose(0, 1), max_delta)
        # the second blur's edge padding ("nearest") taken by the gather itself: no padded copy
        images = len(codes)
        edges = sources.view(images, -1).gather(1, _edge_map(h, w, radius, x.device).expand(images, -1))
        blurred = gaussian_blur2d(x[part], sigma).mul_(255).floor_().div_(255)
        padded = gather_pixels(blurred, edges.view(-1, h + 2 * radius, w + 2 * radius))
        correlate_padded(padded, kernel, kernel, out=out[part])
    return out.clamp_(0, 1)
