"""A NumPy / Pillow / OpenCV transcription of the release's perturbation sequences, written for the tests.

hendrycks/robustness `ImageNet-P/create_p/make_imagenet_p.py` (whole Resize(256) image -> perturb ->
CenterCrop(224)) and `make_cifar_p.py` (the whole 32 px image), re-written here from the published scripts with
their constants, libraries and 8-bit steps, independently of `corruptions` (shared by
`tests/test_perturbations_release.py` and `scripts/fidelity_p.py`). Stand-ins, as the release's tools are not
available: torchvision 0.2-0.4's `affine` is Pillow's `Image.transform` with the inverse of the matrix that version
documents (`C T RSS C^-1`, centre `(w/2 + 0.5, h/2 + 0.5)`, `RSS = s [[cos a, -sin(a + sh)], [sin a,
cos(a + sh)]]`); ImageMagick's motion blur is imagecorruptions' `_motion_blur` (its NumPy stand-in), rounded to
8 bits as ImageMagick writes PNGs. Random draws are passed in (`draws`), so a sequence can be compared frame by
frame with one made from the same numbers.
"""

import cv2
import numpy as np
from imagecorruptions.corruptions import _motion_blur
from PIL import Image
from scipy.ndimage import zoom as scizoom
from skimage import color
from skimage.filters import gaussian

# name -> (frames, frame i's parameter), from the two scripts
SCHEDULES = {
    "imagenet": {"gaussian_noise": (31, None), "shot_noise": (31, None), "speckle_noise": (31, None),
                 "motion_blur": (31, lambda i: (i - 30) * 4), "zoom_blur": (31, lambda i: 1 + 0.004 * i),
                 "snow": (31, lambda i: i * 4 - 150), "brightness": (31, lambda i: (i - 15) * 2 / 100.),
                 "translate": (41, lambda i: i - 20), "rotate": (31, lambda i: i - 15), "tilt": (31, lambda i: i - 15),
                 "scale": (31, lambda i: (i * 2.5 + 40) / 100.), "gaussian_blur": (31, lambda i: 0.25 + 0.035 * i),
                 "spatter": (31, None), "shear": (31, lambda i: i - 15)},
    "cifar": {"gaussian_noise": (31, None), "shot_noise": (31, None), "speckle_noise": (31, None),
              "motion_blur": (21, lambda i: (i - 20) * 9), "zoom_blur": (31, lambda i: 1 + 0.004 * i),
              "snow": (31, lambda i: i * 4 - 150), "brightness": (31, lambda i: (i - 15) * 1.5 / 100.),
              "translate": (16, lambda i: i - 7), "rotate": (31, lambda i: i - 15),
              "tilt": (31, lambda i: 0.75 * (i - 15)), "scale": (31, lambda i: (i * 2 + 70) / 100.),
              "gaussian_blur": (31, lambda i: 0.3 + 0.015 * i), "spatter": (31, None), "shear": (31, lambda i: i - 15)},
}
NOISE = {"imagenet": {"gaussian_noise": (0.03, 0.05, 0.08), "shot_noise": (300, 120, 60),
                      "speckle_noise": (0.05, 0.10, 0.15)},
         "cifar": {"gaussian_noise": (0.02, 0.04, 0.06), "shot_noise": (700, 400, 200),
                   "speckle_noise": (0.05, 0.07, 0.1)}}
MOTION = {"imagenet": (10, 3), "cifar": (6, 1.8)}
# snow: (zoom, blur radius, blur sigma); layer N(0.05, 0.3), threshold 0.5, image mix 0.85 in both
SNOW = {"imagenet": (3, 14, 4), "cifar": (2, 10, 2)}
TRUNCATE = {"imagenet": 6.0, "cifar": 7.0}
# spatter: (loc, scale, blur sigma, threshold, flow kernel); intensity 0.6 in both
SPATTER = {"imagenet": (0.65, 0.27, 3.7, 0.69, [0.05, 0.1, 0.15, 0.7]), "cifar": (0.6, 0.265, 1.75, 0.7, [0.2, 0.8])}


def resize_shorter(image: np.ndarray, side: int) -> np.ndarray:
    """torchvision 0.2-0.4 `Resize(side)` on a PIL image: shorter side `side`, longer `int(side * long / short)`."""
    h, w = image.shape[:2]
    size = (side, int(side * h / w)) if w < h else (int(side * w / h), side)
    return np.array(Image.fromarray(image).resize(size, Image.BILINEAR))


