"""ImageNet-P sequences: shapes, determinism and per-frame parameters against independent computations
(scikit-image, OpenCV, torchvision, imagecorruptions and make_imagenet_p.py's own formulas)."""

import math

import cv2
import numpy as np
import pytest
import torch
from conftest import load_photos
from scipy.ndimage import zoom
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from skimage import color
from skimage.filters import gaussian

from corruptions._random import image_seeds, per_image_normal, seed_generators
from corruptions.names import NOISE_PERTURBATIONS, get_perturbation_names
from corruptions.perturbations import frame_parameters, perturbation_sequence
from robustbench_lift.errors import UsageError


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    """Four photographs, uint8 (4, 3, 48, 56): non-square on purpose."""
    return load_photos(56)[:, :, 4:52]


def _float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255


def test_names_lengths_dtype_and_shapes(photos):
    assert get_perturbation_names() == ["gaussian_noise", "shot_noise", "motion_blur", "zoom_blur", "snow",
                                        "brightness", "translate", "rotate", "tilt", "scale"]
    assert get_perturbation_names("validation") == ["speckle_noise", "gaussian_blur", "spatter", "shear"]
    assert len(get_perturbation_names("all")) == 14
    assert set(NOISE_PERTURBATIONS) == {"gaussian_noise", "shot_noise", "speckle_noise"}
    for name in get_perturbation_names("all"):
        frames = perturbation_sequence(photos[:2], name, generator=torch.Generator().manual_seed(0), out_size=40)
        assert frames.shape == (2, 41 if name == "translate" else 31, 3, 40, 40), name
        assert frames.dtype == torch.uint8, name
    floats = perturbation_sequence(_float(photos[:1]).double(), "rotate", length=5)
    assert floats.shape == (1, 5, 3, 48, 56) and floats.dtype == torch.float64


def test_clear_errors():
    images = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    with pytest.raises(UsageError, match="did you mean rotate"):
        perturbation_sequence(images, "rotat")
    with pytest.raises(UsageError, match="at most 31"):
        perturbation_sequence(images, "rotate", length=32)
    with pytest.raises(UsageError, match="difficulty"):
        perturbation_sequence(images, "rotate", difficulty=4)
    with pytest.raises(UsageError, match="larger"):
        perturbation_sequence(images, "rotate", out_size=40)
    with pytest.raises(UsageError, match="sizes must be integer"):
        perturbation_sequence(images, "rotate", sizes=torch.tensor([[32.0, 40.0]]))
    with pytest.raises(UsageError, match="need an out_size"):
        perturbation_sequence(images.expand(2, -1, -1, -1), "rotate", sizes=torch.tensor([[32, 40], [40, 32]]))
    with pytest.raises(UsageError, match="unknown severity preset"):
        perturbation_sequence(images, "rotate", preset="cifar10")
    with pytest.raises(UsageError, match="subset"):
        get_perturbation_names("common")


