"""Digital corruptions of ImageNet-C as batched torch functions: brightness, contrast, elastic_transform,
pixelate, jpeg_compression and the extra saturate.

Operations and per-severity constants follow imagecorruptions (imaug fork 1.1.5, `imagecorruptions/
corruptions.py`); `preset="cifar"` takes make_cifar_c.py's constants and its pixelate and elastic_transform
(`corruptions.presets`). Every function is `fn(x, severity, seeds, *, preset) -> Tensor` on float
`(N, 3, H, W)` in [0, 1].

Inherited differences from the generator of the released ImageNet-C (`make_imagenet_c.py`): pixelate upsamples
with NEAREST where the release used BOX; elastic_transform is imagecorruptions' variant (Gaussian-smoothed
uniform displacements scaled by the image size, no affine step), not the release's affine + elastic warp.
jpeg_compression uses torchvision's libjpeg (`encode_jpeg` / `decode_jpeg`, also on CUDA) where the reference
uses PIL: same quality and standard quantisation tables, 4:2:0 chroma subsampling in both.
"""

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.io import decode_jpeg, encode_jpeg

from corruptions._ops import gaussian_blur2d, hsv_to_rgb, rgb_to_hsv
from corruptions._random import per_image_uniform, seed_generators

# Tables map a preset (`corruptions.presets`) to its five severities: imagecorruptions' constants, then
# make_cifar_c.py's.
# `brightness`: added to HSV value.
BRIGHTNESS_SHIFT = {"imagenet": (0.1, 0.2, 0.3, 0.4, 0.5), "cifar": (0.05, 0.1, 0.15, 0.2, 0.3)}
# `contrast`: factor on the deviation from the per-channel mean.
CONTRAST_FACTOR = {"imagenet": (0.4, 0.3, 0.2, 0.1, 0.05), "cifar": (0.75, 0.5, 0.4, 0.3, 0.15)}
# `saturate`: (factor, offset) on HSV saturation.
SATURATE = {"imagenet": ((0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 0.2)),
            "cifar": ((0.3, 0.0), (0.1, 0.0), (1.5, 0.0), (2.0, 0.1), (2.5, 0.2))}
# `jpeg_compression`: JPEG quality (PIL / libjpeg scale).
JPEG_QUALITY = {"imagenet": (25, 18, 15, 10, 7), "cifar": (80, 65, 58, 50, 40)}
# `pixelate`: down-scaling factor (PIL BOX down to int(side * c); back up with NEAREST in imagecorruptions, with
# BOX in make_cifar_c.py, as `PIXELATE_UPSAMPLING` says).
PIXELATE_FACTOR = {"imagenet": (0.6, 0.5, 0.4, 0.3, 0.25), "cifar": (0.95, 0.9, 0.85, 0.75, 0.65)}
PIXELATE_UPSAMPLING = {"imagenet": "nearest", "cifar": "box"}
# imagecorruptions `elastic_transform`: alpha = 250 * (0.05, 0.065, 0.085, 0.1, 0.12); displacements uniform in
# +-0.005 * height (both axes), smoothed with sigma = 0.01 * (height, width), truncate 3, reflect border.
ELASTIC_ALPHA = tuple(250 * f for f in (0.05, 0.065, 0.085, 0.1, 0.12))
ELASTIC_MAX_SHIFT = 0.005
ELASTIC_SIGMA = 0.01
ELASTIC_TRUNCATE = 3.0
# make_cifar_c.py `elastic_transform`: (alpha, sigma, affine shift) as fractions of the image side (32 there):
# an affine warp moving three points by up to the affine shift, then displacements U(-1, 1) smoothed with sigma
# (truncate 3, reflect border) times alpha.
CIFAR_ELASTIC = ((0.0, 0.0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03))
# Pillow `Resample.c`: 8-bit resampling keeps PRECISION_BITS = 32 - 8 - 2 fractional bits in its coefficients.
PIL_PRECISION_BITS = 22