def centre_crop(image: np.ndarray, crop: int | None) -> np.ndarray:
    """`CenterCrop(crop)` (top `round((h - crop) / 2.)`, half to even); `None`: the image."""
    if crop is None:
        return image
    h, w = image.shape[:2]
    top, left = round((h - crop) / 2.), round((w - crop) / 2.)
    return image[top:top + crop, left:left + crop]


def affine(image: np.ndarray, angle: float = 0., shift: float = 0., scale: float = 1., shear: float = 0.,
           resample: int = Image.NEAREST) -> np.ndarray:
    """torchvision 0.2-0.4 `affine(img, angle, (shift, 0), scale, shear, resample)` (module docstring)."""
    h, w = image.shape[:2]
    a, sh = np.deg2rad(angle), np.deg2rad(shear)
    cx, cy = w * 0.5 + 0.5, h * 0.5 + 0.5
    rss = np.eye(3)
    rss[:2, :2] = scale * np.array([[np.cos(a), -np.sin(a + sh)], [np.sin(a), np.cos(a + sh)]])
    centre = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]])
    forward = np.array([[1, 0, shift], [0, 1, 0], [0, 0, 1]]) @ centre @ rss @ np.linalg.inv(centre)
    inverse = np.linalg.inv(forward)
    pil = Image.fromarray(image)
    return np.array(pil.transform(pil.size, Image.AFFINE, tuple(inverse[:2].ravel()), resample))


def tilt(image: np.ndarray, degrees: float) -> np.ndarray:
    """The release's perspective warp: `cv2.warpPerspective(x, P2 T RX RY P1, (w, h))`."""
    h, w = image.shape[:2]
    phi = theta = np.deg2rad(degrees)
    f = np.sqrt(w ** 2 + h ** 2)
    p1 = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1], [0, 0, 1]])
    rx = np.array([[1, 0, 0, 0], [0, np.cos(theta), -np.sin(theta), 0], [0, np.sin(theta), np.cos(theta), 0],
                   [0, 0, 0, 1]])
    ry = np.array([[np.cos(phi), 0, -np.sin(phi), 0], [0, 1, 0, 0], [np.sin(phi), 0, np.cos(phi), 0], [0, 0, 0, 1]])
    t = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, f], [0, 0, 0, 1]])
    p2 = np.array([[f, 0, w / 2, 0], [0, f, h / 2, 0], [0, 0, 1, 0]])
    return cv2.warpPerspective(image, p2 @ t @ rx @ ry @ p1, (w, h))


def clipped_zoom(layer: np.ndarray, factor: int) -> np.ndarray:
    """The release's `clipped_zoom` of a square `(h, h, 1)` layer: centre `ceil(h / factor)`, zoom, centre trim."""
    h = layer.shape[0]
    ch = int(np.ceil(h / factor))
    top = (h - ch) // 2
    out = scizoom(layer[top:top + ch, top:top + ch], (factor, factor, 1), order=1)
    trim = (out.shape[0] - h) // 2
    return out[trim:trim + h, trim:trim + h]


def imagemagick_motion_blur(image: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    """Stand-in for `MotionImage.motion_blur` on an 8-bit PNG: imagecorruptions' kernel, rounded to 8 bits."""
    return np.clip(np.round(_motion_blur(image.astype(np.float64), radius, sigma, angle)), 0, 255).astype(np.uint8)


def _spatter(x: np.ndarray, noise: np.ndarray, preset: str, frames: int) -> list[np.ndarray]:
    loc, scale, sigma, threshold, flow = SPATTER[preset]
    x = cv2.cvtColor(np.array(x, dtype=np.float32) / 255., cv2.COLOR_BGR2BGRA)
    liquid = gaussian(noise * scale + loc, sigma=sigma)
    liquid[liquid < threshold] = 0
    out = []
    for _ in range(frames):
        liquid_i = (liquid * 255).astype(np.uint8)
        dist = cv2.distanceTransform(255 - cv2.Canny(liquid_i, 50, 150), cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.equalizeHist(cv2.blur(dist, (3, 3)).astype(np.uint8))
        dist = cv2.filter2D(dist, cv2.CV_8U, np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]))
        m = cv2.cvtColor(liquid_i * cv2.blur(dist, (3, 3)).astype(np.float32), cv2.COLOR_GRAY2BGRA)
        m = m / np.max(m, axis=(0, 1)) * 0.6
        water = np.concatenate([v / 255. * np.ones_like(m[..., :1]) for v in (175, 238, 238)], axis=2)  # float32
        water = cv2.cvtColor(water, cv2.COLOR_BGR2BGRA)
        out.append(np.uint8(cv2.cvtColor(np.clip(x + m * water, 0, 1), cv2.COLOR_BGRA2BGR) * 255))
        liquid = np.apply_along_axis(lambda column: np.convolve(column, flow, mode="same"), 0, liquid)
    return out