@pytest.mark.parametrize("name", ["gaussian_noise", "snow", "spatter"])
def test_deterministic_per_seed_and_independent_of_batching(photos, name):
    first = perturbation_sequence(photos, name, length=4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(first, perturbation_sequence(photos, name, length=4, generator=torch.Generator().manual_seed(1)))
    other = perturbation_sequence(photos, name, length=4, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(first, other)
    generator = torch.Generator().manual_seed(1)
    halves = [perturbation_sequence(photos[i:i + 2], name, length=4, generator=generator) for i in (0, 2)]
    assert torch.equal(first, torch.cat(halves))


@pytest.mark.parametrize("name, difficulty", [("gaussian_noise", 1), ("gaussian_noise", 3), ("shot_noise", 2),
                                              ("speckle_noise", 1)])
def test_noise_first_frame_clean_then_iid_noise_of_the_release_level(photos, name, difficulty):
    frames = perturbation_sequence(_float(photos), name, difficulty=difficulty,
                                   generator=torch.Generator().manual_seed(0))
    x = _float(photos)
    assert torch.equal(frames[:, 0], x)
    assert not torch.equal(frames[:, 1], frames[:, 2])
    # make_imagenet_p.py levels, measured on pixels away from the clipping bounds
    level = {"gaussian_noise": (0.03, 0.05, 0.08), "shot_noise": (300, 120, 60),
             "speckle_noise": (0.05, 0.10, 0.15)}[name][difficulty - 1]
    clean = x[:, None].expand_as(frames)[:, 1:]
    residual = frames[:, 1:] - clean
    inside = (clean > 0.3) & (clean < 0.7)
    if name == "gaussian_noise":
        measured, expected = residual[inside].std(), level
    elif name == "speckle_noise":
        measured, expected = (residual / clean)[inside].std(), level
    else:  # Poisson(x * rate) / rate has variance x / rate
        measured, expected = (residual / clean.sqrt())[inside].std(), 1 / math.sqrt(level)
    assert measured.item() == pytest.approx(expected, rel=0.05)


def test_brightness_frames_shift_hsv_value_by_two_percent_per_frame(photos):
    frames = perturbation_sequence(_float(photos[:2]), "brightness").numpy()
    for i in (0, 7, 15, 30):
        for n in range(2):
            hsv = color.rgb2hsv(_float(photos[n]).permute(1, 2, 0).numpy().astype(np.float64))
            hsv[..., 2] = np.clip(hsv[..., 2] + (i - 15) * 0.02, 0, 1)
            expected = color.hsv2rgb(hsv).transpose(2, 0, 1)
            assert np.abs(frames[n, i] - expected).max() < 1e-5, i


def test_gaussian_blur_frames_use_sigma_025_plus_0035_i_truncated_at_6(photos):
    frames = perturbation_sequence(_float(photos[:1]), "gaussian_blur").numpy()
    image = _float(photos[0]).permute(1, 2, 0).numpy().astype(np.float64)
    for i in (0, 10, 30):
        expected = gaussian(image, sigma=0.25 + 0.035 * i, truncate=6.0, channel_axis=-1).transpose(2, 0, 1)
        assert np.abs(frames[0, i] - expected).max() < 1e-5, i


def test_motion_blur_frames_follow_the_angle_schedule(photos):
    from imagecorruptions.corruptions import _motion_blur

    frames = perturbation_sequence(_float(photos[:1]), "motion_blur").numpy()
    image = _float(photos[0]).permute(1, 2, 0).numpy()
    for i in (0, 12, 30):
        expected = _motion_blur(image, radius=10, sigma=3, angle=(i - 30) * 4).transpose(2, 0, 1)
        assert np.abs(frames[0, i] - expected).max() < 1e-4, i


# Not tilt: make_imagenet_p.py's homography at 0 degrees still scales by f / (f + 1) (its P1 puts the image
# plane at z = 1 before the translation by f); test_tilt_frames_equal_opencv_warp... covers that frame.
@pytest.mark.parametrize("name, index", [("rotate", 15), ("shear", 15), ("scale", 24),
                                         ("zoom_blur", 0), ("translate", 20)])
def test_identity_frames_are_the_centre_crop(photos, name, index):
    """Rotation/shear by 0 degrees, scale 1.0, the first zoom and a 0 px translation change nothing."""
    frames = perturbation_sequence(photos, name, out_size=40)
    assert frame_parameters(name)[index] in (0.0, 1.0)
    assert (frames[:, index].int() - photos[:, :, 4:44, 8:48].int()).abs().max() <= 1


def test_translate_frames_are_zero_filled_horizontal_shifts_of_the_full_image(photos):
    frames = perturbation_sequence(photos, "translate", out_size=(40, 40))
    padded = torch.nn.functional.pad(photos, (20, 20))  # columns -20..75 of the 48 x 56 images
    for i in range(41):
        dx = i - 20  # make_imagenet_p.py: affine(translate=(i - 20, 0)), positive moves content right
        expected = padded[:, :, 4:44, 20 + 8 - dx:20 + 48 - dx]
        assert torch.equal(frames[:, i], expected), i
    # the margin outside the crop moves into view: no black column while |dx| <= 8 (= (56 - 40) / 2)
    assert (frames[:, 12:29].amax(dim=(2, 3)) > 0).all()


def test_tilt_frames_equal_opencv_warp_of_the_release_homography(photos):
    frames = perturbation_sequence(_float(photos[:1]), "tilt").numpy()
    image = _float(photos[0]).permute(1, 2, 0).numpy()
    h, w = image.shape[:2]
    for i in (0, 9, 15, 30):
        phi = theta = np.deg2rad(i - 15)
        f = np.sqrt(w**2 + h**2)
        p1 = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1], [0, 0, 1]])
        rx = np.array([[1, 0, 0, 0], [0, np.cos(theta), -np.sin(theta), 0], [0, np.sin(theta), np.cos(theta), 0],
                       [0, 0, 0, 1]])
        ry = np.array([[np.cos(phi), 0, -np.sin(phi), 0], [0, 1, 0, 0], [np.sin(phi), 0, np.cos(phi), 0],
                       [0, 0, 0, 1]])
        t = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, f], [0, 0, 0, 1]])
        p2 = np.array([[f, 0, w / 2, 0], [0, f, h / 2, 0], [0, 0, 1, 0]])
        expected = cv2.warpPerspective(image, p2 @ t @ rx @ ry @ p1, (w, h)).transpose(2, 0, 1)
        assert np.abs(frames[0, i] - expected)[:, 1:-1, 1:-1].max() < 1e-4, i


