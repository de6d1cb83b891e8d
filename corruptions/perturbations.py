"""ImageNet-P perturbation sequences as batched torch functions.

`perturbation_sequence(images, name)` turns `(N, 3, H, W)` images into `(N, T, 3, h, w)` frame sequences with the
perturbations, per-frame parameters and lengths of hendrycks/robustness `ImageNet-P/create_p/make_imagenet_p.py`
(Hendrycks & Dietterich, ICLR 2019). The release resizes to 256, perturbs, then centre-crops 224: pass the
Resize(256) image and `out_size=224` to get the same. Geometric perturbations (zoom_blur, translate, rotate, tilt,
scale, shear) are applied to the whole input and only the centre `out_size` window is sampled, so content from
the margin moves into view as in the release; the others crop first, then perturb, as the release does.

Differences from the release: motion_blur and snow use the NumPy-style motion-blur kernel of imagecorruptions
(`corruptions._ops.motion_blur`) where the release called ImageMagick; affine and perspective warps sample with
`grid_sample` (bilinear, zero fill) where the release used PIL and OpenCV; frames are not H.264-encoded.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from corruptions._ops import gaussian_blur2d, hsv_to_rgb, motion_blur, rgb_to_hsv, zoom_center
from corruptions._random import image_generators, per_image_normal, per_image_poisson
from corruptions.names import NOISE_PERTURBATIONS, PERTURBATIONS
from corruptions.registry import QUANTISATION_TOLERANCE
from corruptions.shift import windows
from corruptions.weather import blend_snow, water_spatter
from robustbench_lift.errors import UsageError

GEOMETRIC_PERTURBATIONS = ("zoom_blur", "translate", "rotate", "tilt", "scale", "shear")
# make_imagenet_p.py: 31 frames (i = 0..30), translate 41 (i = 0..40).
RELEASE_LENGTH = 31
TRANSLATE_LENGTH = 41
# make_imagenet_p.py, difficulty 1/2/3 (the `_2`, `_3` folders): Gaussian sigma, Poisson rate, speckle sigma.
NOISE_LEVELS = {"gaussian_noise": (0.03, 0.05, 0.08), "shot_noise": (300, 120, 60),
                "speckle_noise": (0.05, 0.10, 0.15)}
# make_imagenet_p.py motion blur: radius 10, sigma 3, angle (i - 30) * 4 degrees.
MOTION_BLUR = (10, 3)
# make_imagenet_p.py zoom blur: running mean of zooms 1 + 0.004 * i.
ZOOM_STEP = 0.004
# make_imagenet_p.py snow: layer N(0.05, 0.3), zoom 3, threshold 0.5; blur radius 14, sigma 4, angle 4i - 150;
# image mix 0.85.
SNOW = {"loc": 0.05, "scale": 0.3, "zoom": 3, "threshold": 0.5, "radius": 14, "sigma": 4, "mix": 0.85}
# make_imagenet_p.py: brightness V shift (i - 15) * 0.02; rotate / tilt / shear (i - 15) degrees;
# translate (i - 20) px; scale (2.5 i + 40) / 100; gaussian blur sigma 0.25 + 0.035 i (truncate 6).
BRIGHTNESS_STEP = 0.02
GAUSSIAN_BLUR = (0.25, 0.035, 6.0)
# make_imagenet_p.py spatter: layer N(0.65, 0.27) blurred sigma 3.7, zero below 0.69, intensity 0.6; after each
# frame the layer flows down: np.convolve along rows with [0.05, 0.1, 0.15, 0.7], mode "same".
SPATTER = {"loc": 0.65, "scale": 0.27, "sigma": 3.7, "threshold": 0.69, "intensity": 0.6}
SPATTER_FLOW = (0.05, 0.1, 0.15, 0.7)


def release_length(name: str) -> int:
    """Frames per sequence in the release: 41 for translate, 31 for the others."""
    return TRANSLATE_LENGTH if name == "translate" else RELEASE_LENGTH


def frame_parameters(name: str, length: int | None = None) -> Tensor:
    """The per-frame parameter of `name` for frames `i = 0..length-1` as float64 `(length,)` (make_imagenet_p.py):
    angle in degrees (motion_blur, rotate, tilt, shear, and snow's blur), zoom (zoom_blur), scale, V shift
    (brightness), horizontal shift in pixels, positive to the right (translate), sigma (gaussian_blur), flow
    steps (spatter); noises: 0 for the clean frame 0, then 1."""
    i = torch.arange(release_length(name) if length is None else length, dtype=torch.float64)
    formulas = {
        "motion_blur": (i - 30) * 4, "zoom_blur": 1 + ZOOM_STEP * i, "snow": i * 4 - 150,
        "brightness": (i - 15) * BRIGHTNESS_STEP, "translate": i - 20, "rotate": i - 15, "tilt": i - 15,
        "scale": (i * 2.5 + 40) / 100, "gaussian_blur": GAUSSIAN_BLUR[0] + GAUSSIAN_BLUR[1] * i, "shear": i - 15,
        "spatter": i,
    }
    return formulas.get(name, (i > 0).to(torch.float64))


def _affine_inverse(angle: float, scale: float, shear: float) -> Tensor:
    """3x3 float64 map from output to input pixel coordinates centred on the image (torchvision `affine`
    convention: rotation by `angle` degrees clockwise on screen, x-shear by `shear` degrees, about the centre)."""
    rot, sx = math.radians(angle), math.radians(shear)
    # forward RSS = R(rot) * Shear_x(sx) * scale; its inverse (det of R * Shear is 1)
    a, b = math.cos(rot), -math.cos(rot) * math.tan(sx) - math.sin(rot)
    c, d = math.sin(rot), -math.sin(rot) * math.tan(sx) + math.cos(rot)
    return torch.tensor([[d, -b, 0.0], [-c, a, 0.0], [0.0, 0.0, scale]], dtype=torch.float64) / scale


def _tilt_inverse(angle: float, h: int, w: int) -> Tensor:
    """3x3 float64 inverse of make_imagenet_p.py's tilt homography `P2 T RX RY P1` (x and y rotated by `angle`
    degrees, focal length = image diagonal), in centred pixel coordinates."""
    phi = theta = math.radians(angle)
    f = math.hypot(w, h)
    p1 = torch.tensor([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1], [0, 0, 1]], dtype=torch.float64)
    rx = torch.tensor([[1, 0, 0, 0], [0, math.cos(theta), -math.sin(theta), 0],
                       [0, math.sin(theta), math.cos(theta), 0], [0, 0, 0, 1]], dtype=torch.float64)
    ry = torch.tensor([[math.cos(phi), 0, -math.sin(phi), 0], [0, 1, 0, 0],
                       [math.sin(phi), 0, math.cos(phi), 0], [0, 0, 0, 1]], dtype=torch.float64)
    t = torch.tensor([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, f], [0, 0, 0, 1]], dtype=torch.float64)
    p2 = torch.tensor([[f, 0, w / 2, 0], [0, f, h / 2, 0], [0, 0, 1, 0]], dtype=torch.float64)
    # cv2.warpPerspective works in pixel coordinates with integer centres; move to centred ones
    centre = torch.tensor([[1, 0, (w - 1) / 2], [0, 1, (h - 1) / 2], [0, 0, 1]], dtype=torch.float64)
    return torch.linalg.inv(centre.inverse() @ p2 @ t @ rx @ ry @ p1 @ centre)


def _warp(images: Tensor, inverses: Tensor, top: int, left: int, size: tuple[int, int]) -> Tensor:
    """Sample the `size` window at `(top, left)` of each image warped by each frame's inverse map.

    `images` float `(N, C, H, W)`, `inverses` float64 `(T, 3, 3)` (output -> input, centred pixel coordinates,
    projective). Bilinear, zeros outside. Returns `(N, T, C, h, w)`.
    """
    n, c, h, w = images.shape
    out_h, out_w = size
    # only the (T, 3, 3) matrices cross to the device; the grid is built there
    inverses = inverses.to(images.device, torch.float32)
    ys = torch.arange(top, top + out_h, device=images.device, dtype=torch.float32) - (h - 1) / 2
    xs = torch.arange(left, left + out_w, device=images.device, dtype=torch.float32) - (w - 1) / 2
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], dim=-1)  # (h, w, 3)
    source = torch.einsum("tij,hwj->thwi", inverses, points)
    source = source[..., :2] / source[..., 2:]
    # centred pixel coordinates -> grid_sample's [-1, 1] with align_corners=False (pixel edges at +-1)
    grid = source / torch.tensor([w / 2, h / 2], device=images.device)
    t = inverses.shape[0]
    flat = images.reshape(1, n * c, h, w).expand(t, n * c, h, w)
    frames = F.grid_sample(flat, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return frames.view(t, n, c, out_h, out_w).transpose(0, 1)


def _centre_window(h: int, w: int, size: tuple[int, int]) -> tuple[int, int]:
    """(top, left) of torchvision's `CenterCrop(size)` on an `h x w` image."""
    return round((h - size[0]) / 2.0), round((w - size[1]) / 2.0)


