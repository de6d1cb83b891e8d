"""Whole-image warps of the ImageNet-P / CIFAR-10-P geometric perturbations, sampled as the release sampled them.

hendrycks/robustness `make_imagenet_p.py` warps the whole Resize(256) image and then takes CenterCrop(224)
(`make_cifar_p.py`: the whole 32 px image, no crop). Both ran in 2018-19 with torchvision 0.2-0.4 (one `affine` in
all of them) and OpenCV:

- zoom_blur, translate, rotate, scale, shear: torchvision's `affine` on PIL images, i.e. Pillow's
  `Image.transform(AFFINE)` with the inverse of `C T RSS C^-1`, where `C` puts the centre at `(w/2 + 1/2,
  h/2 + 1/2)` in Pillow's continuous coordinates (pixel k spans [k, k + 1)) and
  `RSS = scale * [[cos a, -sin(a + s)], [sin a, cos(a + s)]]` (angle `a`, shear `s`; clockwise on screen).
  Later torchvision versions moved the centre by half a pixel and changed the shear matrix, so today's
  `TF.affine` is not the release's. Pillow samples at pixel centres: a point outside the image is 0, a point
  inside is interpolated (bilinear; nearest for translate) with the edge pixels repeated; 8-bit results are
  truncated.
- tilt: OpenCV's `warpPerspective` with the release's homography (bilinear, constant 0 border, i.e. neighbours
  outside the image count as 0; 8-bit results rounded). Source coordinates in floating point, as the OpenCV
  installed here (5.x) computes them; older OpenCV (as in 2018) rounded them to 1/32 pixel (`INTER_BITS`), a
  shift < 1/64 px.

Images arrive as canvases `(N, C, H, W)`: each is torchvision's `CenterCrop((H, W))` of a whole image of size
`sizes[n]` (zero padding where the image is smaller, its centre window where larger). Warping reads the image
in its own coordinates, so the canvas only has to hold every pixel a frame can reach (`source_window`).
"""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

PILLOW, OPENCV = "pillow", "opencv"
InverseMaps = Callable[[int, int], Tensor]
"""`(h, w) -> float64 (T, 3, 3)`: per frame, the map from output to input pixel indices of an `h x w` image
(pixel centres at integers, projective)."""


def canvas_offsets(sizes: Tensor, canvas: tuple[int, int]) -> Tensor:
    """int64 `(N, 2)`: the canvas row and column of pixel (0, 0) of each image of size `sizes` `(N, 2)` when the
    canvas is torchvision's `CenterCrop(canvas)` of it (pad `(canvas - size) // 2` before, or crop from
    `round((size - canvas) / 2)`, Python's half-to-even rounding)."""
    side = torch.tensor(canvas, dtype=torch.int64, device=sizes.device)
    cropped = -torch.round((sizes - side).double() / 2).to(torch.int64)
    return torch.where(side > sizes, torch.div(side - sizes, 2, rounding_mode="floor"), cropped)


def centre_window(size: tuple[int, int], out: tuple[int, int]) -> tuple[int, int]:
    """(top, left) of torchvision's `CenterCrop(out)` on an image of `size` (negative: zero padding)."""
    return round((size[0] - out[0]) / 2.0), round((size[1] - out[1]) / 2.0)


def affine_inverse(angle: float, scale: float, shear: float, shift: float, h: int, w: int) -> Tensor:
    """float64 `(3, 3)` output -> input pixel-index map of torchvision 0.2-0.4's `affine(img, angle, (shift, 0),
    scale, shear)` on an `h x w` image (module docstring). Pillow's centre `w/2 + 1/2` is pixel index `w/2`."""
    a, s = math.radians(angle), math.radians(shear)
    rss = scale * torch.tensor([[math.cos(a), -math.sin(a + s)], [math.sin(a), math.cos(a + s)]], dtype=torch.float64)
    inverse = torch.linalg.inv(rss)
    centre = torch.tensor([w / 2, h / 2], dtype=torch.float64)
    out = torch.eye(3, dtype=torch.float64)
    out[:2, :2] = inverse
    out[:2, 2] = centre - inverse @ (centre + torch.tensor([shift, 0.0], dtype=torch.float64))
    return out


