"""Names, groupings and dispatch of the ImageNet-C corruptions: `get_corruption_names` and `corrupt`.

Names, order and subsets are those of imagecorruptions (`imagecorruptions/__init__.py`, imaug fork 1.1.5):
the 15 ImageNet-C corruptions in four families, then the 4 extra (validation) ones.
"""

import difflib
import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

from corruptions import blur, digital, noise, weather
from corruptions._ops import image_chunks
from corruptions._random import image_seeds
from corruptions.presets import check_preset
from corruptions.reference import MIN_SIZE, corrupt_reference
from robustbench_lift.errors import UsageError

CorruptionFn = Callable[[Tensor, int, torch.Generator | None], Tensor]

# imagecorruptions `corruption_tuple` order: noise (3), blur (4), weather (4), digital (4), then validation (4).
CORRUPTIONS: dict[str, CorruptionFn] = {
    "gaussian_noise": noise.gaussian_noise, "shot_noise": noise.shot_noise, "impulse_noise": noise.impulse_noise,
    "defocus_blur": blur.defocus_blur, "glass_blur": blur.glass_blur, "motion_blur": blur.motion_blur,
    "zoom_blur": blur.zoom_blur,
    "snow": weather.snow, "frost": weather.frost, "fog": weather.fog, "brightness": digital.brightness,
    "contrast": digital.contrast, "elastic_transform": digital.elastic_transform, "pixelate": digital.pixelate,
    "jpeg_compression": digital.jpeg_compression,
    "speckle_noise": noise.speckle_noise, "gaussian_blur": blur.gaussian_blur, "spatter": weather.spatter,
    "saturate": digital.saturate,
}
_NAMES = tuple(CORRUPTIONS)
# imagecorruptions `get_corruption_names`: slices of `corruption_tuple`.
SUBSETS: dict[str, tuple[str, ...]] = {
    "common": _NAMES[:15], "validation": _NAMES[15:], "all": _NAMES, "noise": _NAMES[0:3], "blur": _NAMES[3:7],
    "weather": _NAMES[7:11], "digital": _NAMES[11:15],
}
# No randomness for a given image (REFERENCE.md); the others draw per-image random numbers.
DETERMINISTIC = ("brightness", "contrast", "saturate", "defocus_blur", "gaussian_blur", "zoom_blur", "pixelate",
                 "jpeg_compression")
SEVERITIES = (1, 2, 3, 4, 5)
BACKENDS = ("torch", "reference", "auto")
# `auto` on the CPU: corruptions whose reference implementation is faster than the torch one at 224 x 224,
# batch 64 (benchmarks/bench_corruptions.py). On other devices `auto` always means torch.
# Measured (one core, 224 px, CPU time): defocus_blur 0.26x (cv2.filter2D convolves via the DFT, here a dense
# 17x17-21x21 depthwise convolution), pixelate 0.6x and jpeg_compression 0.8-1.0x (Pillow / libjpeg on one small
# image beat per-image torch overheads). All three are deterministic and agree with the torch backend (pixelate and
# jpeg bit for bit, defocus_blur >= 60 dB), so `auto` changes the speed, not the results.
REFERENCE_FASTER_ON_CPU: frozenset[str] = frozenset({"defocus_blur", "pixelate", "jpeg_compression"})
# Float results are truncated to 8 bits like imagecorruptions' `np.uint8(...)`; the tolerance keeps float32
# rounding of an exact level (e.g. 200/255 * 255 = 199.99998) on that level.
QUANTISATION_TOLERANCE = 1e-3


def get_corruption_names(subset: str = "common") -> list[str]:
    """Corruption names of `subset`: "common" (the 15 of ImageNet-C), "validation" (the 4 extra), "all", or a
    family: "noise", "blur", "weather", "digital" (same lists and order as imagecorruptions)."""
    if subset not in SUBSETS:
        raise UsageError(f"unknown corruption subset {subset!r}: expected one of {', '.join(SUBSETS)}")
    return list(SUBSETS[subset])


