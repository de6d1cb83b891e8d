"""A qualitative segmentation grid: a few images under a few corruptions, their ground truth and each model's
predicted mask (the figure Kamann & Rother 2020 and the LiftPool paper show next to their mIoU tables).

Rows: image i under corruption c (`("clean", 0)` or `(name, severity)`), corrupted as suite `seg` corrupts on
the fly (`corruptions.seeding.corrupt_indexed`, torch backend, image i's seed from `seed` and its position);
columns: the model's input, the ground truth, then one predicted mask per model (argmax of the logits of the
input scaled to [0, 1] and normalised with the model's mean and std: pass zoo models as `engine.model.
prepare_model(name, ModelOptions(weights=...))`, whose preprocessing this uses). Classes are coloured with matplotlib's
`tab20`; ignore pixels (255) are black.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from corruptions.seeding import corrupt_indexed
from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.segmentation import IGNORE_INDEX
from robustbench_lift.models import IMAGENET_MEAN, IMAGENET_STD

if TYPE_CHECKING:
    from robustbench_lift.engine.model import PreparedModel

CLASS_COLOURS = 20
"""Distinct class colours (`tab20`); class c gets colour c mod 20."""


def _prepared(model: "nn.Module | PreparedModel") -> tuple[nn.Module, Tensor, Tensor]:
    """Module, mean and std `(1, 3, 1, 1)`: a `PreparedModel` with its own normalisation (zoo models, e.g. the
    demo's 0.5 / 0.25), a bare module with ImageNet's (as `engine.model.prepare_model` treats modules)."""
    if isinstance(model, nn.Module):
        module, mean, std = model, IMAGENET_MEAN, IMAGENET_STD
    else:
        module, mean, std = model.module, model.mean, model.std
    return module.eval(), torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)


@torch.inference_mode()
def predict_masks(models: Mapping[str, "nn.Module | PreparedModel"], images: Tensor,
                  corruptions: Sequence[tuple[str, int]], seed: int = 0, preset: str = "imagenet") -> tuple[dict, dict]:
    """`({cell: uint8 (N, 3, H, W) inputs}, {(model, cell): int64 (N, H, W) predicted classes})` of uint8 images
    `(N, 3, H, W)` (on the CPU) under each cell of `corruptions`."""
    inputs = {cell: images if cell[0] == "clean" else corrupt_indexed(images, range(len(images)), *cell, seed,
                                                                       backend="torch", preset=preset)
              for cell in corruptions}
    predictions = {}
    for name, model in models.items():
        module, mean, std = _prepared(model)
        for cell, x in inputs.items():
            logits = module((x.float() / 255 - mean) / std)
            if logits.shape[-2:] != x.shape[-2:] or logits.ndim != 4:
                raise UsageError(f"model {name} returned {tuple(logits.shape)} for {tuple(x.shape)} inputs; a "
                                 "segmentation model returns logits (N, classes, H, W)")
            predictions[name, cell] = logits.argmax(1).numpy()
    return inputs, predictions


def _mask_panel(ax: "matplotlib.axes.Axes", labels: np.ndarray) -> None:
    """Classes in `tab20` colours, ignore pixels black."""
    cmap = matplotlib.colormaps["tab20"].with_extremes(bad="black")
    shown = np.ma.masked_equal(np.asarray(labels, dtype=np.int64), IGNORE_INDEX)
    ax.imshow(shown % CLASS_COLOURS, cmap=cmap, vmin=0, vmax=CLASS_COLOURS - 1, interpolation="nearest")


def qualitative_grid(models: Mapping[str, "nn.Module | PreparedModel"], images: Tensor, masks: np.ndarray | Tensor,
                     corruptions: Sequence[tuple[str, int]] = (("clean", 0), ("gaussian_noise", 3), ("fog", 3),
                                                               ("contrast", 3)),
                     out_path: str | Path | None = None, *, seed: int = 0, preset: str = "imagenet") -> Figure:
    """The grid (module doc) of uint8 images `(N, 3, H, W)` with masks `(N, H, W)` (classes or 255), saved to
    `out_path` (format from its suffix, e.g. `.png`) when given; returns the figure."""
    masks = np.asarray(masks)
    if images.ndim != 4 or images.dtype != torch.uint8 or masks.shape != (len(images), *images.shape[-2:]):
        raise UsageError(f"expected uint8 images (N, 3, H, W) and masks (N, H, W) of one size, got "
                         f"{tuple(images.shape)} {images.dtype} and {masks.shape}")
    inputs, predictions = predict_masks(models, images.cpu(), corruptions, seed, preset)
    rows, columns = len(images) * len(corruptions), 2 + len(models)
    fig = Figure(figsize=(1.5 * columns, 1.5 * rows + 0.3), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for i in range(len(images)):
        for j, cell in enumerate(corruptions):
            row = axes[i * len(corruptions) + j]
            row[0].imshow(inputs[cell][i].permute(1, 2, 0).numpy(), interpolation="nearest")
            row[0].set_ylabel("clean" if cell[0] == "clean" else f"{cell[0].replace('_', ' ')} {cell[1]}",
                              fontsize="small")
            _mask_panel(row[1], masks[i])
            for ax, name in zip(row[2:], models):
                _mask_panel(ax, predictions[name, cell][i])
    for ax, title in zip(axes[0], ["input", "ground truth", *models]):
        ax.set_title(title, fontsize="small")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if out_path is not None:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out_path, dpi=100)
    return fig
