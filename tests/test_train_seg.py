"""Segmentation training: masks cropped and flipped with their images, padding ignored, and a short run whose
recorded test accuracy is the pixel accuracy of its final checkpoint."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)

from robustbench_lift.data.demo import MEAN, STD, demo_segmentation
from robustbench_lift.models import create_model
from robustbench_lift.training import recipe_for, train
from robustbench_lift.training.segmentation import crop_flip_masks
from robustbench_lift.training.sets import Split, TrainSet, crop_flip


def test_masks_follow_their_images_and_padding_is_ignored() -> None:
    masks = torch.randint(0, 200, (16, 12, 10), generator=torch.Generator().manual_seed(0))
    images = (masks + 1).to(torch.uint8)[:, None].expand(-1, 3, -1, -1).contiguous()  # pixel value = class + 1
    cropped, cropped_masks = crop_flip_masks(images, masks, torch.Generator().manual_seed(7), padding=3)
    np.testing.assert_array_equal(cropped.numpy(), crop_flip(images, torch.Generator().manual_seed(7), 3).numpy())
    inside = cropped[:, 0].long()  # 0 only where the crop reads the zero padding
    np.testing.assert_array_equal(cropped_masks.numpy(), torch.where(inside == 0, 255, inside - 1).numpy())
    assert (cropped_masks == 255).any() and (cropped_masks != 255).any()


def test_a_short_run_records_the_pixel_accuracy_of_its_checkpoint(tmp_path: Path) -> None:
    images, masks = demo_segmentation("train", limit=96)
    data = TrainSet("demo-seg", "demo_seg", Split(images[:64], masks[:64].long()),
                    Split(images[64:], masks[64:].long()), 11, MEAN, STD)
    path = train("demo_seg-max", data, tmp_path, recipe_for("demo_seg").override(epochs=1, batch_size=32),
                 progress=False)
    record = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1])
    model = create_model("demo_seg-max", weights=path).eval()
    x = (images[64:].float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        predicted = model(x).argmax(1)
    assert record["test_acc"] == pytest.approx(float((predicted == masks[64:]).double().mean()), abs=1e-9)
    assert np.isfinite(record["loss"]) and 0 < record["train_acc"] <= 1
    assert model.liftbench_meta["num_classes"] == 11 and model.liftbench_meta["dataset"] == "demo-seg"
