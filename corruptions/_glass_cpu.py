"""glass_blur on the CPU as one compiled loop per image (numba, which imagecorruptions itself uses for this
corruption), the same arithmetic as the batched torch path of `corruptions.blur` bit for bit.

The batched path needs ~100 tensor passes per image (blur taps, pointer-doubling rounds, gathers); here each
image is blurred, truncated, shuffled by the reference's own sequential loop and blurred again while it stays
in cache. Bit-exactness with the torch path rests on the same float32 operations in the same order: each
Gaussian tap is one fused multiply-add (`fastmath={"contract"}`, as ATen's vectorised `add(alpha=)`), vertical
pass then horizontal, edge ("nearest") padding. `tests/test_glass_cpu.py` checks the two paths equal.
"""

import numba
import numpy as np

_COMPILE = {"fastmath": {"contract"}, "nogil": True, "cache": True}


@numba.njit(**_COMPILE)
def _gaussian_nearest(src: np.ndarray, kernel: np.ndarray, dst: np.ndarray) -> None:
    """`dst` = `src` `(C, H, W)` correlated with the odd 1-D `kernel` along H then W, edge padding."""
    channels, h, w = src.shape
    taps = kernel.shape[0]
    r = taps // 2
    row = np.empty(w + 2 * r, np.float32)
    body = row[r:r + w]  # inner loops index from 0 only: LLVM vectorises them (no wrap-around checks)
    for c in range(channels):
        for i in range(h):
            top = src[c, min(max(i - r, 0), h - 1)]
            for j in range(w):
                body[j] = top[j] * kernel[0]
            for t in range(1, taps):
                source, weight = src[c, min(max(i - r + t, 0), h - 1)], kernel[t]
                for j in range(w):
                    body[j] = body[j] + source[j] * weight
            row[:r], row[r + w:] = row[r], row[r + w - 1]
            line = dst[c, i]
            for j in range(w):
                line[j] = row[j] * kernel[0]
            for t in range(1, taps):
                shifted, weight = row[t:t + w], kernel[t]
                for j in range(w):
                    line[j] = line[j] + shifted[j] * weight


@numba.njit(**_COMPILE)
def glass_blur_images(images: np.ndarray, kernel: np.ndarray, codes: np.ndarray, max_delta: int,
                      out: np.ndarray) -> None:
    """glass_blur of float32 `images` `(N, C, H, W)` into `out`: Gaussian `kernel`, truncation to 8 bits, one
    pass of the reference's loop per `codes[:, k]` (int32 `(N, P, H, W)`, `(dy + d) 2d + dx + d`, `d =
    max_delta`): every pixel `d < row <= H - d` (same for columns) in reverse raster order takes the value at
    `(row + dy, col + dx)`, then the Gaussian again, clipped to [0, 1]."""
    n, channels, h, w = images.shape
    span = 2 * max_delta
    scale, low, high = np.float32(255), np.float32(0), np.float32(1)
    # a code's source as an offset into the flattened image
    offsets = np.array([(code // span - max_delta) * w + code % span - max_delta for code in range(span * span)])
    blurred, shuffled = np.empty((channels, h * w), np.float32), np.empty((channels, h, w), np.float32)
    flat, planes, sources = blurred.reshape(-1), shuffled.reshape(channels, h * w), np.empty(h * w, np.int32)
    for i in range(n):
        _gaussian_nearest(images[i], kernel, blurred.reshape(channels, h, w))
        for j in range(flat.size):
            flat[j] = np.floor(flat[j] * scale) / scale
        # the loop moves pixel indices (one per pixel, not one per channel), the pixels follow in one gather
        for j in range(h * w):
            sources[j] = j
        for k in range(codes.shape[1]):
            pass_codes = codes[i, k].reshape(-1)
            for y in range(h - max_delta, max_delta, -1):
                for x in range(w - max_delta, max_delta, -1):
                    p = y * w + x
                    sources[p] = sources[p + offsets[pass_codes[p]]]
        for c in range(channels):
            plane, picked = blurred[c], planes[c]
            for j in range(h * w):
                picked[j] = plane[sources[j]]
        _gaussian_nearest(shuffled, kernel, out[i])
        result = out[i].reshape(-1)
        for j in range(result.size):
            result[j] = min(max(result[j], low), high)
