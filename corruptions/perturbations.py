"""ImageNet-P and CIFAR-10-P perturbation sequences as batched torch functions.

`perturbation_sequence(images, name)` turns `(N, 3, H, W)` images into `(N, T, 3, h, w)` frame sequences with the
operations, per-frame parameters and lengths of hendrycks/robustness `ImageNet-P/create_p/make_imagenet_p.py`
(Hendrycks & Dietterich, ICLR 2019; `preset="imagenet"`) or `make_cifar_p.py` (`preset="cifar"`, for 32 px
images; constants in `corruptions.perturbation_presets`).

ImageNet-P perturbs the whole Resize(256) image and then takes CenterCrop(224). Pass the whole image and
`out_size=224`, or, to batch images of different sizes, canvases that are `CenterCrop((S, S))` of them (zero
padded; `S = source_window(224)` holds every pixel a frame reads) with their whole sizes in `sizes`. The
geometric perturbations (zoom_blur, translate, rotate, tilt, scale, shear) warp the whole image as the release's
torchvision 0.2-0.4 / Pillow and OpenCV calls did (`corruptions._warp`), then crop; the others crop, then perturb.

Differences from the release: motion_blur and snow use imagecorruptions' NumPy-style motion-blur kernel
(`corruptions._ops.motion_blur`) where the release called ImageMagick; random draws come from torch generators;
frames are not H.264-encoded (the release's MP4s are). `corruptions/FIDELITY.md` has the PSNR of every frame
against a transcription of the release code.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from corruptions import _warp
from corruptions._ops import gaussian_blur2d, hsv_to_rgb, motion_blur, rgb_to_hsv, zoom_center
from corruptions._random import Seeds, check_seeds, image_seeds, per_image_normal, per_image_poisson, seed_generators
from corruptions.names import DIFFICULTIES, NOISE_PERTURBATIONS, PERTURBATIONS, RANDOM_PERTURBATIONS
from corruptions.perturbation_presets import DEFAULT_LENGTH, PERTURBATION_PRESETS, PerturbationPreset
from corruptions.presets import check_preset
from corruptions.registry import QUANTISATION_TOLERANCE
from corruptions.shift import windows
from corruptions.weather import blend_snow, water_spatter
from robustbench_lift.errors import UsageError

GEOMETRIC_PERTURBATIONS = ("zoom_blur", "translate", "rotate", "tilt", "scale", "shear")
# The release's last 8-bit step: ImageMagick (motion_blur) and OpenCV (tilt) round, the others truncate
# (np.uint8, ToPILImage, Pillow).
ROUNDED = frozenset({"motion_blur", "tilt"})


def release_length(name: str, preset: str = "imagenet") -> int:
    """Frames per sequence in the release: ImageNet-P 41 for translate, else 31; CIFAR-10-P 16 for translate,
    21 for motion_blur, else 31."""
    return PERTURBATION_PRESETS[check_preset(preset)].lengths.get(name, DEFAULT_LENGTH)


def frame_parameters(name: str, length: int | None = None, preset: str = "imagenet") -> Tensor:
    """The per-frame parameter of `name` for frames `i = 0..length-1` as float64 `(length,)` (see
    `PerturbationPreset.frames`); spatter: flow steps `i`; noises: 0 for the clean frame 0, then 1."""
    i = torch.arange(release_length(name, preset) if length is None else length, dtype=torch.float64)
    formula = PERTURBATION_PRESETS[preset].frames.get(name)
    if formula is not None:
        return formula(i)
    return i if name == "spatter" else (i > 0).to(torch.float64)


def source_window(out_size: int, preset: str = "imagenet") -> int:
    """Side `S` of the centred square of a whole image that holds every pixel the centre `out_size` crop of any
    frame reads (the zoom-out of `scale` reaches furthest): `CenterCrop((S, S))` canvases with `sizes` give the
    frames of the whole images. 562 for ImageNet-P's 224."""
    return _warp.source_window(out_size, PERTURBATION_PRESETS[check_preset(preset)].min_scale)


def _inverse_maps(name: str, params: list[float]) -> _warp.InverseMaps:
    if name == "tilt":
        return lambda h, w: torch.stack([_warp.tilt_inverse(p, h, w) for p in params])
    keys = {"rotate": "angle", "shear": "shear", "translate": "shift", "scale": "scale", "zoom_blur": "scale"}
    kwargs = [{"angle": 0.0, "scale": 1.0, "shear": 0.0, "shift": 0.0, keys[name]: p} for p in params]
    return lambda h, w: torch.stack([_warp.affine_inverse(**k, h=h, w=w) for k in kwargs])