def tilt_inverse(angle: float, h: int, w: int) -> Tensor:
    """float64 `(3, 3)` inverse of make_imagenet_p.py's tilt homography `P2 T RX RY P1` on an `h x w` image:
    rotations by `angle` degrees about x and y, focal length = the image diagonal, applied by
    `cv2.warpPerspective` to pixel indices."""
    phi = theta = math.radians(angle)
    f = math.hypot(w, h)
    p1 = torch.tensor([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1], [0, 0, 1]], dtype=torch.float64)
    rx = torch.tensor([[1, 0, 0, 0], [0, math.cos(theta), -math.sin(theta), 0],
                       [0, math.sin(theta), math.cos(theta), 0], [0, 0, 0, 1]], dtype=torch.float64)
    ry = torch.tensor([[math.cos(phi), 0, -math.sin(phi), 0], [0, 1, 0, 0],
                       [math.sin(phi), 0, math.cos(phi), 0], [0, 0, 0, 1]], dtype=torch.float64)
    t = torch.tensor([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, f], [0, 0, 0, 1]], dtype=torch.float64)
    p2 = torch.tensor([[f, 0, w / 2, 0], [0, f, h / 2, 0], [0, 0, 1, 0]], dtype=torch.float64)
    return torch.linalg.inv(p2 @ t @ rx @ ry @ p1)


def _grid(maps: Tensor, size: tuple[int, int], out: tuple[int, int], offset: Tensor, canvas: tuple[int, int],
          library: str) -> tuple[Tensor, Tensor | None]:
    """grid_sample grid `(T, oh, ow, 2)` over the canvas and, for Pillow, the inside-the-image mask."""
    (h, w), (oh, ow) = size, out
    top, left = centre_window(size, out)
    device = offset.device
    ys = torch.arange(top, top + oh, device=device, dtype=torch.float64)
    xs = torch.arange(left, left + ow, device=device, dtype=torch.float64)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1)
    source = torch.einsum("tij,hwj->thwi", maps.to(device), points)
    source = source[..., :2] / source[..., 2:]
    limit = torch.tensor([w, h], device=device, dtype=torch.float64)
    mask = None
    if library == PILLOW:
        mask = ((source + 0.5 >= 0) & (source + 0.5 < limit)).all(dim=-1)
        source = torch.minimum(source.clamp(min=0), limit - 1)
    # image pixel index -> canvas index -> grid_sample's [-1, 1] (align_corners=False)
    sides = torch.tensor([canvas[1], canvas[0]], device=device, dtype=torch.float64)
    grid = (2 * (source + offset.flip(0)) + 1) / sides - 1
    return grid.float(), mask


def warp_frames(canvases: Tensor, sizes: Tensor, maps: InverseMaps, out: tuple[int, int], library: str,
                mode: str = "bilinear") -> Tensor:
    """Frames `(N, T, C, oh, ow)` of float canvases `(N, C, H, W)` whose images have `sizes` int64 `(N, 2)`:
    each image warped by `maps(h, w)` as `library` samples (`"pillow"` or `"opencv"`, module docstring), then
    its centre `out` window. Images of one size share one sampling grid."""
    n, c, height, width = canvases.shape
    offsets = canvas_offsets(sizes, (height, width))
    rows = torch.arange(height, device=canvases.device)
    cols = torch.arange(width, device=canvases.device)
    result = None
    for size in torch.unique(sizes, dim=0).tolist():
        index = (sizes == torch.tensor(size, device=sizes.device)).all(dim=1).nonzero()[:, 0]
        offset = offsets[index[0]]
        grid, mask = _grid(maps(*size), tuple(size), out, offset, (height, width), library)
        # zero everything outside the image: neighbours outside it count as 0 (OpenCV's constant border)
        inside = (((rows - offset[0]) >= 0) & ((rows - offset[0]) < size[0]))[:, None] & \
                 (((cols - offset[1]) >= 0) & ((cols - offset[1]) < size[1]))[None, :]
        group = (canvases[index] * inside).reshape(1, len(index) * c, height, width)
        t = grid.shape[0]
        frames = F.grid_sample(group.expand(t, -1, -1, -1), grid, mode=mode, padding_mode="zeros",
                               align_corners=False)
        if mask is not None:
            frames = frames * mask[:, None]
        frames = frames.view(t, len(index), c, *out).transpose(0, 1)
        if result is None:
            result = canvases.new_empty(n, t, c, *out)
        result[index] = frames
    return result


def source_window(out_size: int, min_scale: float) -> int:
    """Side of the centred square of an image that holds every pixel a centre `out_size` crop of its frames
    reads, when the frames zoom out to `min_scale` at most: output pixels lie within `out_size / 2 + 1` of the
    centre (odd sizes put the crop half a pixel off it), so sources within that / `min_scale`, plus the half
    pixel between Pillow's centre and the image's and the bilinear neighbour. Rotation, shear, translation and
    tilt (at most 150 px for a 224 crop of a 256 px image) reach less."""
    return 2 * math.ceil((out_size / 2 + 1) / min_scale + 2)
