"""Shift transforms for shift consistency (Zhang, ICML 2019, "Making Convolutional Networks Shift-Invariant Again").

Pure batched functions over `(N, C, H, W)` tensors of any dtype on any device:

- `shift(images, dx, dy, mode=...)`: move the content by `(dx, dy)` pixels (per image if tensors are given);
- `random_crop_pairs(images, crop_size, ...)`: the protocol of antialiased-cnns `main.py -es`: pairs of
  `crop_size` crops at offsets drawn uniformly from `{0..max_offset-1}` per axis, here drawn **per image** from a
  seeded generator (the reference shares one offset pair per batch of 8, unseeded), so the score does not depend
  on the batch size;
- `diagonal_shifts(images, max_shift, crop_size, ...)`: the diagonal curve of `main.py -ed` (crops at `(k, k)`,
  `k = 0..max_shift`), also for 32x32 CIFAR inputs through zero-fill or circular shifts.

Modes: `"circular"` wraps content around the border (`torch.roll`); `"crop"` is a non-circular shift, the
content leaving one side is lost and zeros enter on the other, which is what cropping a window out of a
zero-padded image gives.
"""

from collections.abc import Sequence

import torch
from torch import Tensor

from corruptions._random import image_seeds
from robustbench_lift.errors import UsageError

SHIFT_MODES = ("circular", "crop")

# antialiased-cnns `main.py`: Resize(256) -> CenterCrop(256), crops of 224 at offsets in {0..31} per axis.
ZHANG_CROP_SIZE = 224
ZHANG_MAX_OFFSET = 32


def _check_mode(mode: str) -> None:
    if mode not in SHIFT_MODES:
        raise UsageError(f"unknown shift mode {mode!r}: expected one of {', '.join(SHIFT_MODES)}")


def _per_image(value: int | Tensor, n: int, device: torch.device) -> Tensor:
    """An int or `(N,)` integer tensor as an int64 `(N,)` tensor on `device`."""
    value = torch.as_tensor(value, device=device)
    if value.is_floating_point():
        raise UsageError(f"shifts must be integers, got dtype {value.dtype}")
    return value.to(torch.int64).expand(n) if value.ndim == 0 else value.to(torch.int64).reshape(n)


def windows(images: Tensor, top: Tensor, left: Tensor, height: int, width: int, *, index: Tensor | None = None,
            circular: bool = False) -> Tensor:
    """Windows `images[index[m], :, top[m]:top[m]+height, left[m]:left[m]+width]`, shape `(M, C, height, width)`.

    `top`, `left`, `index`: int64 `(M,)` on the images' device (`index` defaults to `0..N-1`, one window per
    image). Out-of-range rows/columns wrap around when `circular`, else read as zeros. One gather of whole pixels
    from a channels-last view (a copy only if `images` is not channels-last already); the result is
    channels-last in memory.
    """
    n, c, h, w = images.shape
    m = top.shape[0]
    device = images.device
    index = torch.arange(n, device=device) if index is None else index
    rows = top.view(m, 1) + torch.arange(height, device=device)
    cols = left.view(m, 1) + torch.arange(width, device=device)
    if circular:
        rows, cols = rows % h, cols % w
    pixel = ((index.view(m, 1, 1) * h + rows.clamp(0, h - 1).view(m, height, 1)) * w
             + cols.clamp(0, w - 1).view(m, 1, width))
    out = images.permute(0, 2, 3, 1).reshape(n * h * w, c)[pixel.view(-1)].view(m, height, width, c)
    if not circular:
        inside = ((rows >= 0) & (rows < h)).view(m, height, 1, 1) & ((cols >= 0) & (cols < w)).view(m, 1, width, 1)
        out = out.masked_fill(~inside, 0)
    return out.permute(0, 3, 1, 2)


def shift(images: Tensor, dx: int | Tensor, dy: int | Tensor, *, mode: str = "circular") -> Tensor:
    """Shift `(N, C, H, W)` content right by `dx` and down by `dy` pixels; same shape, dtype and device.

    `dx`, `dy`: ints or int `(N,)` tensors (one shift per image). `out[n, :, y, x] = images[n, :, y - dy, x - dx]`,
    indices taken modulo the size for `mode="circular"` (= `torch.roll`), zeros outside for `mode="crop"`.
    """
    _check_mode(mode)
    n = images.shape[0]
    dx, dy = _per_image(dx, n, images.device), _per_image(dy, n, images.device)
    return windows(images, -dy, -dx, images.shape[2], images.shape[3], circular=mode == "circular")


def crop_pair_offsets(seeds: Sequence[int], n_pairs: int, max_offset: int) -> Tensor:
    """int64 `(N, n_pairs, 2, 2)` = `[image, pair, crop a/b, (row, col)]` offsets uniform in `{0..max_offset-1}`,
    image i's drawn on the CPU from a generator seeded with `seeds[i]` (so they do not depend on the device)."""
    return torch.stack([torch.randint(max_offset, (n_pairs, 2, 2), generator=torch.Generator().manual_seed(seed))
                        for seed in seeds]) if len(seeds) else torch.zeros(0, n_pairs, 2, 2, dtype=torch.int64)