def brightness(x: Tensor, severity: int, seeds: Sequence[int] = (), *,
               preset: str = "imagenet") -> Tensor:
    """HSV value `V' = clip(V + c)` (skimage HSV conversion)."""
    hsv = rgb_to_hsv(x)
    hsv[:, 2] = (hsv[:, 2] + BRIGHTNESS_SHIFT[preset][severity - 1]).clamp(0, 1)
    return hsv_to_rgb(hsv).clamp(0, 1)


def contrast(x: Tensor, severity: int, seeds: Sequence[int] = (), *,
             preset: str = "imagenet") -> Tensor:
    """`clip((x - m) * c + m)`, `m` the per-image, per-channel mean."""
    means = x.mean(dim=(2, 3), keepdim=True)
    return ((x - means) * CONTRAST_FACTOR[preset][severity - 1] + means).clamp(0, 1)


def saturate(x: Tensor, severity: int, seeds: Sequence[int] = (), *,
             preset: str = "imagenet") -> Tensor:
    """HSV saturation `S' = clip(S * a + b)` (skimage HSV conversion)."""
    factor, offset = SATURATE[preset][severity - 1]
    hsv = rgb_to_hsv(x)
    hsv[:, 1] = (hsv[:, 1] * factor + offset).clamp(0, 1)
    return hsv_to_rgb(hsv).clamp(0, 1)


def _to_uint8_levels(x: Tensor) -> Tensor:
    return (x * 255).round().clamp(0, 255)


def jpeg_compression(x: Tensor, severity: int, seeds: Sequence[int] = (), *,
                     preset: str = "imagenet") -> Tensor:
    """Encode to JPEG at quality `JPEG_QUALITY` and decode (torchvision libjpeg / nvjpeg), on 8-bit values."""
    images = _to_uint8_levels(x).to(torch.uint8)
    encoded = encode_jpeg(list(images), quality=JPEG_QUALITY[preset][severity - 1])
    # decode_jpeg takes the compressed bytes on the CPU whatever device it decodes on (nvjpeg on CUDA)
    decoded = decode_jpeg([data.cpu() for data in encoded], device=x.device)
    return torch.stack(decoded).to(x.dtype) / 255


