"""Weather corruptions of ImageNet-C as batched torch functions: snow, frost, fog, spatter.

Operations and per-severity constants follow imagecorruptions (bethgelab, imaug fork 1.1.5,
`imagecorruptions/corruptions.py`), reimplemented for `(N, 3, H, W)` float tensors in [0, 1] on any device;
`preset="cifar"` takes make_cifar_c.py's constants and its frost picture scale (`corruptions.presets`). Every
function is `fn(x, severity, seeds, *, preset) -> Tensor` in [0, 1]; each image draws its random numbers from
a generator seeded with its seed (`corruptions._random.seed_generators`), so its result does not depend on its
batch.

Known differences from the generator of the released ImageNet-C (`make_imagenet_c.py`), inherited from
imagecorruptions: snow blurs its snow layer with a NumPy-style motion-blur kernel (shifted copies weighted by a
half Gaussian, replicated borders) instead of ImageMagick's `MotionBlurImage`; frost rescales the frost image
x1.1 (more when the image is larger than the frost picture) before the random crop; fog draws a plasma map of
the next power of two of the image side instead of a fixed 256 map.
"""

import functools
import importlib.resources
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from corruptions._cv import box_blur3, canny, correlate3x3, distance_to_edges, equalize_hist
from corruptions._ops import gaussian_blur2d, image_chunks, motion_blur, zoom_center
from corruptions._random import per_image_normal, per_image_uniform, seed_generators
from corruptions.presets import CIFAR_SIDE
from corruptions.shift import windows
from robustbench_lift.errors import UsageError