def _geometric(x: Tensor, sizes: Tensor, name: str, params: Tensor, out: tuple[int, int], eight_bit: bool) -> Tensor:
    library = _warp.OPENCV if name == "tilt" else _warp.PILLOW
    mode = "nearest" if name == "translate" else "bilinear"  # torchvision 0.2-0.4's default resample is NEAREST
    frames = _warp.warp_frames(x, sizes, _inverse_maps(name, params.tolist()), out, library, mode)
    if name == "zoom_blur":  # running mean of the (8-bit) zooms so far; frame 0 is the plain crop
        if eight_bit:
            frames = torch.floor(frames * 255 + QUANTISATION_TOLERANCE) / 255
        counts = torch.arange(1, len(params) + 1, device=x.device, dtype=x.dtype).view(1, -1, 1, 1, 1)
        frames = frames.cumsum(dim=1) / counts
    return frames


def _snow_frames(x: Tensor, angles: Tensor, gens: list[torch.Generator], preset: PerturbationPreset) -> Tensor:
    n, _, h, w = x.shape
    snow = preset.snow
    layer = per_image_normal(gens, (1, h, w), x.device) * snow.scale + snow.loc
    layer = zoom_center(layer, snow.zoom, trim_centred=True)
    layer = torch.where(layer < snow.threshold, torch.zeros_like(layer), layer)
    layer = (layer.clamp(0, 1) * 255).floor() / 255  # the release stores the layer as an 8-bit PNG
    t = len(angles)
    per_frame = angles.to(x.device, x.dtype).repeat(n)
    moving = motion_blur(layer.repeat_interleave(t, dim=0), snow.radius, snow.sigma, per_frame)
    return blend_snow(x[:, None], ((moving * 255).round() / 255).view(n, t, 1, h, w), snow.mix)