@functools.lru_cache(maxsize=64)
def pil_box_taps(size_in: int, size_out: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Pillow's BOX resampling from `size_in` to `size_out` pixels as `(start, stop, weight)` per output pixel.

    Pillow `precompute_coeffs`: output `j` averages the input pixels `i` whose offset `(i + 0.5 - centre) / scale`
    lies in `(-0.5, 0.5]` (a contiguous run `start..stop-1`), `centre = (j + 0.5) * scale`, `scale = size_in /
    size_out`, all with the weight `1 / count`, stored in fixed point as `int(0.5 + 2^22 / count)`.
    Returns int64 `start`, `stop` and int32 `weight`, each `(size_out,)`, on `device`.
    """
    scale = size_in / size_out
    support = 0.5 * max(scale, 1.0)
    starts, stops = [], []
    for j in range(size_out):
        centre = (j + 0.5) * scale
        candidates = range(max(int(centre - support + 0.5), 0), min(int(centre + support + 0.5), size_in))
        inside = [i for i in candidates if -0.5 < (i - centre + 0.5) / max(scale, 1.0) <= 0.5]
        starts.append(inside[0])
        stops.append(inside[-1] + 1)
    weights = [int(0.5 + 2**PIL_PRECISION_BITS / (stop - start)) for start, stop in zip(starts, stops)]
    return (torch.tensor(starts, device=device), torch.tensor(stops, device=device),
            torch.tensor(weights, dtype=torch.int32, device=device))


def pil_box_resize(levels: Tensor, size: int, dim: int) -> Tensor:
    """One Pillow BOX pass along `dim` of int32 8-bit levels: box sums from a cumulative sum, times the
    fixed-point weight, plus half, shifted right by 22 bits and saturated (Pillow's `clip8`). Exact in int32
    (at most 255 * 2^22 + 2^21 < 2^31)."""
    start, stop, weight = pil_box_taps(levels.shape[dim], size, levels.device)
    sums = F.pad(levels.cumsum(dim=dim, dtype=torch.int32).movedim(dim, -1), (1, 0)).movedim(-1, dim)
    box = sums.index_select(dim, stop) - sums.index_select(dim, start)
    shape = [1] * levels.ndim
    shape[dim] = size
    return ((box * weight.view(shape) + 2 ** (PIL_PRECISION_BITS - 1)) >> PIL_PRECISION_BITS).clamp(0, 255)


@functools.lru_cache(maxsize=64)
def pil_nearest_index(size_in: int, size_out: int, device: torch.device) -> Tensor:
    """Source pixel of each output pixel in Pillow's NEAREST resize (`ImagingScaleAffine`): the position starts at
    `scale / 2` and grows by `scale = size_in / size_out` per pixel, accumulated in double precision (so exact
    halves can fall just below an integer), truncated. int64 `(size_out,)`."""
    scale, position, index = size_in / size_out, size_in / size_out * 0.5, []
    for _ in range(size_out):
        index.append(min(int(position), size_in - 1))
        position += scale
    return torch.tensor(index, device=device)


def pixelate(x: Tensor, severity: int, seeds: Sequence[int] = (), *,
             preset: str = "imagenet") -> Tensor:
    """PIL BOX down to `(int(W * c), int(H * c))` (horizontal pass, 8-bit rounding, vertical pass), then back up
    with PIL NEAREST (`pil_nearest_index`; imagecorruptions) or BOX (make_cifar_c.py), as `PIXELATE_UPSAMPLING`
    says for the preset. Bit-exact with PIL on 8-bit inputs."""
    n, c, h, w = x.shape
    factor = PIXELATE_FACTOR[preset][severity - 1]
    small_h, small_w = int(h * factor), int(w * factor)
    levels = _to_uint8_levels(x).to(torch.int32)
    small = pil_box_resize(pil_box_resize(levels, small_w, 3), small_h, 2)
    if PIXELATE_UPSAMPLING[preset] == "box":
        return pil_box_resize(pil_box_resize(small, w, 3), h, 2).to(x.dtype) / 255
    # columns first: gathering along the last axis is the slow one, so do it on the few rows of the small image
    big = small.index_select(3, pil_nearest_index(small_w, w, x.device))
    big = big.index_select(2, pil_nearest_index(small_h, h, x.device))
    return big.to(x.dtype) / 255


def warp_reflect(x: Tensor, dy: Tensor, dx: Tensor) -> Tensor:
    """Sample every image at `(row + dy, col + dx)` `(N, H, W)`, bilinear, half-sample symmetric border
    (`scipy.ndimage.map_coordinates(order=1, mode="reflect")`)."""
    n, _, h, w = x.shape
    rows = torch.arange(h, device=x.device, dtype=x.dtype).view(1, h, 1)
    cols = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, w)
    # grid_sample, align_corners=False: pixel k's centre is at (2k + 1) / size - 1 and reflection is about the
    # outer pixel edges, which is SciPy's "reflect".
    grid = torch.stack([(2 * (cols + dx) + 1) / w - 1, (2 * (rows + dy) + 1) / h - 1], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def elastic_transform(x: Tensor, severity: int, seeds: Sequence[int], *,
                      preset: str = "imagenet") -> Tensor:
    """imagecorruptions' elastic transform: displacement fields `dx, dy ~ U(-m, m)` per pixel, `m = 0.005 H`,
    smoothed by a Gaussian of sigma `0.01 (H, W)` (truncate 3, reflect border), times `alpha`; the image is
    resampled at `(row + dy, col + dx)` (`warp_reflect`). `preset="cifar"`: make_cifar_c.py's affine + elastic
    warp instead (`affine_elastic`)."""
    n, _, h, w = x.shape
    if preset == "cifar":
        alpha, sigma, shift = (f * min(h, w) for f in CIFAR_ELASTIC[severity - 1])
        draws = per_image_uniform(seed_generators(seeds, x.device), (6 + 2 * h * w,), x.device) * 2 - 1
        corner_shifts = draws[:, :6].view(n, 3, 2).double() * shift
        return affine_elastic(x, corner_shifts, draws[:, 6:].view(n, 2, h, w).to(x.dtype), alpha, sigma)
    max_shift = h * ELASTIC_MAX_SHIFT
    uniform = per_image_uniform(seed_generators(seeds, x.device), (2, h, w), x.device).to(x.dtype)
    field = gaussian_blur2d((uniform * 2 - 1) * max_shift, (ELASTIC_SIGMA * h, ELASTIC_SIGMA * w),
                            truncate=ELASTIC_TRUNCATE, mode="reflect") * ELASTIC_ALPHA[severity - 1]
    return warp_reflect(x, field[:, 1], field[:, 0]).clamp(0, 1)


def affine_anchors(h: int, w: int) -> Tensor:
    """make_cifar_c.py's three affine anchor points `(3, 2)` float64, given to `cv2.getAffineTransform` as (x, y):
    centre + size, (centre_0 + size, centre_1 - size), centre - size, with `centre = (h // 2, w // 2)` and
    `size = min(h, w) // 3` (the script builds them from the (rows, cols) shape; for square images it is moot)."""
    centre = torch.tensor([h // 2, w // 2], dtype=torch.float64)
    size = min(h, w) // 3
    return torch.stack([centre + size, centre + torch.tensor([size, -size]), centre - size])


def warp_affine_mirror(x: Tensor, matrices: Tensor) -> Tensor:
    """`cv2.warpAffine(image, M, (W, H), borderMode=BORDER_REFLECT_101)` for every image, bilinear, with
    `matrices` `(N, 2, 3)` mapping source (x, y) to output (x, y): output pixel `p` samples the source at
    `M^-1 p`. Sampling positions are folded into the image (reflect-101 extension is even about the first and
    last pixel centres, so bilinear interpolation of the extension equals interpolation at the folded position)."""
    n, _, h, w = x.shape
    matrices = matrices.to(x.device, torch.float64)
    inverse = torch.linalg.inv(torch.cat([matrices, matrices.new_tensor([[[0.0, 0.0, 1.0]]]).expand(n, 1, 3)], 1))
    inverse = inverse[:, :2]
    rows = torch.arange(h, dtype=torch.float64, device=x.device).view(h, 1).expand(h, w)
    cols = torch.arange(w, dtype=torch.float64, device=x.device).view(1, w).expand(h, w)
    points = torch.stack([cols, rows, torch.ones_like(rows)]).view(3, -1)
    source = (inverse @ points).view(n, 2, h, w)

    def fold(position: Tensor, size: int) -> Tensor:
        period = 2 * (size - 1)
        position = position.remainder(period)
        return torch.where(position > size - 1, period - position, position) / (size - 1) * 2 - 1

    grid = torch.stack([fold(source[:, 0], w), fold(source[:, 1], h)], dim=-1).to(x.dtype)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


def affine_elastic(x: Tensor, corner_shifts: Tensor, uniform: Tensor, alpha: float, sigma: float) -> Tensor:
    """make_cifar_c.py's elastic transform given its random draws: the affine map moving `affine_anchors` by
    `corner_shifts` `(N, 3, 2)` (`cv2.getAffineTransform`), applied with `warp_affine_mirror`; then displacement
    fields `alpha * gaussian(uniform, sigma)` (`uniform` `(N, 2, H, W)` in [-1, 1): dx first, then dy; truncate 3,
    reflect border; no smoothing for sigma 0) sampled as `scipy.ndimage.map_coordinates(order=1, mode="reflect")`
    (`warp_reflect`)."""
    n, _, h, w = x.shape
    anchors = affine_anchors(h, w).to(corner_shifts)
    # getAffineTransform: M with M [p, 1] = p' for the three anchors p and their moved copies p'
    lifted = torch.cat([anchors, anchors.new_ones(3, 1)], dim=1).expand(n, 3, 3)
    matrices = torch.linalg.solve(lifted, anchors + corner_shifts).transpose(1, 2)
    warped = warp_affine_mirror(x, matrices)
    field = uniform if sigma == 0 else gaussian_blur2d(uniform, sigma, truncate=ELASTIC_TRUNCATE, mode="reflect")
    field = field * alpha
    return warp_reflect(warped, field[:, 1], field[:, 0]).clamp(0, 1)
