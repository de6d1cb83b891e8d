"""Segmentation metrics against a confusion-matrix implementation written here and against hand computations."""

import numpy as np
import pytest

from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.segmentation import (
    bootstrap_weights,
    class_iou,
    corruption_degradation,
    intersection_union,
    mean_iou,
    pixel_accuracy,
    segmentation_summary,
    shift_consistency,
)

V = 255  # ignored
# Two 4x5 images, 5 classes: class 3 appears nowhere (left out of the mean), class 4 only in predictions (IoU 0).
LABELS = np.array([[[0, 0, 1, 1, V],
                    [0, 0, 1, 1, V],
                    [2, 2, 2, 1, V],
                    [V, V, V, V, V]],
                   [[1, 1, 1, 0, 0],
                    [1, 1, 1, 0, 0],
                    [2, 2, 0, 0, 0],
                    [2, 2, 0, 0, 0]]])
PREDS = np.array([[[0, 1, 1, 1, 3],   # the 3 and 4 under ignored labels must not count
                   [0, 0, 1, 2, 4],
                   [2, 2, 0, 1, 4],
                   [3, 3, 0, 0, 0]],
                  [[1, 1, 4, 0, 0],
                   [1, 1, 1, 0, 2],
                   [2, 0, 0, 0, 0],
                   [2, 2, 0, 0, 0]]])


def confusion(pred: np.ndarray, label: np.ndarray, classes: int) -> np.ndarray:
    """conf[t, p]: pixels of true class t predicted as p, by a plain loop over the non-ignored pixels."""
    conf = np.zeros((classes, classes), dtype=np.int64)
    for t, p in zip(label.ravel(), pred.ravel()):
        if t != V:
            conf[t, p] += 1
    return conf


