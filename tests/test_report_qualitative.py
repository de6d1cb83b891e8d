"""The qualitative grid: panels hold the (corrupted) input, the ground truth, and each model's argmax recomputed
in NumPy from the drawn input (a 1x1 conv); the file is written."""

from pathlib import Path

import numpy as np
import pytest
import torch
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from test_suite_seg import CLASSES, PixelNet

from robustbench_lift.engine.model import prepare_model
from robustbench_lift.engine.options import ModelOptions
from robustbench_lift.errors import UsageError
from robustbench_lift.models import IMAGENET_MEAN, IMAGENET_STD
from robustbench_lift.report.qualitative import qualitative_grid


def numpy_argmax(model: PixelNet, image: np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """Argmax over classes of the 1x1 conv of an (H, W, 3) uint8 image, normalised with `mean`, `std`."""
    x = (image / 255 - np.array(mean)) / np.array(std)
    weight = model.conv.weight.detach().numpy()[:, :, 0, 0].astype(np.float64)
    return np.argmax(x @ weight.T + model.conv.bias.detach().numpy(), axis=-1)


def test_grid_panels_show_inputs_truth_and_predictions(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8))
    masks = rng.integers(0, CLASSES, (2, 32, 32))
    masks[:, :3] = 255
    demo_norm = ModelOptions(num_classes=CLASSES, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    models = {"a": PixelNet(seed=0), "b": prepare_model(PixelNet(seed=1), demo_norm)}
    cells = [("clean", 0), ("contrast", 3), ("gaussian_noise", 3)]
    fig = qualitative_grid(models, images, masks, cells, tmp_path / "grid" / "q.png", preset="cifar")
    assert (tmp_path / "grid" / "q.png").stat().st_size > 1000
    axes = np.array(fig.axes).reshape(6, 4)
    np.testing.assert_array_equal(axes[0, 0].images[0].get_array(), images[0].permute(1, 2, 0).numpy())
    assert not np.array_equal(axes[1, 0].images[0].get_array(), axes[0, 0].images[0].get_array())  # corrupted
    for row in range(6):
        drawn = np.asarray(axes[row, 0].images[0].get_array())
        truth = axes[row, 1].images[0].get_array()
        np.testing.assert_array_equal(truth.mask, masks[row // 3] == 255)
        np.testing.assert_array_equal(truth.data[~truth.mask], masks[row // 3][masks[row // 3] != 255])
        np.testing.assert_array_equal(axes[row, 2].images[0].get_array(), numpy_argmax(models["a"], drawn))
        np.testing.assert_array_equal(axes[row, 3].images[0].get_array(),
                                      numpy_argmax(models["b"].module, drawn, demo_norm.mean, demo_norm.std))
    assert [ax.get_title() for ax in axes[0]] == ["input", "ground truth", "a", "b"]
    with pytest.raises(UsageError, match="masks"):
        qualitative_grid(models, images, masks[:1], cells)