def _geometric(x: Tensor, name: str, params: Tensor, size: tuple[int, int]) -> Tensor:
    n, c, h, w = x.shape
    top, left = _centre_window(h, w, size)
    if name == "translate":  # integer shifts: exact, as PIL's translation
        shifts = params.to(torch.int64).to(x.device)
        t = len(shifts)
        source = torch.arange(n, device=x.device).repeat_interleave(t)
        tops = torch.full((n * t,), top, device=x.device)
        frames = windows(x, tops, left - shifts.repeat(n), size[0], size[1], index=source)
        return frames.view(n, t, c, *size)
    if name == "tilt":
        inverses = torch.stack([_tilt_inverse(float(a), h, w) for a in params])
    else:
        angle = {"rotate": params}.get(name, torch.zeros_like(params))
        shear = {"shear": params}.get(name, torch.zeros_like(params))
        scale = params if name in ("scale", "zoom_blur") else torch.ones_like(params)
        inverses = torch.stack([_affine_inverse(float(a), float(s), float(sh))
                                for a, s, sh in zip(angle, scale, shear)])
    frames = _warp(x, inverses, top, left, size)
    if name == "zoom_blur":  # running mean over the zooms so far (frame 0 is the clean crop)
        counts = torch.arange(1, len(params) + 1, device=x.device, dtype=x.dtype).view(1, -1, 1, 1, 1)
        frames = frames.cumsum(dim=1) / counts
    return frames