def crop_pairs(images: Tensor, offsets: Tensor, crop_size: int, *, circular: bool = False) -> Tensor:
    """The crops of `offsets` (`(N, P, 2, 2)`, as `crop_pair_offsets`): `(N, P, 2, C, crop_size, crop_size)`,
    `[image, pair, crop a/b]`; windows past the border read zeros or wrap around (`circular`), see `windows`."""
    n, c = images.shape[:2]
    n_pairs = offsets.shape[1]
    flat = offsets.to(images.device).reshape(n * n_pairs * 2, 2)
    source = torch.arange(n, device=images.device).repeat_interleave(n_pairs * 2)
    crops = windows(images, flat[:, 0], flat[:, 1], crop_size, crop_size, index=source, circular=circular)
    return crops.view(n, n_pairs, 2, c, crop_size, crop_size)


def random_crop_pairs(images: Tensor, crop_size: int = ZHANG_CROP_SIZE, *, n_pairs: int = 5,
                      max_offset: int = ZHANG_MAX_OFFSET,
                      generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Pairs of random crops for shift consistency (Zhang 2019), offsets drawn per image.

    `images`: `(N, C, S, S')` with `crop_size + max_offset - 1 <= min(S, S')` (Zhang: 256 images, 224 crops,
    offsets in `{0..31}`). Each image draws `n_pairs * 4` offsets (row and column of both crops) uniformly from
    `{0..max_offset-1}` with its own generator, seeded by one draw of `generator` per image
    (`corruptions._random`): an image's offsets depend on the generator and the image's position in the
    stream, not on the batch size. (The shift suite seeds each image's generator from its index instead:
    `crop_pair_offsets` + `crop_pairs`.)

    Returns `(crops_a, crops_b, offsets)`: crops `(N, n_pairs, C, crop_size, crop_size)` (input dtype/device) and
    int64 offsets `(N, n_pairs, 2, 2)` = `[image, pair, crop a/b, (row, col)]`.
    """
    n, c, h, w = images.shape
    if crop_size + max_offset - 1 > min(h, w):
        raise UsageError(f"crops of {crop_size} at offsets < {max_offset} need images of at least "
                         f"{crop_size + max_offset - 1} px, got {h}x{w}")
    offsets = crop_pair_offsets(image_seeds(generator, n), n_pairs, max_offset).to(images.device)
    crops = crop_pairs(images, offsets, crop_size)
    return crops[:, :, 0], crops[:, :, 1], offsets


def default_max_shift(size: int) -> int:
    """Largest diagonal shift for inputs of `size` px: `size // 8` (antialiased-cnns: 32 for 256 px inputs)."""
    return max(1, size // 8)


def diagonal_shifts(images: Tensor, max_shift: int | None = None, crop_size: int | None = None, *,
                    mode: str = "crop", shifts: Sequence[int] | None = None) -> Tensor:
    """Crops at `(k, k)`, `k = 0..max_shift`, for the diagonal-shift curve (antialiased-cnns `main.py -ed`).

    `images`: `(N, C, H, W)`. `max_shift` defaults to `default_max_shift(min(H, W))`; `crop_size` to `min(H, W)`
    (CIFAR: 32 px inputs shifted in place). The reference protocol is 256 px inputs, `max_shift=32`,
    `crop_size=224`. Crop `k` is the window at `(k, k)`; where it runs past the image it wraps
    (`mode="circular"`) or reads zeros (`mode="crop"`), so crop `k` of a full-size crop equals
    `shift(images, -k, -k, mode=mode)`. Returns `(N, max_shift + 1, C, crop_size, crop_size)`, or with `shifts`
(values in `0..max_shift`) only those crops, `(N, len(shifts), C, crop_size, crop_size)`.
    """
    _check_mode(mode)
    n, c, h, w = images.shape
    side = min(h, w)
    max_shift = default_max_shift(side) if max_shift is None else max_shift
    crop_size = side if crop_size is None else crop_size
    if max_shift < 0 or not 0 < crop_size <= side:
        raise UsageError(f"diagonal shifts need 0 <= max_shift and 0 < crop_size <= {side}, "
                         f"got max_shift={max_shift}, crop_size={crop_size}")
    chosen = torch.arange(max_shift + 1) if shifts is None else torch.as_tensor(list(shifts), dtype=torch.int64)
    if len(chosen) and not 0 <= int(chosen.min()) <= int(chosen.max()) <= max_shift:
        raise UsageError(f"diagonal shifts must be in 0..{max_shift}, got {chosen.tolist()}")
    k = chosen.to(images.device).repeat(n)
    source = torch.arange(n, device=images.device).repeat_interleave(len(chosen))
    crops = windows(images, k, k, crop_size, crop_size, index=source, circular=mode == "circular")
    return crops.view(n, len(chosen), c, crop_size, crop_size)
