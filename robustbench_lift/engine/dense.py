"""Per-pixel outputs for segmentation: predicted label maps reduced on the device to per-image class counts.

Segmentation cells store no masks: per image i and class c, the intersection I_ic and union U_ic of the predicted
and true pixels of c over the pixels whose label is not `IGNORE_INDEX` (`metrics.segmentation` turns them into
mIoU, pixel accuracy and mCD), and with the labels each class's true pixel count, so the store can tell two sets
of masks apart. Images of different sizes are batched by size (`data.segmentation.size_batches`). A crop-pair cell
(segmentation shift consistency) stores per image and class the agreeing and overlapping pixel counts instead
(`agreement_counts`).
"""

import numpy as np
import torch
from torch import Tensor

from robustbench_lift.errors import LiftbenchError
from robustbench_lift.metrics.segmentation import IGNORE_INDEX


def _flat(label: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """`(image * num_classes + class)` of the valid pixels of `label` `(N, H, W)`, and the validity mask."""
    valid = label != IGNORE_INDEX
    offset = torch.arange(label.shape[0], device=label.device).view(-1, 1, 1) * num_classes
    return (label.long() + offset)[valid], valid


def intersection_union_counts(pred: Tensor, label: Tensor, num_classes: int) -> Tensor:
    """int32 `(N, 2, num_classes)`: per image the intersection and union pixel counts of every class.

    `pred` `(N, H, W)` predicted classes in `[0, num_classes)`, `label` `(N, H, W)` true classes or
    `IGNORE_INDEX`; both on one device, no synchronisation.
    """
    total = label.shape[0] * num_classes
    truth, valid = _flat(label, num_classes)
    offset = torch.arange(label.shape[0], device=label.device).view(-1, 1, 1) * num_classes
    guess = (pred.long() + offset)[valid]
    intersection = torch.bincount(truth[guess == truth], minlength=total)
    union = torch.bincount(guess, minlength=total) + torch.bincount(truth, minlength=total) - intersection
    return torch.stack([intersection.view(-1, num_classes), union.view(-1, num_classes)], 1).int()


def class_areas(label: Tensor, num_classes: int) -> Tensor:
    """int32 `(N, num_classes)`: each image's true pixel count per class; a `LiftbenchError` for a label outside
    `[0, num_classes)` and other than `IGNORE_INDEX` (CPU tensors: checked without a device round trip)."""
    truth, valid = _flat(label, num_classes)
    bad = label[valid & (label.long() >= num_classes)]
    if bad.numel():
        raise LiftbenchError(f"mask values {sorted(set(bad.tolist()))[:5]} are not classes of a {num_classes}-class "
                             f"model (nor the ignore index {IGNORE_INDEX})")
    return torch.bincount(truth, minlength=label.shape[0] * num_classes).view(-1, num_classes).int()


def agreement_counts(pred: Tensor, offsets: Tensor, num_classes: int) -> Tensor:
    """int32 `(N, 2, num_classes)`: per image and class c, the pixels of the overlap of two crops where crop a
    predicts c and crop b agrees, and where crop a predicts c (their sums over c: agreeing and overlap pixels).

    `pred` `(N, 2, h, w)`: the predicted classes of crops a and b of one size; `offsets` int64 `(N, 2, 2)` on the
    CPU: the crops' top-left corners `(row, col)` in the image, so source pixel `(y, x)` is `pred[i, 0, y - ya,
    x - xa]` and `pred[i, 1, y - yb, x - xb]`.
    """
    counts = torch.zeros(pred.shape[0], 2, num_classes, dtype=torch.int64, device=pred.device)
    h, w = pred.shape[-2:]
    for i, ((ya, xa), (yb, xb)) in enumerate(offsets.tolist()):
        dy, dx = yb - ya, xb - xa  # crop a's pixel (r, c) is crop b's (r - dy, c - dx)
        top, bottom, left, right = max(0, dy), min(h, h + dy), max(0, dx), min(w, w + dx)
        a = pred[i, 0, top:bottom, left:right].reshape(-1).long()
        b = pred[i, 1, top - dy:bottom - dy, left - dx:right - dx].reshape(-1)
        counts[i, 0] = torch.bincount(a[a == b], minlength=num_classes)
        counts[i, 1] = torch.bincount(a, minlength=num_classes)
    return counts.int()


def empty_outputs(num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels `(0, C)` and predictions `(0, 2, C)` of a rank that saw no image."""
    return np.zeros((0, num_classes), np.int32), np.zeros((0, 2, num_classes), np.int32)