# Tables map a preset (`corruptions.presets`) to its five severities: imagecorruptions' constants, then
# make_cifar_c.py's.
# `snow`: (loc, scale, zoom, threshold, blur radius, blur sigma, image mix).
SNOW_PARAMS = {
    "imagenet": ((0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
                 (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)),
    "cifar": ((0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9), (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
              (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85), (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8))}
# `snow`: blur angle uniform in [-135, -45) degrees.
SNOW_ANGLE_RANGE = (-135.0, -45.0)
# `frost`: (image weight, frost weight).
FROST_PARAMS = {"imagenet": ((1.0, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)),
                "cifar": ((1.0, 0.2), (1.0, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))}
# imagecorruptions `frost`: file names in its `frost/` folder; ImageNet-C (`make_imagenet_c.py`) drew among the
# first five, the imaug fork among all six.
FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")
# imagecorruptions `frost`: the frost picture is scaled by 1.1 on top of what makes it cover the image.
FROST_RESCALE = 1.1
# make_cifar_c.py `frost`: the picture is scaled by 0.2 (cv2.resize, bilinear) for 32 px images; here by
# 0.2 * side / 32 for larger ones, so the frost keeps its size relative to the image.
CIFAR_FROST_SCALE = 0.2
# `fog`: (plasma weight, wibble decay).
FOG_PARAMS = {"imagenet": ((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)),
              "cifar": ((0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75))}
# imagecorruptions `plasma_fractal`: initial wibble.
PLASMA_WIBBLE = 100.0
# `spatter`: (loc, scale, blur sigma, threshold, intensity/mud sigma, mud?).
SPATTER_PARAMS = {
    "imagenet": ((0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0), (0.65, 0.3, 2, 0.68, 0.5, 0),
                 (0.65, 0.3, 1, 0.65, 1.5, 1), (0.67, 0.4, 1, 0.65, 1.5, 1)),
    "cifar": ((0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0), (0.65, 0.3, 1, 0.69, 0.5, 0),
              (0.65, 0.1, 0.7, 0.69, 0.6, 1), (0.65, 0.1, 0.5, 0.68, 0.6, 1))}
# imagecorruptions `spatter`: water is pale turquoise (175, 238, 238), mud brown (63, 42, 20), in RGB order.
WATER_RGB = (175 / 255, 238 / 255, 238 / 255)
MUD_RGB = (63 / 255, 42 / 255, 20 / 255)
# imagecorruptions `spatter`: Canny thresholds, distance cap, emboss kernel; mud mask threshold.
CANNY_LOW, CANNY_HIGH = 50, 150
DISTANCE_CAP = 20
EMBOSS = ((-2.0, -1.0, 0.0), (-1.0, 1.0, 1.0), (0.0, 1.0, 2.0))
MUD_MASK_THRESHOLD = 0.8
# cv2.cvtColor RGB2GRAY weights (ITU-R BT.601), used by snow.
GRAY_WEIGHTS = (0.299, 0.587, 0.114)


def blend_snow(x: Tensor, layer: Tensor, mix: float) -> Tensor:
    """`clip(mix * x + (1 - mix) * max(x, 1.5 * gray(x) + 0.5) + layer + rot180(layer))`; `x` `(..., 3, H, W)`,
    `layer` `(..., 1, H, W)` (imagecorruptions `snow` and make_imagenet_p.py snow)."""
    weights = torch.tensor(GRAY_WEIGHTS, dtype=x.dtype, device=x.device)
    gray = torch.einsum("...chw,c->...hw", x, weights).unsqueeze(-3)
    out = torch.maximum(x, gray.mul_(1.5).add_(0.5)).mul_(1 - mix).add_(x, alpha=mix)
    return (out + layer).add_(layer.flip(-2, -1)).clamp_(0, 1)  # out-of-place first: `layer` may broadcast `x`


def snow_from_noise(x: Tensor, severity: int, noise: Tensor, angles: Tensor, preset: str = "imagenet") -> Tensor:
    """`snow` given its random draws: standard normal `noise` `(N, 1, H, W)` and blur `angles` `(N,)` (degrees).

    imagecorruptions `snow`: layer = loc + scale * noise, centre zoom x`zoom`, zero below `threshold`, clip to
    [0, 1], motion blur (radius, sigma, angle), quantised to 1/255, then `blend_snow` with `mix`.
    """
    loc, scale, zoom, threshold, radius, sigma, mix = SNOW_PARAMS[preset][severity - 1]
    layer = zoom_center(noise * scale + loc, zoom)
    layer = torch.where(layer < threshold, torch.zeros_like(layer), layer).clamp(0, 1)
    layer = motion_blur(layer, radius, sigma, angles)
    return blend_snow(x, (layer * 255).round() / 255, mix)


def snow(x: Tensor, severity: int, seeds: Sequence[int], *, preset: str = "imagenet") -> Tensor:
    """Snow: a thresholded, zoomed Gaussian snow layer, motion-blurred at an angle ~ U[-135, -45) degrees, added
    as is and rotated by 180 degrees to a brightened image (`snow_from_noise`)."""
    n, _, h, w = x.shape
    gens = seed_generators(seeds, x.device)
    noise = per_image_normal(gens, (1, h, w), x.device)
    low, high = SNOW_ANGLE_RANGE
    angles = low + (high - low) * per_image_uniform(gens, (), x.device)
    return snow_from_noise(x, severity, noise, angles, preset)


@functools.cache
def _frost_picture(index: int, device: torch.device) -> Tensor:
    """Frost picture `index` of imagecorruptions' `frost/` folder as uint8 `(3, h, w)` RGB on `device`
    (alpha dropped, as `cv2.imread` does)."""
    from PIL import Image

    resource = importlib.resources.files("imagecorruptions") / "frost" / FROST_FILES[index]
    with importlib.resources.as_file(resource) as path, Image.open(path) as picture:
        pixels = np.asarray(picture.convert("RGB"))
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).to(device)


@functools.lru_cache(maxsize=4)
def _frost_stack(h: int, w: int, count: int, preset: str, device: torch.device) -> tuple[Tensor, Tensor]:
    """The first `count` frost pictures rescaled for `h x w` images, as uint8 `(count, 3, H_max, W_max)` (zero
    padded; about 12 MB for 224 px images) and their sizes `(count, 2)` int64.

    imagecorruptions `frost`: scale = max(1, h / fh, w / fw) * 1.1, new size ceil(side * scale), cv2 INTER_CUBIC
    (Keys a = -0.75, half-pixel centres, as torch's bicubic), rounded to uint8. make_cifar_c.py: `cv2.resize(fx=
    fy=0.2)` (bilinear, half-pixel centres, size rounded; at 0.2 every output pixel is a source pixel), here with
    scale `0.2 * max(h, w) / 32`, at least what covers the image.
    """
    pictures = []
    for index in range(count):
        picture = _frost_picture(index, device)[None].to(torch.float32)
        fh, fw = picture.shape[2:]
        if preset == "cifar":
            factor = max(CIFAR_FROST_SCALE * max(h, w) / CIFAR_SIDE, h / fh, w / fw)
            resized = F.interpolate(picture, scale_factor=factor, mode="bilinear", align_corners=False,
                                    recompute_scale_factor=False)
        else:
            factor = max(1.0, h / fh, w / fw) * FROST_RESCALE
            size = (math.ceil(fh * factor), math.ceil(fw * factor))
            resized = F.interpolate(picture, size=size, mode="bicubic", align_corners=False)
        pictures.append(resized[0].round().clamp(0, 255).to(torch.uint8))
    sizes = torch.tensor([p.shape[1:] for p in pictures], device=device)
    height, width = int(sizes[:, 0].max()), int(sizes[:, 1].max())
    stack = torch.stack([F.pad(p, (0, width - p.shape[2], 0, height - p.shape[1])) for p in pictures])
    return stack.contiguous(memory_format=torch.channels_last), sizes  # the layout `windows` gathers from


def frost(x: Tensor, severity: int, seeds: Sequence[int], *, frost_images: int = 5,
          preset: str = "imagenet") -> Tensor:
    """Frost: `clip(a * x + b * crop)` with a random crop of one of imagecorruptions' frost pictures.

    `frost_images=5` draws among the first five pictures as ImageNet-C did; `6` adds the imaug fork's sixth.
    The pictures are read from the installed imagecorruptions package and cached per device and image size.
    """
    if frost_images not in (5, 6):
        raise UsageError(f"frost_images must be 5 (ImageNet-C) or 6 (imagecorruptions-imaug), got {frost_images}")
    image_weight, frost_weight = FROST_PARAMS[preset][severity - 1]
    n, _, h, w = x.shape
    stack, sizes = _frost_stack(h, w, frost_images, preset, x.device)
    gens = seed_generators(seeds, x.device)
    draws = per_image_uniform(gens, (3,), x.device)
    choice = (draws[:, 0] * frost_images).long().clamp(max=frost_images - 1)
    # imagecorruptions: top ~ randint(0, fh' - h), left ~ randint(0, fw' - w)
    room = sizes[choice] - torch.tensor([h, w], device=x.device)
    top = (draws[:, 1] * room[:, 0]).long()
    left = (draws[:, 2] * room[:, 1]).long()
    crops = windows(stack, top, left, h, w, index=choice, circular=True)  # all inside: wrapping skips the mask
    return crops.to(x.dtype).mul_(frost_weight / 255).add_(x, alpha=image_weight).clamp_(0, 1)


def plasma_fractal(gens: list[torch.Generator], mapsize: int, decay: float, device: torch.device) -> Tensor:
    """Diamond-square height maps `(N, mapsize, mapsize)` in [0, 1], one per generator (imagecorruptions
    `plasma_fractal`): each step sets square centres, then diamond centres, to the mean of their four
    neighbours (wrapping around) plus `wibble * U(-wibble, wibble)`, with `wibble` divided by `decay` per step.
    """
    if mapsize & (mapsize - 1):
        raise ValueError(f"plasma map size must be a power of two, got {mapsize}")
    n = len(gens)
    maps = torch.zeros(n, mapsize, mapsize, device=device)
    step, wibble = mapsize, PLASMA_WIBBLE
    # every level k x k (k = 1, 2, 4, .., mapsize / 2) fills three k x k grids: one draw per image for all
    sides = [mapsize // 2**level for level in range(mapsize.bit_length() - 1, 0, -1)]
    noise = (per_image_uniform(gens, (3 * sum(k * k for k in sides),), device) * 2 - 1).split(
        [k * k for k in sides for _ in range(3)], dim=1)
    draws = iter(noise)

    def wibbled_mean(total: Tensor) -> Tensor:
        return total / 4 + wibble * wibble * next(draws).view(total.shape)

    while step >= 2:
        half = step // 2
        corners = maps[:, ::step, ::step]
        squares = corners + corners.roll(-1, dims=1)
        squares = squares + squares.roll(-1, dims=2)
        maps[:, half::step, half::step] = wibbled_mean(squares)
        centres, corners = maps[:, half::step, half::step], maps[:, ::step, ::step]
        # diamond centres on the corner rows, then on the corner columns (same neighbours as the reference)
        on_rows = centres + centres.roll(1, dims=1) + corners + corners.roll(-1, dims=2)
        maps[:, ::step, half::step] = wibbled_mean(on_rows)
        on_columns = centres + centres.roll(1, dims=2) + corners + corners.roll(-1, dims=1)
        maps[:, half::step, ::step] = wibbled_mean(on_columns)
        step //= 2
        wibble /= decay
    maps = maps - maps.amin(dim=(1, 2), keepdim=True)
    return maps / maps.amax(dim=(1, 2), keepdim=True)


def fog(x: Tensor, severity: int, seeds: Sequence[int], *, preset: str = "imagenet") -> Tensor:
    """Fog: `clip((x + a * plasma) * m / (m + a))`, `m` the image maximum, plasma map of the next power of two
    of the image side cropped to the image (imagecorruptions `fog`)."""
    weight, decay = FOG_PARAMS[preset][severity - 1]
    n, _, h, w = x.shape
    mapsize = 1 << (max(h, w) - 1).bit_length()
    plasma = plasma_fractal(seed_generators(seeds, x.device), mapsize, decay, x.device)
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    return x.add(plasma[:, None, :h, :w], alpha=weight).mul_(peak / (peak + weight)).clamp_(0, 1)


def _drop_shading(layer: Tensor) -> Tensor:
    """The embossed distance-to-edge map of 8-bit liquid layers `(N, H, W)` (the OpenCV chain of `spatter`)."""
    dist = distance_to_edges(canny(layer, CANNY_LOW, CANNY_HIGH), DISTANCE_CAP)
    dist = equalize_hist(box_blur3(dist).floor())
    dist = correlate3x3(dist, EMBOSS, "reflect").round().clamp(0, 255)
    return box_blur3(dist).round()


def water_spatter(x: Tensor, liquid: Tensor, intensity: float) -> Tensor:
    """Water drops of a thresholded liquid layer `(N, H, W)` in [0, 1] added to `x` (imagecorruptions `spatter`,
    severities 1-3; also the ImageNet-P spatter frames).

    OpenCV chain, on 8-bit data: edges = Canny(layer, 50, 150); d = min(distance to edges, 20), 3x3 mean,
    truncated to uint8; histogram-equalised; embossed (3x3 kernel, saturated to uint8); 3x3 mean rounded.
    `m = intensity * layer * d / max(layer * d)`; out = clip(x + m * pale turquoise).
    """
    layer = (liquid * 255).clamp(0, 255).floor()
    # ~130 passes per image: in cache-sized chunks on the CPU (`image_chunks`)
    m = torch.cat([layer[part] * _drop_shading(layer[part]) for part in image_chunks(layer)])
    m = intensity * m / m.amax(dim=(1, 2), keepdim=True).clamp(min=1e-12)
    colour = torch.tensor(WATER_RGB, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x + m[:, None] * colour).clamp(0, 1)


def spatter_from_noise(x: Tensor, severity: int, noise: Tensor, preset: str = "imagenet") -> Tensor:
    """`spatter` given its standard normal `noise` `(N, 1, H, W)`.

    imagecorruptions `spatter`: liquid = gaussian(loc + scale * noise, sigma), zeroed below `threshold`; water
    drops at severities 1-3 (`water_spatter`), mud at 4-5: mask `liquid > threshold` blurred with `mud_sigma`,
    zeroed below 0.8, `out = clip(x * (1 - m) + m * mud brown)`.
    """
    loc, scale, sigma, threshold, strength, mud = SPATTER_PARAMS[preset][severity - 1]
    liquid = gaussian_blur2d(noise * scale + loc, sigma)
    liquid = torch.where(liquid < threshold, torch.zeros_like(liquid), liquid)
    if not mud:
        return water_spatter(x, liquid[:, 0], strength)
    mask = gaussian_blur2d((liquid > threshold).to(x.dtype), strength)
    mask = torch.where(mask < MUD_MASK_THRESHOLD, torch.zeros_like(mask), mask)
    colour = torch.tensor(MUD_RGB, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * (1 - mask) + colour * mask).clamp(0, 1)


def spatter(x: Tensor, severity: int, seeds: Sequence[int], *,
            preset: str = "imagenet") -> Tensor:
    """Spatter: water drops (severities 1-3) or mud (4-5) from a blurred, thresholded Gaussian liquid layer
    (`spatter_from_noise`)."""
    n, _, h, w = x.shape
    noise = per_image_normal(seed_generators(seeds, x.device), (1, h, w), x.device)
    return spatter_from_noise(x, severity, noise, preset)