def test_snow_frames_blend_one_fixed_layer_blurred_at_4i_minus_150_degrees(photos):
    from imagecorruptions.corruptions import _motion_blur

    x = _float(photos[:1, :, :, :48])  # 48 x 48: zoom 3 of ceil(48 / 3) = 16 rows gives exactly 48 rows
    frames = perturbation_sequence(x, "snow", generator=torch.Generator().manual_seed(5)).numpy()
    gens = seed_generators(image_seeds(torch.Generator().manual_seed(5), 1), x.device)
    noise = per_image_normal(gens, (48, 48), x.device)
    # make_imagenet_p.py: N(0.05, 0.3), clipped_zoom x3 (centre 16 x 16 -> 48 x 48), < 0.5 -> 0, 8-bit PNG
    layer = zoom(noise[0].numpy()[16:32, 16:32] * 0.3 + 0.05, 3, order=1)
    layer[layer < 0.5] = 0
    layer = np.floor(np.clip(layer, 0, 1) * 255) / 255
    image = x[0].permute(1, 2, 0).numpy()
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None]
    base = 0.85 * image + 0.15 * np.maximum(image, gray * 1.5 + 0.5)
    for i in (0, 20, 30):
        moving = np.round(_motion_blur(layer, radius=14, sigma=4, angle=i * 4 - 150) * 255)[..., None] / 255
        expected = np.clip(base + moving + np.rot90(moving, k=2), 0, 1).transpose(2, 0, 1)
        assert np.abs(frames[0, i] - expected).max() < 1e-4, i


def test_spatter_frames_follow_the_release_flow(photos):
    """Frame i of the release: the liquid layer convolved i times along rows with [0.05, 0.1, 0.15, 0.7]
    (np.convolve, mode "same"), then the OpenCV water chain; checked with NumPy/OpenCV code of the release."""
    x = _float(photos[:1])
    frames = perturbation_sequence(x, "spatter", length=6, generator=torch.Generator().manual_seed(3)).numpy()
    gens = seed_generators(image_seeds(torch.Generator().manual_seed(3), 1), x.device)
    noise = per_image_normal(gens, (1, 48, 56), x.device)
    liquid = gaussian(noise[0, 0].numpy().astype(np.float64) * 0.27 + 0.65, sigma=3.7)
    liquid[liquid < 0.69] = 0
    image = x[0].permute(1, 2, 0).numpy()
    for i in range(6):
        layer = (liquid * 255).astype(np.uint8)
        dist = cv2.distanceTransform(255 - cv2.Canny(layer, 50, 150), cv2.DIST_L2, 5)
        dist = cv2.blur(np.minimum(dist, 20), (3, 3)).astype(np.uint8)
        dist = cv2.filter2D(cv2.equalizeHist(dist), cv2.CV_8U, np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]))
        m = layer * cv2.blur(dist, (3, 3)).astype(np.float32)
        m = m / m.max() * 0.6
        expected = np.clip(image + m[..., None] * np.array([175, 238, 238]) / 255, 0, 1).transpose(2, 0, 1)
        assert np.abs(frames[0, i] - expected).mean() < 2e-3, i
        liquid = np.apply_along_axis(lambda c: np.convolve(c, [0.05, 0.1, 0.15, 0.7], mode="same"), 0, liquid)