def check_name(name: str) -> str:
    """Return `name` if it is a corruption, else raise UsageError naming the closest ones."""
    if name not in CORRUPTIONS:
        close = difflib.get_close_matches(str(name), _NAMES, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UsageError(f"unknown corruption {name!r}: expected one of {', '.join(_NAMES)}{hint}")
    return name


def check_severity(severity: int) -> int:
    """Return `severity` if it is an int in 1..5, else raise UsageError."""
    if isinstance(severity, bool) or not isinstance(severity, int) or severity not in SEVERITIES:
        raise UsageError(f"severity must be an integer from 1 to 5, got {severity!r}")
    return severity


def resolve_backend(backend: str, name: str, device: torch.device, preset: str = "imagenet") -> str:
    """"torch" or "reference" for `backend` ("auto" picks the faster one for `name` on `device`; the reference,
    imagecorruptions, has only the `"imagenet"` preset's constants)."""
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if check_preset(preset) != "imagenet":
        if backend == "reference":
            raise UsageError(f"the reference backend (imagecorruptions) has only ImageNet-C constants, not the "
                             f"{preset!r} preset: use backend 'torch' or 'auto'")
        return "torch"
    if backend != "auto":
        return backend
    return "reference" if device.type == "cpu" and name in REFERENCE_FASTER_ON_CPU else "torch"


def _check_images(images: Tensor) -> None:
    if not isinstance(images, Tensor):
        raise UsageError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise UsageError(f"images must have shape (N, 3, H, W), got {tuple(images.shape)}")
    if min(images.shape[2:]) < MIN_SIZE:
        raise UsageError(f"images must be at least {MIN_SIZE}x{MIN_SIZE} (as imagecorruptions), "
                         f"got {images.shape[2]}x{images.shape[3]}")
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise UsageError(f"images must be uint8 (0-255) or float (0-1), got dtype {images.dtype}")


def corrupt(images: Tensor, name: str, severity: int, *, generator: torch.Generator | None = None,
            backend: str = "torch", preset: str = "imagenet", **options) -> Tensor:
    """Corrupt a batch with ImageNet-C corruption `name` at `severity` (1-5).

    `images`: uint8 `(N, 3, H, W)` (0-255) or float (0-1), H, W >= 32, any device. Returns the same dtype, shape
    and device; values are on the 8-bit grid (float results truncated to 8 bits like imagecorruptions' uint8
    output, floats returned as level / 255). Random corruptions draw one seed per image from `generator` (torch's
    global generator when `None`), so an image's corruption depends on its position in the sequence of images
    corrupted with that generator, not on the batch size. `backend`: "torch" (batched, any device),
    "reference" (imagecorruptions on the CPU, image by image), "auto" (the faster on this device). `preset`:
    the per-severity constants, `"imagenet"` (ImageNet-C) or `"cifar"` (CIFAR-10-C, for 32 px images; torch
    backend), see `corruptions.presets`. `options`: extra keywords of the torch function (e.g. `frost_images=6`
    for frost), torch backend only.
    """
    check_name(name)
    check_severity(severity)
    _check_images(images)
    chosen = resolve_backend(backend, name, images.device, preset)
    function = CORRUPTIONS[name]
    unknown = sorted(set(options) - set(inspect.signature(function).parameters)
                     - {"x", "severity", "generator", "preset"})
    if unknown or (options and chosen == "reference"):
        raise UsageError(f"corruption {name!r} with backend {chosen!r} takes no option(s) {sorted(options)}")
    if chosen == "reference":
        levels = images if images.dtype == torch.uint8 else (images.float() * 255).round().clamp(0, 255).byte()
        out = corrupt_reference(levels, name, severity, generator)
    else:
        out = _corrupt_torch(function, images, severity, generator, {**options, "preset": preset})
    return out if images.dtype == torch.uint8 else (out.to(torch.float32) / 255).to(images.dtype)


def _corrupt_torch(function: CorruptionFn, images: Tensor, severity: int, generator: torch.Generator | None,
                   options: dict) -> Tensor:
    """uint8 result of the torch `function`.

    Accelerators take the whole batch at once. On the CPU every image runs on its own (in cache, see
    `image_chunks`) with a generator seeded by one draw of `generator` per image, in batch order (so results do
    not depend on the batch size), spread over `torch.get_num_threads()` Python threads that each run
    single-threaded torch ops: intra-op threads on one small image cost more than they gain, and stall badly
    when other processes share the CPU.
    """
    out = torch.empty(images.shape, dtype=torch.uint8, device=images.device)
    # Inference and grad modes are thread-local: worker threads must run in the caller's mode, or writing into
    # an `out` made under inference_mode fails.
    inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()

    def run(part: slice, part_generator: torch.Generator | None) -> None:
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            x = images[part].float().div_(255) if images.dtype == torch.uint8 else images[part].float()
            result = function(x, severity, part_generator, **options)
            out[part] = result.clamp(0, 1).mul_(255).add_(QUANTISATION_TOLERANCE).floor_()

    if images.device.type != "cpu":
        run(slice(None), generator)
        return out
    parts = image_chunks(images.shape[0], images.device)
    generators = [torch.Generator().manual_seed(seed) for seed in image_seeds(generator, len(parts))]
    workers = torch.get_num_threads()
    if workers == 1:
        list(map(run, parts, generators))
        return out
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, parts, generators))
    finally:
        torch.set_num_threads(workers)
    return out