def _snow_frames(x: Tensor, angles: Tensor, gens: list[torch.Generator]) -> Tensor:
    n, _, h, w = x.shape
    layer = per_image_normal(gens, (1, h, w), x.device) * SNOW["scale"] + SNOW["loc"]
    layer = zoom_center(layer, SNOW["zoom"])
    layer = torch.where(layer < SNOW["threshold"], torch.zeros_like(layer), layer)
    layer = (layer.clamp(0, 1) * 255).floor() / 255  # the release stores the layer as an 8-bit PNG
    t = len(angles)
    per_frame = angles.to(x.device, x.dtype).repeat(n)
    moving = motion_blur(layer.repeat_interleave(t, dim=0), SNOW["radius"], SNOW["sigma"], per_frame)
    return blend_snow(x[:, None], ((moving * 255).round() / 255).view(n, t, 1, h, w), SNOW["mix"])


def _spatter_frames(x: Tensor, length: int, gens: list[torch.Generator]) -> Tensor:
    n, c, h, w = x.shape
    liquid = per_image_normal(gens, (1, h, w), x.device) * SPATTER["scale"] + SPATTER["loc"]
    liquid = gaussian_blur2d(liquid, SPATTER["sigma"])
    liquid = torch.where(liquid < SPATTER["threshold"], torch.zeros_like(liquid), liquid)[:, 0]
    # np.convolve(column, k, "same")[i] = sum_j k[j] * column[i + 1 - j]: a correlation with k reversed
    flow = torch.tensor(SPATTER_FLOW[::-1], dtype=x.dtype, device=x.device).view(1, 1, 4, 1)
    layers = []
    for _ in range(length):
        layers.append(liquid)
        liquid = F.conv2d(F.pad(liquid[:, None], (0, 0, 2, 1)), flow)[:, 0]
    layers = torch.stack(layers, dim=1).reshape(n * length, h, w)
    frames = water_spatter(x.repeat_interleave(length, dim=0), layers, SPATTER["intensity"])
    return frames.view(n, length, c, h, w)