def spatter_dry(noise: np.ndarray, preset: str, frames: int) -> bool:
    """Whether some frame of the release's spatter sequence from `noise` `(h, w)` has no drop left (its water
    layer is then 0 / 0, NaN: undefined 8-bit frames)."""
    loc, scale, sigma, threshold, flow = SPATTER[preset]
    liquid = gaussian(noise * scale + loc, sigma=sigma)
    liquid[liquid < threshold] = 0
    for _ in range(frames):
        if not (liquid * 255).astype(np.uint8).any():
            return True
        liquid = np.apply_along_axis(lambda column: np.convolve(column, flow, mode="same"), 0, liquid)
    return False


def release_frames(whole: np.ndarray, name: str, preset: str = "imagenet", crop: int | None = 224,
                   difficulty: int = 1, draws: np.ndarray | None = None) -> np.ndarray:
    """uint8 `(T, h, w, 3)`: the release's sequence `name` of the uint8 `(H, W, 3)` whole image (ImageNet-P: the
    Resize(256) image and `crop=224`; CIFAR-10-P: the 32 px image and `crop=None`). `draws`: the random numbers,
    standard normal `(T - 1, h, w, 3)` (gaussian, speckle), Poisson counts `(T - 1, h, w, 3)` (shot), standard
    normal `(h, w)` (snow, spatter layers)."""
    frames, formula = SCHEDULES[preset][name]
    params = [formula(i) for i in range(frames)] if formula else []
    if name in ("translate", "rotate", "scale", "shear"):
        key = {"translate": "shift", "rotate": "angle", "scale": "scale", "shear": "shear"}[name]
        resample = Image.NEAREST if name == "translate" else Image.BILINEAR
        return np.stack([centre_crop(affine(whole, resample=resample, **{key: p}), crop) for p in params])
    if name == "tilt":
        return np.stack([centre_crop(tilt(whole, p), crop) for p in params])
    x = centre_crop(whole, crop)
    if name == "zoom_blur":
        out, total = [x], x.astype(np.float32) / 255
        for i in range(1, frames):
            total += centre_crop(affine(whole, scale=params[i], resample=Image.BILINEAR), crop).astype(np.float32) / 255
            out.append((total / (i + 1) * 255).astype(np.uint8))  # ToPILImage: mul(255).byte()
        return np.stack(out)
    level = NOISE[preset][name][difficulty - 1] if name in NOISE[preset] else None
    if name == "gaussian_noise":
        noisy = np.clip(x.astype(np.float32) / 255 + np.float32(level) * draws, 0, 1)
        return np.concatenate([x[None], (noisy * 255).astype(np.uint8)])
    if name == "shot_noise":
        return np.concatenate([x[None], np.uint8(255 * np.clip(draws / level, 0, 1))])
    if name == "speckle_noise":
        z = x / 255.
        return np.concatenate([x[None], np.uint8(255 * np.clip(z + z * draws * level, 0, 1))])
    if name == "motion_blur":
        return np.stack([imagemagick_motion_blur(x, *MOTION[preset], p) for p in params])
    if name == "brightness":
        out = []
        for c in params:
            hsv = color.rgb2hsv(x / 255.)
            hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
            out.append(np.uint8(color.hsv2rgb(hsv) * 255))
        return np.stack(out)
    if name == "gaussian_blur":
        return np.stack([np.uint8(255 * gaussian(x / 255., sigma=s, channel_axis=-1, truncate=TRUNCATE[preset]))
                         for s in params])
    if name == "snow":
        factor, radius, sigma = SNOW[preset]
        z = x / 255.
        layer = clipped_zoom((draws * 0.3 + 0.05)[..., None], factor)
        layer[layer < 0.5] = 0
        png = (np.clip(layer[..., 0], 0, 1) * 255).astype(np.uint8)
        gray = cv2.cvtColor(np.float32(z), cv2.COLOR_RGB2GRAY)[..., None]
        base = 0.85 * z + (1 - 0.85) * np.maximum(z, gray * 1.5 + 0.5)
        out = []
        for angle in params:
            moving = (imagemagick_motion_blur(png, radius, sigma, angle) / 255.)[..., None]
            out.append(np.uint8(np.clip(base + moving + np.rot90(moving, k=2), 0, 1) * 255))
        return np.stack(out)
    return np.stack(_spatter(x, draws, preset, frames))
