"""Every frame of every perturbation against a transcription of the release code (`release_p.py`), by PSNR.

ImageNet-P (`make_imagenet_p.py`) at reduced scale: photographs resized to a shorter side of 64 (one landscape,
one portrait, batched as `CenterCrop` canvases with their sizes), perturbed whole, centre-cropped to 56. CIFAR-10-P
(`make_cifar_p.py`): four 32 px photographs, whole. Random perturbations get the same draws on both sides (the
transcription is fed the numbers the per-image generators give). Goal (issue 16): every frame >= 30 dB, every
frame of a deterministic perturbation >= 40 dB; measured here: >= 40 dB for all.
"""


import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from conftest import load_photos
from release_draws import draws, psnr
from release_p import centre_crop, release_frames, resize_shorter, spatter_dry
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from skimage import data

from corruptions.names import NOISE_PERTURBATIONS, get_perturbation_names
from corruptions.perturbations import GEOMETRIC_PERTURBATIONS, perturbation_sequence, release_length, source_window
from corruptions.weather import water_spatter

SIDE, CROP = 64, 56
PSNR_GOAL = 40.0
# Every photograph's spatter layer keeps drops in every frame with this seed: a frame whose layer has none is
# 0 / 0 in the release (about 5% of CIFAR-10-P frames; see the last test).
SEED = 1


@pytest.fixture(scope="module")
def wholes() -> list[np.ndarray]:
    """Resize(64) of a landscape (coffee, 64 x 96) and a portrait (chelsea turned, 95 x 64) photograph."""
    return [resize_shorter(data.coffee(), SIDE), resize_shorter(np.ascontiguousarray(np.rot90(data.chelsea())), SIDE)]


def frame_psnrs(ours: torch.Tensor, wholes: list[np.ndarray], name: str, preset: str, crop: int | None,
                difficulty: int = 1) -> np.ndarray:
    """PSNR `(images, frames)` of our uint8 frames against the transcription's."""
    frames = release_length(name, preset)
    crops = [centre_crop(whole, crop) for whole in wholes]
    numbers = draws(name, crops, preset, frames, SEED, difficulty)
    assert name != "spatter" or not any(spatter_dry(layer, preset, frames) for layer in numbers)
    result = []
    for k, whole in enumerate(wholes):
        reference = release_frames(whole, name, preset, crop, difficulty, draws=numbers[k])
        assert reference.shape == (frames, *crops[k].shape), name
        result.append([psnr(a, b) for a, b in zip(ours[k].permute(0, 2, 3, 1).numpy(), reference)])
    return np.array(result)


@pytest.mark.parametrize("name", get_perturbation_names("all"))
def test_imagenet_p_frames_match_the_release_on_whole_images(wholes, name):
    window = source_window(CROP)
    canvases = torch.stack([TF.center_crop(torch.from_numpy(w).permute(2, 0, 1), [window, window]) for w in wholes])
    sizes = torch.tensor([w.shape[:2] for w in wholes])
    ours = perturbation_sequence(canvases, name, out_size=CROP, sizes=sizes,
                                 generator=torch.Generator().manual_seed(SEED))
    psnrs = frame_psnrs(ours, wholes, name, "imagenet", CROP)
    assert psnrs.min() >= PSNR_GOAL, (name, psnrs.min(axis=0).round(1))


@pytest.mark.parametrize("name", get_perturbation_names("all"))
def test_cifar_p_frames_match_make_cifar_p(name):
    photos = load_photos(32)
    ours = perturbation_sequence(photos, name, preset="cifar", generator=torch.Generator().manual_seed(SEED))
    assert ours.shape == (4, {"translate": 16, "motion_blur": 21}.get(name, 31), 3, 32, 32)
    psnrs = frame_psnrs(ours, list(photos.permute(0, 2, 3, 1).numpy()), name, "cifar", None)
    assert psnrs.min() >= PSNR_GOAL, (name, psnrs.min(axis=0).round(1))


@pytest.mark.parametrize("preset", ["imagenet", "cifar"])
@pytest.mark.parametrize("name", NOISE_PERTURBATIONS)
@pytest.mark.parametrize("difficulty", [2, 3])
def test_noise_difficulties_are_the_stronger_release_noises(preset, name, difficulty):
    photos = load_photos(32)[:2]
    ours = perturbation_sequence(photos, name, difficulty=difficulty, preset=preset,
                                 generator=torch.Generator().manual_seed(SEED))
    psnrs = frame_psnrs(ours, list(photos.permute(0, 2, 3, 1).numpy()), name, preset, None, difficulty)
    assert psnrs.min() >= PSNR_GOAL, (name, psnrs.min(axis=0).round(1))


def test_other_difficulties_are_the_same_sequences():
    """test.py scores difficulty d of the non-noise perturbations on the difficulty-1 videos (frame gap d)."""
    photos = load_photos(32)[:2]
    for difficulty in (2, 3):
        assert torch.equal(perturbation_sequence(photos, "tilt", difficulty=difficulty),
                           perturbation_sequence(photos, "tilt"))


@pytest.mark.parametrize("shape", [(64, 300), (301, 64), (64, 64)])
def test_canvases_give_the_frames_of_the_whole_images(shape):
    """A `source_window` canvas holds every pixel the frames read, even of images longer than the window."""
    image = torch.from_numpy(resize_shorter(data.astronaut(), 320))[:shape[0], :shape[1]].permute(2, 0, 1)[None]
    assert image.shape[2:] == shape
    window = source_window(CROP)
    canvas = TF.center_crop(image, [window, window])
    for name in GEOMETRIC_PERTURBATIONS:
        whole = perturbation_sequence(image, name, out_size=CROP)
        windowed = perturbation_sequence(canvas, name, out_size=CROP, sizes=torch.tensor([shape]))
        # float32 sampling grids over canvases of different sides round differently: at most one level
        assert (whole.int() - windowed.int()).abs().max() <= 1, name


def test_a_spatter_layer_without_drops_leaves_the_image_clean():
    """In about 1 in 10 CIFAR-10-P spatter sequences the drops flow out of the 32 px image (or there are none):
    the release then divides 0 by 0 (NaN, black once cast to uint8 on x86). We keep the clean image, our
    documented choice."""
    x = load_photos(32)[:2].float() / 255
    assert torch.equal(water_spatter(x, torch.zeros(2, 32, 32), 0.6), x)
