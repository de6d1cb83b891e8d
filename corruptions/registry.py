"""Dispatch of the corruptions: `corrupt(images, name, severity, ...)` on the torch or the reference backend.

Names, families and subsets live in `corruptions.names`. The other benchmarks' corruptions (`names.BENCHMARKS`:
3dcc, cbar) are not in imagecorruptions and have their own constants only: torch backend, preset "imagenet".
"""

import inspect
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
from torch import Tensor

from corruptions._ops import image_chunks
from corruptions._random import Seeds, check_seeds, first_draws, image_seeds
from corruptions.names import BENCHMARKS, CORRUPTIONS, severities_of
from corruptions.presets import check_preset
from corruptions.reference import MIN_SIZE, corrupt_reference
from robustbench_lift.errors import UsageError

CorruptionFn = Callable[[Tensor, int, Sequence[int]], Tensor]
"""`fn(x, severity, seeds, *, preset, **options)`: float `(N, 3, H, W)` in [0, 1], one seed per image."""

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


def check_severity(severity: int, name: str) -> int:
    """Return `severity` if it is one of corruption `name`'s (`severities_of`: 1..5, or its level indices), else
    raise UsageError."""
    allowed = severities_of(name)
    if isinstance(severity, bool) or not isinstance(severity, int) or severity not in allowed:
        raise UsageError(f"severity must be an integer from 1 to {allowed[-1]} for {name}, got {severity!r}")
    return severity


def resolve_backend(backend: str, name: str, device: torch.device, preset: str = "imagenet") -> str:
    """"torch" or "reference" for `backend` ("auto" picks the faster one for `name` on `device`; the reference,
    imagecorruptions, has only the `"imagenet"` preset's constants and none of the other benchmarks)."""
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    benchmark = CORRUPTIONS.metadata(name)["family"] if name in CORRUPTIONS else None
    if benchmark in BENCHMARKS:
        if backend == "reference":
            raise UsageError(f"corruption {name!r} ({benchmark}) is not in imagecorruptions, the reference "
                             "backend: use backend 'torch' or 'auto'")
        if check_preset(preset) != "imagenet":
            raise UsageError(f"corruption {name!r} ({benchmark}) has its benchmark's constants only, no "
                             f"{preset!r} preset: use preset 'imagenet'")
        return "torch"
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


@dataclass(frozen=True)
class Corruption:
    """Corruption `name` at `severity`, resolved once (name, severity, options, and `backend` for a device and
    preset, see `resolve_corruption`): calling it with a batch and one seed per image corrupts the batch."""

    name: str
    severity: int
    backend: str
    preset: str
    options: tuple[tuple[str, object], ...] = ()

    def __call__(self, images: Tensor, seeds: Seeds) -> Tensor:
        """uint8 `(N, 3, H, W)` (0-255) or float (0-1) `images`, `seeds` `(N,)` -> same dtype, shape and device
        (see `corrupt`)."""
        _check_images(images)
        seeds = check_seeds(seeds, images.shape[0])
        if self.backend == "reference":
            levels = images if images.dtype == torch.uint8 else (images.float() * 255).round().clamp(0, 255).byte()
            out = corrupt_reference(levels, self.name, self.severity, seeds)
        else:
            out = _corrupt_torch(CORRUPTIONS.get(self.name), images, self.severity, seeds,
                                 {**dict(self.options), "preset": self.preset})
        return out if images.dtype == torch.uint8 else (out.to(torch.float32) / 255).to(images.dtype)


