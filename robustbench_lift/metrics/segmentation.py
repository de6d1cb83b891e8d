"""Segmentation metrics as pure functions over NumPy arrays: mIoU, pixel accuracy, mCD, shift consistency.

Per image i and class c, over the pixels whose label is not the ignore index (255, the VOC "void" border):

    I_ic = |{p : pred_p = c and label_p = c}|        U_ic = |{p : pred_p = c or label_p = c}|

kept as two int32 arrays `(N, C)` (`intersection_union`), from which every aggregate is recomputed:

    IoU_c      = sum_i I_ic / sum_i U_ic                       (true positives / (TP + FP + FN) over the set)
    mIoU       = mean of IoU_c over the classes with sum_i U_ic > 0
    pixel acc. = sum_ic I_ic / V  with  V = (sum_ic U_ic + sum_ic I_ic) / 2 the valid pixels
                 (every valid pixel has one predicted and one true class: sum_c U_ic = 2 V_i - sum_c I_ic)

The counts are summed over the images before dividing, as the PASCAL VOC devkit does (`VOCevalseg.m`:
accumulated confusion matrix, TP / (TP + FP + FN) per class, averaged over classes); classes with an empty union
(absent from labels and predictions of the whole set) are left out of the mean rather than counted as 0 or NaN.
Aggregates accept per-image weights `(..., N)`, e.g. `bootstrap_weights` replicates, giving `(...)` results.

Robustness to corruptions (Kamann & Rother, "Benchmarking the Robustness of Semantic Segmentation Models",
CVPR 2020: ImageNet-C corruptions on VOC / Cityscapes / ADE20K, mIoU per corruption and severity), with the
degradation D = 1 - mIoU in place of the error of Hendrycks & Dietterich's CE (ICLR 2019):

    mean mIoU = mean over corruptions c of (mean over c's evaluated severities s of mIoU(f, s, c))
    CD_c(f)   = sum_s (1 - mIoU(f, s, c)) / sum_s (1 - mIoU(baseline, s, c))
    mCD       = mean of CD_c over the evaluated corruptions
    rCD_c(f)  = sum_s (mIoU(f, clean) - mIoU(f, s, c)) / sum_s (mIoU(baseline, clean) - mIoU(baseline, s, c))
    rCD       = mean of rCD_c over the evaluated corruptions

rCD is the paper's relative CD (their Eq. 2, the analogue of Hendrycks & Dietterich's relative CE): the loss of
mIoU under corruption relative to the model's own clean mIoU, so a model that is worse on clean images is not
counted as more robust for it; it needs both models' clean cells.

returned as fractions (baseline = 1.0); tables multiply by 100 as for mCE. Shift consistency of segmentation (the
per-pixel analogue of Zhang's, ICML 2019, classification consistency): the fraction of the pixels two shifted
crops of one image share on which their predicted labels agree (`shift_consistency` from label maps; over a
set of images from per-image agreeing and overlap counts A_i, O_i, `consistency` = sum_i A_i / sum_i O_i).
"""

from collections.abc import Mapping

import numpy as np

from robustbench_lift.errors import UsageError

IGNORE_INDEX = 255
"""Label of pixels left out of every count (VOC's void border; Cityscapes' ignored ids after mapping)."""


def intersection_union(pred: np.ndarray, label: np.ndarray, num_classes: int,
                       ignore_index: int = IGNORE_INDEX) -> tuple[np.ndarray, np.ndarray]:
    """Per-image, per-class intersection and union counts: two int32 arrays `(N, num_classes)`.

    `pred` and `label` are integer maps `(N, H, W)` (or `(H, W)`, one image) of the same shape; labels lie in
    `[0, num_classes)` or equal `ignore_index`, predictions lie in `[0, num_classes)` wherever the label is valid.
    """
    pred, label = np.asarray(pred), np.asarray(label)
    if pred.shape != label.shape or pred.ndim not in (2, 3) or not (
            np.issubdtype(pred.dtype, np.integer) and np.issubdtype(label.dtype, np.integer)):
        raise UsageError(f"pred and label must be integer (N, H, W) or (H, W) maps of one shape, got {pred.shape} "
                         f"{pred.dtype} and {label.shape} {label.dtype}")
    if pred.ndim == 2:
        pred, label = pred[None], label[None]
    if np.prod(label.shape[1:]) >= 2 ** 31:
        raise UsageError(f"images of {label.shape[1:]} pixels overflow the int32 counts")
    valid = label != ignore_index
    for name, values in (("label", label[valid]), ("pred", pred[valid])):
        bad = values[(values < 0) | (values >= num_classes)]
        if bad.size:
            raise UsageError(f"{name} values {sorted(set(bad.tolist()))[:5]} outside [0, {num_classes}) "
                             f"(ignore index {ignore_index})")
    count, total = label.shape[0], label.shape[0] * num_classes
    offset = np.broadcast_to(np.arange(count).reshape(-1, 1, 1) * num_classes, label.shape)[valid]
    pred, label = offset + pred[valid].astype(np.int64), offset + label[valid].astype(np.int64)  # (image, class)
    intersection = np.bincount(label[pred == label], minlength=total)
    union = np.bincount(pred, minlength=total) + np.bincount(label, minlength=total) - intersection
    return (intersection.reshape(count, num_classes).astype(np.int32),
            union.reshape(count, num_classes).astype(np.int32))