def _spatter_frames(x: Tensor, length: int, gens: list[torch.Generator], preset: PerturbationPreset) -> Tensor:
    n, c, h, w = x.shape
    spatter = preset.spatter
    liquid = per_image_normal(gens, (1, h, w), x.device) * spatter.scale + spatter.loc
    liquid = gaussian_blur2d(liquid, spatter.sigma)
    liquid = torch.where(liquid < spatter.threshold, torch.zeros_like(liquid), liquid)[:, 0]
    # np.convolve(column, k, "same")[i] = sum_j k[j] * column[i + (m - 1) // 2 - j], m = len(k): a correlation
    # with k reversed, zero padded by m - 1 - (m - 1) // 2 rows above and (m - 1) // 2 below
    m = len(spatter.flow)
    flow = torch.tensor(spatter.flow[::-1], dtype=x.dtype, device=x.device).view(1, 1, m, 1)
    layers = []
    for _ in range(length):
        layers.append(liquid)
        liquid = F.conv2d(F.pad(liquid[:, None], (0, 0, m - 1 - (m - 1) // 2, (m - 1) // 2)), flow)[:, 0]
    layers = torch.stack(layers, dim=1).reshape(n * length, h, w)
    frames = water_spatter(x.repeat_interleave(length, dim=0), layers, spatter.intensity)
    return frames.view(n, length, c, h, w)


def _photometric(x: Tensor, name: str, params: Tensor, difficulty: int, seeds: list[int] | None,
                 preset: PerturbationPreset) -> Tensor:
    n, c, h, w = x.shape
    t = len(params)
    per_frame = params.to(x.device, x.dtype)
    if name in NOISE_PERTURBATIONS:
        level = preset.noise[name][difficulty - 1]
        gens = seed_generators(seeds, x.device)
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
        frames = motion_blur(x.repeat_interleave(t, dim=0), *preset.motion_blur, per_frame.repeat(n))
        return frames.view(n, t, c, h, w)
    if name == "gaussian_blur":
        frames = [gaussian_blur2d(x, float(sigma), truncate=preset.blur_truncate) for sigma in params]
        return torch.stack(frames, dim=1)
    if name == "snow":
        return _snow_frames(x, params, seed_generators(seeds, x.device), preset)
    return _spatter_frames(x, t, seed_generators(seeds, x.device), preset)


def _check(images: Tensor, name: str, length: int | None, difficulty: int, sizes: Tensor | None,
           preset: str) -> int:
    """Validate the arguments of `perturbation_sequence`; return the number of frames."""
    PERTURBATIONS.check([name])
    full = release_length(name, preset)
    length = full if length is None else length
    if not 1 <= length <= full:
        raise UsageError(f"{name} sequences have at most {full} frames, got length={length}")
    if difficulty not in DIFFICULTIES:
        raise UsageError(f"difficulty must be 1, 2 or 3, got {difficulty}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise UsageError(f"images must be (N, 3, H, W), got shape {tuple(images.shape)}")
    if sizes is not None and (sizes.shape != (images.shape[0], 2) or sizes.is_floating_point() or sizes.min() < 1):
        raise UsageError(f"sizes must be integer (N, 2) = (height, width) of each whole image, N = {images.shape[0]}; "
                         f"got {sizes.dtype} {tuple(sizes.shape)}")
    return length


def perturbation_sequence(images: Tensor, name: str, *, length: int | None = None, difficulty: int = 1,
                          seeds: Seeds | None = None, generator: torch.Generator | None = None,
                          out_size: int | tuple[int, int] | None = None, sizes: Tensor | None = None,
                          preset: str = "imagenet") -> Tensor:
    """Frames of perturbation `name` for a batch of images.

    `images`: uint8 `(N, 3, H, W)` or float in [0, 1], any device: whole images, or with `sizes` (int `(N, 2)`,
    the (height, width) of each whole image) canvases that are torchvision's `CenterCrop((H, W))` of them.
    `length`: the first `length` frames of the release sequence (default all, `release_length`). `difficulty`
    1-3: the noise level of the noises (release folders `name`, `name_2`, `name_3`); the other perturbations have
    one sequence, scored at step `difficulty` (`robustbench_lift.metrics.perturbation.pair_step`). `out_size`:
    the centre crop of each whole image taken after (geometric) or before (the others) perturbing, as the release does
    (default: the whole image; ImageNet-P: Resize(256) inputs and 224). `preset`: `"imagenet"` or `"cifar"`.
    Randomness (noises, snow layer, spatter layer) is drawn per image from a generator seeded with its seed,
    `seeds` `(N,)`, or without them with one seed per image drawn from `generator` (torch's global one when
    `None`); noise frames 1.. are i.i.d., frame 0 is clean. Returns `(N, T, 3, h, w)` in the input's dtype and
    device; uint8 frames are quantised as the release's last 8-bit step (`ROUNDED`: rounded, else truncated),
    float frames are not.
    """
    length = _check(images, name, length, difficulty, sizes, check_preset(preset))
    n, _, height, width = images.shape
    if sizes is None:
        sizes = torch.tensor([[height, width]], device=images.device).expand(n, 2)
    sizes = sizes.to(images.device, torch.int64)
    out = (None if out_size is None else (out_size, out_size) if isinstance(out_size, int) else tuple(out_size))
    if out is None:
        if (sizes != sizes[:1]).any():
            raise UsageError("images of different sizes need an out_size (the centre crop every frame is cut to)")
        out = tuple(sizes[0].tolist())
    if out[0] > height or out[1] > width:
        raise UsageError(f"out_size {out} is larger than the images ({height}x{width})")
    if seeds is not None and generator is not None:
        raise UsageError("pass seeds (one per image) or a generator to draw them from, not both")
    if seeds is not None:
        seeds = check_seeds(seeds, n)
    elif name in RANDOM_PERTURBATIONS:
        seeds = image_seeds(generator, n)
    x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    params = frame_parameters(name, length, preset)
    if name in GEOMETRIC_PERTURBATIONS:
        frames = _geometric(x, sizes, name, params, out, images.dtype == torch.uint8)
    else:
        offsets = _warp.canvas_offsets(sizes, (height, width))
        tops, lefts = (offsets + torch.round((sizes - torch.tensor(out, device=sizes.device)).double() / 2)
                       .to(torch.int64)).unbind(1)
        crops = windows(x, tops, lefts, *out)
        frames = _photometric(crops, name, params, difficulty, seeds, PERTURBATION_PRESETS[preset])
    if images.dtype == torch.uint8:
        scaled = frames.clamp(0, 1) * 255
        return (scaled.round() if name in ROUNDED else torch.floor(scaled + QUANTISATION_TOLERANCE)).to(torch.uint8)
    return frames.to(images.dtype)
