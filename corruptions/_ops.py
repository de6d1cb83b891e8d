"""Batched image primitives shared by the corruptions, reimplementing the SciPy / scikit-image / OpenCV calls
that imagecorruptions (`imagecorruptions/corruptions.py`, imaug fork 1.1.5) makes on one image at a time.

All functions take float tensors `(N, C, H, W)` on any device and return the same shape unless stated.
Border modes use SciPy's names: `"nearest"` (edge replicated), `"reflect"` (half-sample symmetric,
`d c b a | a b c d`) and `"mirror"` (whole-sample, `d c b | a b c d`, OpenCV's `BORDER_REFLECT_101`).
"""

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

BORDER_MODES = ("nearest", "reflect", "mirror")


CHUNK_PIXELS = 224 * 224
"""Pixels per image plane a CPU chunk holds: one ImageNet image, whose multi-pass operations stay in cache."""


def image_chunks(images: Tensor) -> list[slice]:
    """Slices of the batch `images` `(N, ..., H, W)` to process in turn: on the CPU chunks of at most
    `CHUNK_PIXELS` per plane (one 224 px image; 49 images of 32 px), where a multi-pass operation stays in
    cache (several times faster than whole-batch passes on a small-cache CPU) while small images share the
    per-call overhead; the whole batch elsewhere."""
    n = images.shape[0]
    if images.device.type != "cpu":
        return [slice(0, n)]
    step = max(1, CHUNK_PIXELS // (images.shape[-2] * images.shape[-1]))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def border_index(index: Tensor, size: int, mode: str) -> Tensor:
    """Map integer positions (possibly outside `0..size-1`) into the image according to border `mode`."""
    if mode == "nearest":
        return index.clamp(0, size - 1)
    if mode == "reflect":
        folded = index.remainder(2 * size)
        return torch.where(folded >= size, 2 * size - 1 - folded, folded)
    if mode == "mirror":
        period = max(2 * size - 2, 1)
        folded = index.remainder(period)
        return torch.where(folded >= size, period - folded, folded)
    raise ValueError(f"unknown border mode {mode!r}: expected one of {', '.join(BORDER_MODES)}")


def pad2d(x: Tensor, top: int, bottom: int, left: int, right: int, mode: str) -> Tensor:
    """Pad the last two dimensions by any amount (also more than the image size) with border `mode`."""
    h, w = x.shape[-2:]
    # F.pad and flipped slices are several times faster than gathering rows and columns on the CPU
    if mode == "nearest" or (mode == "mirror" and max(top, bottom) < h and max(left, right) < w):
        return F.pad(x, (left, right, top, bottom), mode="replicate" if mode == "nearest" else "reflect")
    if mode == "reflect" and max(top, bottom) <= h and max(left, right) <= w:
        x = torch.cat([x[..., :top, :].flip(-2), x, x[..., h - bottom:, :].flip(-2)], dim=-2)
        return torch.cat([x[..., :left].flip(-1), x, x[..., w - right:].flip(-1)], dim=-1)
    rows = border_index(torch.arange(-top, h + bottom, device=x.device), h, mode)
    cols = border_index(torch.arange(-left, w + right, device=x.device), w, mode)
    return x[..., rows, :][..., cols]


def gaussian_weights(sigma: float, truncate: float = 4.0) -> list[float]:
    """SciPy's `_gaussian_kernel1d`: `exp(-x^2 / (2 sigma^2))` on `x = -r..r`, `r = int(truncate * sigma + 0.5)`,
    normalised to sum 1 (computed in double precision)."""
    radius = int(truncate * sigma + 0.5)
    taps = [math.exp(-0.5 * (i / sigma) ** 2) for i in range(-radius, radius + 1)]
    return [t / sum(taps) for t in taps]


def weighted_sum(views: Sequence[Tensor], weights: list[float], out: Tensor | None = None) -> Tensor:
    """`sum_i weights[i] * views[i]` with one in-place multiply-add per view (zero weights skipped), into `out`
    when given."""
    out = torch.mul(views[0], weights[0], out=out)
    for view, weight in zip(views[1:], weights[1:]):
        if weight != 0.0:
            out.add_(view, alpha=weight)
    return out


def correlate_separable(x: Tensor, kernel_y: list[float] | None, kernel_x: list[float] | None,
                        mode: str) -> Tensor:
    """Correlate every channel of `x` with odd-length 1-D kernels along H then W (`None` skips an axis).

    One multiply-add of shifted views per tap, over `image_chunks` of the batch: on the CPU this beats
    depthwise convolution with 1-D kernels several times (the few-image working set stays in cache).
    """
    ry = len(kernel_y) // 2 if kernel_y else 0
    rx = len(kernel_x) // 2 if kernel_x else 0
    parts = image_chunks(x)
    out = torch.empty_like(x) if len(parts) > 1 else None
    for part in parts:
        padded = pad2d(x[part], ry, ry, rx, rx, mode)
        if out is None:  # one part: its result is the output (no copy)
            return correlate_padded(padded, kernel_y, kernel_x)
        correlate_padded(padded, kernel_y, kernel_x, out=out[part])
    return out


def correlate_padded(padded: Tensor, kernel_y: list[float] | None, kernel_x: list[float] | None,
                     out: Tensor | None = None) -> Tensor:
    """`correlate_separable` of an image already padded by the kernels' radii: `(..., H + 2 ry, W + 2 rx)` ->
    `(..., H, W)`, written into `out` when given."""
    ry = len(kernel_y) // 2 if kernel_y else 0
    rx = len(kernel_x) // 2 if kernel_x else 0
    h, w = padded.shape[-2] - 2 * ry, padded.shape[-1] - 2 * rx
    # the shifted views come from one unfold + unbind: one call instead of one slice per tap
    if kernel_y:
        padded = weighted_sum(padded.unfold(-2, h, 1).transpose(-1, -2).unbind(-3), kernel_y,
                              out=out if not kernel_x else None)
    if kernel_x:
        padded = weighted_sum(padded.unfold(-1, w, 1).unbind(-2), kernel_x, out=out)
    if out is None:
        return padded
    if not (kernel_y or kernel_x):
        out.copy_(padded)
    return out


def gaussian_blur2d(x: Tensor, sigma: float | tuple[float, float], truncate: float = 4.0,
                    mode: str = "nearest") -> Tensor:
    """Gaussian filter of every channel, as `skimage.filters.gaussian` / `scipy.ndimage.gaussian_filter`
    (defaults there: `mode="nearest"`, `truncate=4`). `sigma` is one value or `(sigma_y, sigma_x)`."""
    sigma_y, sigma_x = (sigma, sigma) if isinstance(sigma, (int, float)) else sigma
    kernels = [gaussian_weights(float(s), truncate) if s > 0 else None for s in (sigma_y, sigma_x)]
    return correlate_separable(x, kernels[0], kernels[1], mode)


def filter2d(x: Tensor, kernel: Tensor, mode: str = "mirror") -> Tensor:
    """`cv2.filter2D(channel, -1, kernel)` on every channel: correlation with an odd `(k, k)` kernel, border
    `mode` (OpenCV's default reflect-101 is `"mirror"`)."""
    c = x.shape[1]
    r = kernel.shape[-1] // 2
    padded = pad2d(x, r, r, r, r, mode).contiguous(memory_format=torch.channels_last)
    weight = kernel.to(x)[None, None].expand(c, 1, -1, -1).contiguous()
    return F.conv2d(padded, weight, groups=c).contiguous()


def disk_kernel(radius: int, alias_blur: float) -> Tensor:
    """imagecorruptions `disk`: the normalised indicator of `x^2 + y^2 <= radius^2` on a grid of half-width
    `max(8, radius)`, smoothed by `cv2.GaussianBlur` (3x3 for radius <= 8, else 5x5, sigma `alias_blur`,
    reflect-101 border). float32 `(k, k)` on the CPU."""
    half = max(8, radius)
    grid = torch.arange(-half, half + 1, dtype=torch.float64)
    disk = ((grid[:, None] ** 2 + grid[None, :] ** 2) <= radius**2).to(torch.float64)
    disk /= disk.sum()
    # cv2.getGaussianKernel(ksize, sigma): exp(-(i - (ksize-1)/2)^2 / (2 sigma^2)), normalised
    ksize = 3 if radius <= 8 else 5
    taps = [math.exp(-((i - (ksize - 1) / 2) ** 2) / (2 * alias_blur**2)) for i in range(ksize)]
    blur = [t / sum(taps) for t in taps]
    return correlate_separable(disk[None, None], blur, blur, "mirror")[0, 0].to(torch.float32)


def motion_blur_taps(radius: int, sigma: float, angle_deg: float, size: tuple[int, int]
                     ) -> list[tuple[float, int, int]]:
    """Taps `(weight, dy, dx)` of imagecorruptions `_motion_blur` for one angle (degrees), in its arithmetic.

    Width `2 * radius + 1`; tap `i` has weight `g(i) / sum g`, `g(i) = exp(-i^2 / (2 sigma^2))` (a half
    Gaussian) and moves the image by `dy = -ceil(i * p_y / |p| - 1/2)`, `dx = -ceil(i * p_x / |p| - 1/2)` pixels,
    `p = width * (sin a, cos a)`. The reference stops at the first tap whose shift reaches the image size (no
    renormalisation), so later taps are dropped.
    """
    width = 2 * radius + 1
    gauss = [math.exp(-(i**2) / (2 * sigma**2)) for i in range(width)]
    point = (width * math.sin(math.radians(angle_deg)), width * math.cos(math.radians(angle_deg)))
    norm = math.hypot(*point)
    taps = []
    for i in range(width):
        dy = -math.ceil(i * point[0] / norm - 0.5)
        dx = -math.ceil(i * point[1] / norm - 0.5)
        if abs(dy) >= size[0] or abs(dx) >= size[1]:
            break
        taps.append((gauss[i] / sum(gauss), dy, dx))
    return taps


def motion_blur(x: Tensor, radius: int, sigma: float, angle_deg: Tensor) -> Tensor:
    """imagecorruptions `_motion_blur` on a batch, one angle (degrees) per image `(N,)`.

    `out = sum_i w_i * shift(x, dx_i, dy_i)` where `shift` moves the content by `(dx, dy)` and replicates the
    edge row/column into the uncovered band (`motion_blur_taps`). Implemented with views of one edge-padded copy
    per image, so the cost is one multiply-add per tap and pixel; the taps differ per image and are computed on
    the host from the `N` angles.
    """
    n, c, h, w = x.shape
    pad = 2 * radius
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    out = torch.empty_like(x)
    for k, angle in enumerate(angle_deg.tolist()):
        weights, dys, dxs = zip(*motion_blur_taps(radius, sigma, angle, (h, w)))
        views = [padded[k, :, pad - dy:pad - dy + h, pad - dx:pad - dx + w] for dy, dx in zip(dys, dxs)]
        weighted_sum(views, list(weights), out=out[k])
    return out


def rgb_to_hsv(x: Tensor) -> Tensor:
    """`skimage.color.rgb2hsv` on `(N, 3, H, W)` RGB in [0, 1]: H in [0, 1) (0 for grey pixels), S = range / max
    (0 for grey), V = max. Ties in the maximum resolve as there: blue over green over red."""
    r, g, b = x.unbind(1)
    v = x.amax(dim=1)
    delta = v - x.amin(dim=1)
    grey = delta == 0
    safe = torch.where(grey, torch.ones_like(delta), delta)
    hue = torch.where(b == v, 4.0 + (r - g) / safe, torch.where(g == v, 2.0 + (b - r) / safe, (g - b) / safe))
    hue = torch.where(grey, torch.zeros_like(hue), torch.remainder(hue / 6.0, 1.0))
    sat = torch.where(grey, torch.zeros_like(delta), delta / torch.where(v == 0, torch.ones_like(v), v))
    return torch.stack([hue, sat, v], dim=1)


def hsv_to_rgb(hsv: Tensor) -> Tensor:
    """`skimage.color.hsv2rgb` on `(N, 3, H, W)`: sector `floor(6 H) mod 6` picks the (R, G, B) arrangement of
    `v, p = v (1 - s), q = v (1 - f s), t = v (1 - (1 - f) s)`, `f` the fractional part of `6 H`."""
    h, s, v = hsv.unbind(1)
    sector = torch.floor(h * 6)
    f = h * 6 - sector
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    sector = sector.long().remainder(6)
    choices = torch.stack([torch.stack(rgb, dim=1) for rgb in
                           ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])
    index = sector[None, :, None].expand(1, *choices.shape[1:])
    return choices.gather(0, index)[0]


def zoom_center(x: Tensor, factor: float, trim_centred: bool = False) -> Tensor:
    """imagecorruptions `clipped_zoom` cropped back to the input size: the central `ceil(side / factor)` pixels of
    each axis are resized to `round(crop * factor)` by linear interpolation on an align-corners grid (as
    `scipy.ndimage.zoom(order=1)`), keeping the top-left `H x W` (`trim_centred`: the centre `H x W`, as
    make_imagenet_p.py's `clipped_zoom` trims `(zoomed - side) // 2` first)."""
    h, w = x.shape[-2:]
    crop_h, crop_w = math.ceil(h / factor), math.ceil(w / factor)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    size = (int(round(crop_h * factor)), int(round(crop_w * factor)))
    crop = x[..., top:top + crop_h, left:left + crop_w]
    trim_h, trim_w = ((size[0] - h) // 2, (size[1] - w) // 2) if trim_centred else (0, 0)
    zoomed = F.interpolate(crop, size=size, mode="bilinear", align_corners=True)
    return zoomed[..., trim_h:trim_h + h, trim_w:trim_w + w]
