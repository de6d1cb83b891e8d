"""Suite `shift` at a model's own size: the canvas holds every window, so no crop reads zero fill (issue 28.1).

Zhang's protocol cuts 224 windows at offsets 0..31 (pairs) and 0..32 (diagonal) from a 256 canvas: every window
lies inside the image. A model's own preprocessing (torchvision V2: 232/224; timm crop_pct 1.0: 224/224; 320/288)
gives a canvas too small for the windows unless the suite enlarges it.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from evaluate_fixtures import evaluate_named
from PIL import Image
from torch import nn

SEES = dict(mean=[0, 0, 0], std=[1, 1, 1], num_classes=3, progress=False)
NAMES = ("coffee", "chelsea", "rocket")  # non-square photographs: the resize and the centre crop both matter


class ZeroSeer(nn.Module):
    """Class 1 when some pixel of the input is black (all three channels 0: what a window past the canvas reads),
    else class 0; with mean 0 and std 1 the model sees the [0, 1] pixels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        black = (x == 0).all(dim=1).flatten(1).any(dim=1).float()  # (B,)
        return torch.stack([1 - black, black, torch.zeros_like(black)], dim=1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three scikit-image photographs at their own sizes with no black: levels raised to >= 16 (bilinear resizing
    takes convex combinations, so no pixel can reach 0)."""
    from skimage import data

    root = tmp_path_factory.mktemp("canvas") / "clean"
    for index, name in enumerate(NAMES):
        (root / f"c{index}").mkdir(parents=True)
        Image.fromarray(np.maximum(getattr(data, name)()[..., :3], 16)).save(root / f"c{index}" / f"{name}.png")
    return root


@pytest.mark.parametrize("resize, crop, canvas, max_shift", [
    (232, 224, 256, 32),  # torchvision V2 weights: Zhang's 256 canvas and offsets at 224 px windows
    (224, 224, 256, 32),  # timm crop_pct 1.0
    (320, 288, 329, 41),  # 288 px windows: offsets scaled as 32 / 224
])
def test_no_window_reads_past_the_canvas(folder: Path, resize: int, crop: int, canvas: int, max_shift: int) -> None:
    frame = evaluate_named(ZeroSeer(), "shift", folder, resize=resize, crop=crop, **SEES)
    diagonal = frame[frame["corruption"] == "diagonal"]
    assert sorted(diagonal["severity"]) == list(range(max_shift + 1))
    for predictions in frame["predictions"]:
        assert (np.asarray(predictions)[..., 0] == 0).all()  # top-1 "no black pixel" for every crop
    fingerprint = frame["fingerprint"].iloc[0]
    assert fingerprint["canvas"] == canvas and fingerprint["window"] == crop and fingerprint["max_shift"] == max_shift


def test_the_zero_seer_sees_zero_fill(folder: Path) -> None:
    """The model does report zeros: the whole-canvas mode of in-memory-sized inputs (no resize) shifts in zeros."""
    frame = evaluate_named(ZeroSeer(), "shift", folder, resize=64, crop=None, **SEES)
    last = frame[(frame["corruption"] == "diagonal") & (frame["severity"] == 8)].iloc[0]
    assert (np.asarray(last["predictions"])[:, 0] == 1).all()