def _totals(counts: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Counts `(N, C)` summed over images, each weighted by `weights` `(..., N)` if given: float64 `(..., C)`."""
    counts = np.asarray(counts, dtype=np.float64)
    return counts.sum(axis=0) if weights is None else np.asarray(weights, dtype=np.float64) @ counts


def class_iou(intersection: np.ndarray, union: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """IoU_c = sum_i I_ic / sum_i U_ic of a set of images: float64 `(..., C)`, NaN where the union is empty."""
    inter, uni = _totals(intersection, weights), _totals(union, weights)
    return np.divide(inter, uni, out=np.full_like(uni, np.nan), where=uni > 0)


def mean_iou(intersection: np.ndarray, union: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """mIoU of a set of images: the mean of `class_iou` over the classes with a non-empty union (NaN if none).

    Counts `(N, C)`; optional per-image weights `(..., N)`; returns float64 `(...)` (a 0-d array without weights).
    """
    iou = class_iou(intersection, union, weights)
    present = ~np.isnan(iou)
    with np.errstate(invalid="ignore"):  # a set with no valid pixel at all has no mIoU
        return np.where(present, iou, 0.0).sum(axis=-1) / present.sum(axis=-1)


def pixel_accuracy(intersection: np.ndarray, union: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Correct / valid pixels of a set of images: `2 sum I / (sum U + sum I)` (module doc), float64 `(...)`."""
    inter, uni = _totals(intersection, weights).sum(axis=-1), _totals(union, weights).sum(axis=-1)
    with np.errstate(invalid="ignore"):
        return 2 * inter / (uni + inter)


def consistency(agree: np.ndarray, overlap: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Shift consistency of a set of images: agreeing / overlap pixels summed over images (and classes) from
    counts `(N, C)` (`engine.dense.agreement_counts`); optional per-image weights `(..., N)`; float64 `(...)`."""
    agreeing, shared = _totals(agree, weights).sum(axis=-1), _totals(overlap, weights).sum(axis=-1)
    with np.errstate(invalid="ignore"):
        return agreeing / shared


def bootstrap_weights(num_images: int, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """Multinomial resampling counts int64 `(n_boot, num_images)` (`np.random.default_rng(seed)`): pass the same
    array as `weights` to every cell's aggregate, so all cells resample the same images (paired replicates)."""
    if num_images < 1:
        raise UsageError("cannot bootstrap an empty set of images")
    return np.random.default_rng(seed).multinomial(num_images, np.full(num_images, 1 / num_images), size=n_boot)


def corruption_degradation(miou: np.ndarray, baseline_miou: np.ndarray) -> np.ndarray:
    """CD_c = sum_s (1 - mIoU(f, s, c)) / sum_s (1 - mIoU(baseline, s, c)); `(..., S)` at the same severities
    -> `(...)`. Both may carry leading replicate axes that broadcast."""
    return np.sum(1 - np.asarray(miou, dtype=np.float64), axis=-1) / np.sum(
        1 - np.asarray(baseline_miou, dtype=np.float64), axis=-1)


def relative_corruption_degradation(miou: np.ndarray, clean: np.ndarray | float, baseline_miou: np.ndarray,
                                    baseline_clean: np.ndarray | float) -> np.ndarray:
    """rCD_c = sum_s (clean - mIoU(f, s, c)) / sum_s (baseline_clean - mIoU(baseline, s, c)); `(..., S)` at the
    same severities, clean mIoUs `(...)` -> `(...)` (leading replicate axes broadcast)."""
    miou, reference = np.asarray(miou, dtype=np.float64), np.asarray(baseline_miou, dtype=np.float64)
    clean = np.asarray(clean, dtype=np.float64)[..., None]
    baseline_clean = np.asarray(baseline_clean, dtype=np.float64)[..., None]
    return np.sum(clean - miou, axis=-1) / np.sum(baseline_clean - reference, axis=-1)


def segmentation_summary(miou: Mapping[tuple[str, int], np.ndarray | float],
                         baseline: Mapping[tuple[str, int], np.ndarray | float] | None = None,
                         clean: np.ndarray | float | None = None) -> dict[str, np.ndarray]:
    """Aggregates of per-cell mIoUs `{(corruption, severity): mIoU}` (scalars or `(B,)` replicates).

    Returns `mIoU/<c>` (mean over c's severities) and `mean_mIoU` (mean of those over corruptions); with the
    baseline model's mIoUs of the same cells also `CD/<c>` and `mCD`, and with the model's `clean` mIoU and the
    baseline's (its `("clean", 0)` entry) `rCD/<c>` and `rCD` (module doc). A cell missing from the baseline is
    a `UsageError`.
    """
    by_corruption: dict[str, list[tuple[int, np.ndarray]]] = {}
    for (corruption, severity), value in sorted(miou.items()):
        by_corruption.setdefault(corruption, []).append((severity, np.asarray(value, dtype=np.float64)))
    summary = {f"mIoU/{c}": np.mean([v for _, v in cells], axis=0) for c, cells in by_corruption.items()}
    if summary:
        summary["mean_mIoU"] = np.mean(list(summary.values()), axis=0)
    if baseline is None:
        return summary
    missing = sorted(set(miou) - set(baseline))
    if missing:
        raise UsageError(f"the baseline has no mIoU for the cells {missing[:5]}; evaluate it on the same cells")
    for corruption, cells in by_corruption.items():
        stacked = np.stack([v for _, v in cells], axis=-1)
        reference = np.stack([np.asarray(baseline[corruption, s], dtype=np.float64) for s, _ in cells], axis=-1)
        summary[f"CD/{corruption}"] = corruption_degradation(stacked, reference)
        if clean is not None and ("clean", 0) in baseline:
            summary[f"rCD/{corruption}"] = relative_corruption_degradation(stacked, clean, reference,
                                                                           baseline["clean", 0])
    if by_corruption:
        summary["mCD"] = np.mean([summary[f"CD/{c}"] for c in by_corruption], axis=0)
        if f"rCD/{next(iter(by_corruption))}" in summary:
            summary["rCD"] = np.mean([summary[f"rCD/{c}"] for c in by_corruption], axis=0)
    return summary


def shift_consistency(pred_a: np.ndarray, offset_a: tuple[int, int], pred_b: np.ndarray,
                      offset_b: tuple[int, int]) -> np.ndarray:
    """Fraction of the shared pixels on which two crops' predicted labels agree: float64 `(N,)` (or a 0-d array).

    `pred_a` `(N, Ha, Wa)` (or `(Ha, Wa)`) are the label maps predicted for crops whose top-left corners sit at
    `offset_a = (y, x)` of the source images, likewise `pred_b`; source pixel `(y, x)` is `pred_a[..., y - ya,
    x - xa]` and `pred_b[..., y - yb, x - xb]`. The crops must overlap.
    """
    pred_a, pred_b = np.asarray(pred_a), np.asarray(pred_b)
    if pred_a.ndim != pred_b.ndim or pred_a.ndim not in (2, 3) or pred_a.shape[:-2] != pred_b.shape[:-2]:
        raise UsageError(f"label maps must both be (N, H, W) or (H, W), got {pred_a.shape} and {pred_b.shape}")
    windows = []
    for axis in (0, 1):
        start = max(offset_a[axis], offset_b[axis])
        stop = min(offset_a[axis] + pred_a.shape[axis - 2], offset_b[axis] + pred_b.shape[axis - 2])
        if stop <= start:
            raise UsageError(f"crops at {tuple(offset_a)} {pred_a.shape[-2:]} and {tuple(offset_b)} "
                             f"{pred_b.shape[-2:]} do not overlap")
        windows.append((start, stop))
    (top, bottom), (left, right) = windows
    a = pred_a[..., top - offset_a[0]:bottom - offset_a[0], left - offset_a[1]:right - offset_a[1]]
    b = pred_b[..., top - offset_b[0]:bottom - offset_b[0], left - offset_b[1]:right - offset_b[1]]
    return np.mean(a == b, axis=(-2, -1))