def _photometric(x: Tensor, name: str, params: Tensor, difficulty: int,
                 generator: torch.Generator | None) -> Tensor:
    n, c, h, w = x.shape
    t = len(params)
    per_frame = params.to(x.device, x.dtype)
    if name in NOISE_PERTURBATIONS:
        level = NOISE_LEVELS[name][difficulty - 1]
        gens = image_generators(generator, n, x.device)
        clean = x[:, None].expand(n, t - 1, c, h, w)
        if name == "shot_noise":
            noisy = per_image_poisson(gens, clean * level) / level
        else:
            noise = per_image_normal(gens, (t - 1, c, h, w), x.device) * level
            noisy = clean + (noise * clean if name == "speckle_noise" else noise)
        return torch.cat([x[:, None], noisy.clamp(0, 1)], dim=1)
    if name == "brightness":
        hsv = rgb_to_hsv(x)[:, None].repeat(1, t, 1, 1, 1)
        hsv[:, :, 2] = (hsv[:, :, 2] + per_frame.view(1, t, 1, 1)).clamp(0, 1)
        return hsv_to_rgb(hsv.flatten(0, 1)).view(n, t, c, h, w)
    if name == "motion_blur":
        frames = motion_blur(x.repeat_interleave(t, dim=0), *MOTION_BLUR, per_frame.repeat(n))
        return frames.view(n, t, c, h, w)
    if name == "gaussian_blur":
        frames = [gaussian_blur2d(x, float(sigma), truncate=GAUSSIAN_BLUR[2]) for sigma in params]
        return torch.stack(frames, dim=1)
    if name == "snow":
        return _snow_frames(x, params, image_generators(generator, n, x.device))
    return _spatter_frames(x, t, image_generators(generator, n, x.device))


def perturbation_sequence(images: Tensor, name: str, *, length: int | None = None, difficulty: int = 1,
                          generator: torch.Generator | None = None, out_size: int | tuple[int, int] | None = None
                          ) -> Tensor:
    """ImageNet-P frames of perturbation `name` for a batch of images.

    `images`: uint8 `(N, 3, H, W)` or float in [0, 1], any device. `length`: the first `length` frames of the
    release sequence (default all: 31, translate 41). `difficulty` 1-3 for the noises (release folders `name`,
    `name_2`, `name_3`), else 1. `out_size`: centre crop of the output (`224` with Resize(256) inputs reproduces
    the release); geometric perturbations warp the full input before cropping. Randomness (noises, snow layer,
    spatter layer) is drawn per image from `generator`; noise frames 1.. are i.i.d., frame 0 is clean.
    Returns `(N, T, 3, h, w)` in the input's dtype and device; uint8 frames are truncated to 8 bits as the
    release's `np.uint8(...)` / `ToPILImage` did, float frames are not quantised.
    """
    PERTURBATIONS.check([name])
    full = release_length(name)
    length = full if length is None else length
    if not 1 <= length <= full:
        raise UsageError(f"{name} sequences have at most {full} frames, got length={length}")
    if difficulty != 1 and (name not in NOISE_PERTURBATIONS or difficulty not in (2, 3)):
        raise UsageError(f"difficulty must be 1, 2 or 3 for {', '.join(NOISE_PERTURBATIONS)} and 1 otherwise; "
                         f"got {difficulty} for {name}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise UsageError(f"images must be (N, 3, H, W), got shape {tuple(images.shape)}")
    h, w = images.shape[2:]
    size = (h, w) if out_size is None else (out_size, out_size) if isinstance(out_size, int) else tuple(out_size)
    if size[0] > h or size[1] > w:
        raise UsageError(f"out_size {size} is larger than the images ({h}x{w})")
    x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    params = frame_parameters(name, length)
    if name in GEOMETRIC_PERTURBATIONS:
        frames = _geometric(x, name, params, size)
    else:
        top, left = _centre_window(h, w, size)
        frames = _photometric(x[:, :, top:top + size[0], left:left + size[1]], name, params, difficulty, generator)
    if images.dtype == torch.uint8:
        return torch.floor(frames.clamp(0, 1) * 255 + QUANTISATION_TOLERANCE).to(torch.uint8)
    return frames.to(images.dtype)