def iou_from_confusion(conf: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Per-class IoU (NaN for an empty union), mIoU over the present classes, pixel accuracy (VOCevalseg.m)."""
    tp = np.diag(conf).astype(float)
    denominator = conf.sum(0) + conf.sum(1) - tp
    iou = np.array([tp[c] / denominator[c] if denominator[c] else np.nan for c in range(len(tp))])
    return iou, float(np.nanmean(iou)), tp.sum() / conf.sum()


def test_counts_and_miou_match_a_confusion_matrix() -> None:
    inter, union = intersection_union(PREDS, LABELS, 5)
    assert inter.shape == union.shape == (2, 5) and inter.dtype == np.int32
    for i in range(2):
        conf = confusion(PREDS[i], LABELS[i], 5)
        assert np.array_equal(inter[i], np.diag(conf))
        assert np.array_equal(union[i], conf.sum(0) + conf.sum(1) - np.diag(conf))
    iou, miou, accuracy = iou_from_confusion(confusion(PREDS, LABELS, 5))
    np.testing.assert_allclose(class_iou(inter, union), iou)
    assert np.isnan(class_iou(inter, union)[3]) and class_iou(inter, union)[4] == 0
    assert mean_iou(inter, union) == pytest.approx(miou)
    assert pixel_accuracy(inter, union) == pytest.approx(accuracy)
    # by hand, image 0 alone: 12 valid pixels, 9 correct; class 0: I 3, U 5; 1: I 4, U 6; 2: I 2, U 4; 3, 4: empty
    assert pixel_accuracy(inter[:1], union[:1]) == pytest.approx(9 / 12)
    assert mean_iou(inter[:1], union[:1]) == pytest.approx((3 / 5 + 4 / 6 + 2 / 4) / 3)


def test_counts_are_summed_before_dividing_and_weights_repeat_images() -> None:
    inter, union = intersection_union(PREDS, LABELS, 5)
    per_image = [mean_iou(inter[i:i + 1], union[i:i + 1]) for i in range(2)]
    assert mean_iou(inter, union) != pytest.approx(np.mean(per_image))  # the set's mIoU, not a mean of images
    doubled = mean_iou(np.concatenate([inter, inter[1:]]), np.concatenate([union, union[1:]]))
    assert mean_iou(inter, union, weights=np.array([1, 2])) == pytest.approx(doubled)
    replicates = mean_iou(inter, union, weights=np.array([[1, 1], [2, 0], [0, 2]]))
    np.testing.assert_allclose(replicates, [mean_iou(inter, union), *per_image])
    draws = bootstrap_weights(2, n_boot=50, seed=1)
    assert draws.shape == (50, 2) and (draws.sum(1) == 2).all()
    assert np.array_equal(draws, bootstrap_weights(2, n_boot=50, seed=1))


def test_single_images_and_bad_input() -> None:
    inter, union = intersection_union(PREDS[1], LABELS[1], 5)
    assert inter.shape == union.shape == (1, 5)
    assert np.isnan(mean_iou(*intersection_union(np.zeros((2, 2), np.uint8), np.full((2, 2), V, np.uint8), 3)))
    with pytest.raises(UsageError, match=r"label values \[7\] outside \[0, 5\)"):
        intersection_union(PREDS, np.where(LABELS == 2, 7, LABELS), 5)
    with pytest.raises(UsageError, match=r"pred values \[5\]"):
        intersection_union(PREDS + 1, LABELS, 5)
    with pytest.raises(UsageError, match="of one shape"):
        intersection_union(PREDS, LABELS[0], 5)
    with pytest.raises(UsageError, match="integer"):
        intersection_union(PREDS.astype(float), LABELS, 5)


def test_corruption_degradation_by_hand() -> None:
    miou = {("fog", 1): 0.6, ("fog", 2): 0.5, ("snow", 1): 0.3}
    baseline = {("fog", 1): 0.5, ("fog", 2): 0.4, ("snow", 1): 0.2, ("snow", 2): 0.1}
    summary = segmentation_summary(miou, baseline)
    assert summary["mIoU/fog"] == pytest.approx(0.55) and summary["mean_mIoU"] == pytest.approx((0.55 + 0.3) / 2)
    assert summary["CD/fog"] == pytest.approx((0.4 + 0.5) / (0.5 + 0.6))  # only the severities evaluated
    assert summary["CD/snow"] == pytest.approx(0.7 / 0.8)
    assert summary["mCD"] == pytest.approx((0.9 / 1.1 + 0.7 / 0.8) / 2)
    assert segmentation_summary(baseline, baseline)["mCD"] == pytest.approx(1.0)
    replicates = corruption_degradation(np.array([[0.6, 0.5], [0.7, 0.6]]), np.array([0.5, 0.4]))
    np.testing.assert_allclose(replicates, [0.9 / 1.1, 0.7 / 1.1])
    assert "mCD" not in segmentation_summary(miou)
    with pytest.raises(UsageError, match=r"no mIoU for the cells \[\('snow', 2\)\]"):
        segmentation_summary(baseline, miou)


def test_relative_corruption_degradation_by_hand() -> None:
    """Kamann & Rother's rCD: mIoU lost against each model's own clean mIoU, relative to the baseline's loss."""
    miou = {("fog", 1): 0.6, ("fog", 2): 0.5, ("snow", 1): 0.3}
    baseline = {("clean", 0): 0.6, ("fog", 1): 0.5, ("fog", 2): 0.4, ("snow", 1): 0.2}
    summary = segmentation_summary(miou, baseline, clean=0.7)
    assert summary["rCD/fog"] == pytest.approx((0.1 + 0.2) / (0.1 + 0.2))
    assert summary["rCD/snow"] == pytest.approx(0.4 / 0.4)
    worse_clean = segmentation_summary(miou, baseline, clean=0.65)  # same corrupted mIoUs, less lost
    assert worse_clean["rCD/fog"] == pytest.approx((0.05 + 0.15) / 0.3)
    assert worse_clean["rCD"] == pytest.approx(((0.05 + 0.15) / 0.3 + 0.35 / 0.4) / 2)
    assert worse_clean["mCD"] == summary["mCD"]  # the absolute CD does not see the clean mIoU
    assert "rCD" not in segmentation_summary(miou, baseline)  # no clean mIoU of the model
    assert "rCD" not in segmentation_summary(miou, {k: v for k, v in baseline.items() if k[0] != "clean"}, 0.7)


def test_shift_consistency_on_the_overlap() -> None:
    # Source 4x6. Crop a: rows 0-2, cols 0-3; crop b: rows 1-3, cols 2-5; shared: rows 1-2, cols 2-3 (4 pixels).
    a = np.array([[9, 9, 9, 9],
                  [9, 9, 1, 2],
                  [9, 9, 3, 4]])
    b = np.array([[1, 2, 8, 8],
                  [3, 0, 8, 8],
                  [8, 8, 8, 8]])
    assert shift_consistency(a, (0, 0), b, (1, 2)) == pytest.approx(3 / 4)
    assert shift_consistency(b, (1, 2), a, (0, 0)) == pytest.approx(3 / 4)
    batch = shift_consistency(np.stack([a, a]), (0, 0), np.stack([b, np.full_like(b, 7)]), (1, 2))
    np.testing.assert_allclose(batch, [0.75, 0.0])
    assert shift_consistency(a, (5, 5), a, (5, 5)) == 1.0
    with pytest.raises(UsageError, match="do not overlap"):
        shift_consistency(a, (0, 0), b, (3, 0))
