"""Batched torch versions of the OpenCV operations that imagecorruptions' `spatter` chains together.

Each works on `(N, H, W)` tensors on any device and reproduces OpenCV 4's definition (sources: OpenCV
`imgproc/src/canny.cpp`, `distransform.cpp`, `histogram.cpp` (equalizeHist), `filter.dispatch.cpp`; border
`BORDER_REFLECT_101` unless noted). Integer images are carried as float tensors holding integer values.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

# OpenCV canny.cpp: tan(22.5 deg) and tan(67.5 deg) = tan(22.5) + 2 bound the three direction sectors.
_TAN_22_5 = math.tan(math.radians(22.5))
_TAN_67_5 = _TAN_22_5 + 2.0


def _shifted(padded: Tensor, dy: int, dx: int, h: int, w: int) -> Tensor:
    """The `(N, H, W)` window of a 1-pixel padded `(N, H+2, W+2)` map moved by `(dy, dx)`."""
    return padded[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]


def correlate3x3(image: Tensor, kernel: tuple[tuple[float, ...], ...], border: str) -> Tensor:
    """3x3 correlation (OpenCV `filter2D`, no kernel flip) of `(N, H, W)` float with a constant `kernel`.

    A sum of shifted views: faster than a one-channel `conv2d` on the CPU, and the kernel stays on the host.
    """
    h, w = image.shape[1:]
    padded = F.pad(image[:, None], (1, 1, 1, 1), mode=border)[:, 0]
    out = torch.zeros_like(image)
    for i, row in enumerate(kernel):
        for j, weight in enumerate(row):
            if weight:
                out += weight * padded[:, i:i + h, j:j + w]
    return out


def correlate_separable3(image: Tensor, column: tuple[float, float, float], row: tuple[float, float, float],
                         border: str) -> Tensor:
    """`correlate3x3` with the kernel `outer(column, row)`, in two 1-D passes."""
    h, w = image.shape[1:]
    padded = F.pad(image[:, None], (1, 1, 1, 1), mode=border)[:, 0]
    rows = sum(weight * padded[:, :, j:j + w] for j, weight in enumerate(row) if weight)
    return sum(weight * rows[:, i:i + h] for i, weight in enumerate(column) if weight)


def box_blur3(image: Tensor) -> Tensor:
    """`cv2.blur(image, (3, 3))` on float data: 3x3 mean, reflect-101 border."""
    return correlate_separable3(image, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), "reflect") / 9


def _dilate3x3(mask: Tensor) -> Tensor:
    """8-neighbourhood dilation of a bool `(N, H, W)` mask (outside counts as False)."""
    padded = F.pad(mask, (1, 1, 1, 1))
    rows = padded[:, :, :-2] | padded[:, :, 1:-1] | padded[:, :, 2:]
    return rows[:, :-2] | rows[:, 1:-1] | rows[:, 2:]


def canny(image: Tensor, low: float, high: float) -> Tensor:
    """`cv2.Canny(image_u8, low, high)` (aperture 3, L1 gradient) as a bool edge map `(N, H, W)`.

    Sobel gradients with replicated borders, magnitude `|dx| + |dy|`, non-maximum suppression in the gradient
    direction quantised to 0/45/90/135 degrees with OpenCV's tie rules, then hysteresis: a pixel above `low`
    that survives suppression is an edge if it is connected (8-neighbourhood) to one above `high`.
    """
    h, w = image.shape[1:]
    smooth, derive = (1.0, 2.0, 1.0), (-1.0, 0.0, 1.0)  # the 3x3 Sobel kernels are outer products of these
    dx = correlate_separable3(image, smooth, derive, "replicate")
    dy = correlate_separable3(image, derive, smooth, "replicate")
    mag = dx.abs() + dy.abs()
    padded = F.pad(mag, (1, 1, 1, 1))  # canny.cpp keeps a zero magnitude ring around the image
    ax, ay = dx.abs(), dy.abs()
    horizontal = ay < ax * _TAN_22_5
    vertical = ay > ax * _TAN_67_5
    same_sign = (dx * dy) >= 0  # canny.cpp: s = (xs ^ ys) < 0 ? -1 : 1
    keep_h = (mag > _shifted(padded, 0, -1, h, w)) & (mag >= _shifted(padded, 0, 1, h, w))
    keep_v = (mag > _shifted(padded, -1, 0, h, w)) & (mag >= _shifted(padded, 1, 0, h, w))
    keep_d_pos = (mag > _shifted(padded, -1, -1, h, w)) & (mag > _shifted(padded, 1, 1, h, w))
    keep_d_neg = (mag > _shifted(padded, -1, 1, h, w)) & (mag > _shifted(padded, 1, -1, h, w))
    keep_d = torch.where(same_sign, keep_d_pos, keep_d_neg)
    candidate = (mag > low) & torch.where(horizontal, keep_h, torch.where(vertical, keep_v, keep_d))
    edges = candidate & (mag > high)
    return _hysteresis(edges, candidate)


def _hysteresis(strong: Tensor, candidate: Tensor) -> Tensor:
    """Grow `strong` through 8-connected `candidate` pixels until nothing changes.

    The loop checks convergence every 8 dilations: one device-to-host flag per 8 steps, not per step.
    """
    edges = strong
    while True:
        previous = edges
        for _ in range(8):
            edges = candidate & _dilate3x3(edges) | strong
        if torch.equal(edges, previous):
            return edges


def distance_to_edges(edges: Tensor, limit: int) -> Tensor:
    """Euclidean distance `(N, H, W)` of every pixel to the nearest `True` pixel of `edges`, capped at `limit`.

    Stands in for `cv2.distanceTransform(255 - edges, cv2.DIST_L2, 5)` followed by a truncation at `limit`:
    OpenCV's 5x5 chamfer mask approximates this exact distance within about 2%. Computed separably: the
    distance along each row from running max/min scans of edge positions, then a column pass over squared
    distances within the `limit` window, so it is exact below the cap.
    """
    n, h, w = edges.shape
    far = float(limit + 1)
    position = torch.arange(w, device=edges.device, dtype=torch.float32).expand(n, h, w)
    inf = torch.full_like(position, math.inf)
    last_left = torch.where(edges, position, -inf).cummax(dim=2).values
    first_right = torch.where(edges, position, inf).flip(2).cummin(dim=2).values.flip(2)
    row = torch.minimum(position - last_left, first_right - position).clamp(max=far)
    row_sq = F.pad(row.square(), (0, 0, limit, limit), value=far * far)
    dist_sq = row.square()
    nearer = torch.empty_like(dist_sq)
    for d in range(1, limit + 1):  # rows d above and d below share the d^2 term
        torch.minimum(row_sq[:, limit - d:limit - d + h], row_sq[:, limit + d:limit + d + h], out=nearer)
        torch.minimum(dist_sq, nearer.add_(d * d), out=dist_sq)
    return dist_sq.sqrt_().clamp_(max=limit)


def equalize_hist(image: Tensor) -> Tensor:
    """`cv2.equalizeHist` per image of `(N, H, W)` integer-valued floats in 0..255; returns the same kind.

    OpenCV: with `i0` the smallest value present, `lut[i0] = 0` and
    `lut[i] = round(255 * (count(values in (i0, i]) ) / (H*W - count(i0)))`; a constant image maps to itself.
    """
    n, h, w = image.shape
    values = image.reshape(n, -1).to(torch.int64)
    offsets = torch.arange(n, device=image.device)[:, None] * 256
    hist = torch.bincount((values + offsets).reshape(-1), minlength=n * 256).view(n, 256).to(torch.float32)
    present = hist > 0
    first = present.to(torch.int64).argmax(dim=1, keepdim=True)
    first_count = hist.gather(1, first)
    cdf = hist.cumsum(dim=1) - first_count
    scale = 255.0 / (h * w - first_count).clamp(min=1)
    lut = (cdf * scale).round().clamp(0, 255)
    constant = first_count == h * w
    lut = torch.where(constant, first.to(torch.float32).expand(n, 256), lut)
    return lut.gather(1, values).view(n, h, w)