def resolve_corruption(name: str, severity: int, *, backend: str = "torch", device: torch.device | str = "cpu",
                       preset: str = "imagenet", **options) -> Corruption:
    """`Corruption` `name` at `severity` with `backend` resolved for `device` (`resolve_backend`), validated once
    (UsageError for an unknown name, severity, backend, preset or option): resolve a cell once, then call it on
    every batch."""
    CORRUPTIONS.check([name])
    check_severity(severity, name)
    chosen = resolve_backend(backend, name, torch.device(device), preset)
    unknown = sorted(set(options) - set(inspect.signature(CORRUPTIONS.get(name)).parameters)
                     - {"x", "severity", "seeds", "preset"})
    if unknown or (options and chosen == "reference"):
        raise UsageError(f"corruption {name!r} with backend {chosen!r} takes no option(s) {sorted(options)}")
    return Corruption(name, severity, chosen, preset, tuple(sorted(options.items())))


def corrupt(images: Tensor, name: str, severity: int, seeds: Seeds | None = None, *,
            generator: torch.Generator | None = None, backend: str = "torch", preset: str = "imagenet",
            **options) -> Tensor:
    """Corrupt a batch with corruption `name` at `severity` (1-5; a level index 1..n for subset "freq"):
    ImageNet-C's 19, 3DCC's, ImageNet-C-bar's or model-vs-human's.

    `images`: uint8 `(N, 3, H, W)` (0-255) or float (0-1), H, W >= 32, any device. Returns the same dtype, shape
    and device; values are on the 8-bit grid (float results truncated to 8 bits like imagecorruptions' uint8
    output, floats returned as level / 255). `seeds`: one integer per image `(N,)`; image i's randomness comes from
    `seeds[i]` alone, so its corruption depends on neither its batch nor the device's RNG. Without `seeds`, one
    seed per image is drawn from `generator` (torch's global generator when `None`), so an image's corruption
    depends on its position in the sequence of images corrupted with that generator, not on the batch size.
    `backend`: "torch" (batched, any device), "reference" (imagecorruptions on the CPU, image by image), "auto"
    (the faster on this device). `preset`: the per-severity constants, `"imagenet"` (ImageNet-C) or `"cifar"`
    (CIFAR-10-C, for 32 px images; torch backend), see `corruptions.presets`. `options`: extra keywords of the
    torch function (e.g. `frost_images=6` for frost), torch backend only. Many batches of one corruption:
    `resolve_corruption` once, then call it.
    """
    _check_images(images)
    if seeds is not None and generator is not None:
        raise UsageError("pass seeds (one per image) or a generator to draw them from, not both")
    corruption = resolve_corruption(name, severity, backend=backend, device=images.device, preset=preset, **options)
    return corruption(images, image_seeds(generator, images.shape[0]) if seeds is None else seeds)


def _corrupt_torch(function: CorruptionFn, images: Tensor, severity: int, seeds: list[int], options: dict) -> Tensor:
    """uint8 result of the torch `function`.

    Image i draws from a generator seeded with the first draw of a CPU generator seeded with `seeds[i]`
    (`first_draws`): the streams every image has been corrupted with so far (the reference seeds NumPy with
    `seeds[i]` itself). Accelerators take the whole batch at once. On the CPU the batch runs in cache-sized
    chunks (one 224 px image, or many small ones: `image_chunks`), spread over `torch.get_num_threads()` Python
    threads that each run single-threaded torch ops: intra-op threads on one small image cost more than they
    gain, and stall badly when other processes share the CPU.
    """
    out = torch.empty(images.shape, dtype=torch.uint8, device=images.device)
    streams = first_draws(seeds)
    # Inference and grad modes are thread-local: worker threads must run in the caller's mode, or writing into
    # an `out` made under inference_mode fails.
    inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()

    def run(part: slice) -> None:
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            x = images[part].float().div_(255) if images.dtype == torch.uint8 else images[part].float()
            result = function(x, severity, streams[part], **options)
            out[part] = result.clamp(0, 1).mul_(255).add_(QUANTISATION_TOLERANCE).floor_()

    parts = image_chunks(images)
    threads = torch.get_num_threads()
    workers = min(threads, len(parts))
    if workers == 1:
        list(map(run, parts))
        return out
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, parts))
    finally:
        torch.set_num_threads(threads)
    return out
