"""Effective robustness (Taori et al., "Measuring Robustness to Natural Distribution Shifts in Image
Classification", NeurIPS 2020): how far a model's accuracy under a distribution shift lies above what its
in-distribution (ImageNet) accuracy predicts from a linear fit over models on logit axes.

    logit(p) = ln(p / (1 - p))
    fit:       logit(ood) ~ slope * logit(id) + intercept      (least squares over models)
    ER(model)  = ood - expit(slope * logit(id) + intercept)      (accuracy, fractions)

    >>> slope, intercept = linear_fit(np.array([0.6, 0.7, 0.8]), np.array([0.45, 0.55, 0.7]))
    >>> round(float(effective_robustness(0.75, 0.7, slope, intercept)), 4)
    0.0735

Functions take accuracies in [0, 1] with any leading shape (bootstrap replicates first), models on the last axis
of the fit. Accuracies of exactly 0 or 1 are clipped to `EPSILON` from the ends so their logit is finite.
"""

import numpy as np

EPSILON = 1e-6
OOD_SETS = ("imagenet-v2", "imagenet-v2-matched-frequency", "imagenet-v2-threshold0.7", "imagenet-v2-top-images",
            "imagenet-r", "imagenet-a", "imagenet-sketch", "mapped")
"""The natural-shift sets of suite `ood` (`data.ood`): ImageNet-V2 (a release named by its folder, or unnamed),
ImageNet-R, -A, -Sketch, and "mapped" (any set with an ObjectNet-style class mapping). Each is its own axis of
effective robustness, and its own summary columns."""


def logit(p: np.ndarray | float) -> np.ndarray:
    """ln(p / (1 - p)) of accuracies `p` (clipped to [EPSILON, 1 - EPSILON])."""
    p = np.clip(np.asarray(p, dtype=np.float64), EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p))


def expit(x: np.ndarray | float) -> np.ndarray:
    """1 / (1 + e^-x), the inverse of `logit`."""
    return 1 / (1 + np.exp(-np.asarray(x, dtype=np.float64)))


def linear_fit(id_acc: np.ndarray, ood_acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(slope, intercept)` of the least-squares line logit(ood) = slope * logit(id) + intercept over the models on
    the last axis of `id_acc`, `ood_acc` `(..., M)`, M >= 2 with distinct `id_acc` (else NaN); shapes `(...)`."""
    x, y = logit(id_acc), logit(ood_acc)
    dx, dy = x - x.mean(-1, keepdims=True), y - y.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (dx * dy).sum(-1) / (dx * dx).sum(-1)
    return slope, y.mean(-1) - slope * x.mean(-1)


def predicted_accuracy(id_acc: np.ndarray | float, slope: np.ndarray | float,
                       intercept: np.ndarray | float) -> np.ndarray:
    """The OOD accuracy the line predicts at in-distribution accuracy `id_acc`: expit(slope * logit(id) + b)."""
    return expit(np.asarray(slope) * logit(id_acc) + np.asarray(intercept))


def effective_robustness(id_acc: np.ndarray | float, ood_acc: np.ndarray | float, slope: np.ndarray | float,
                         intercept: np.ndarray | float) -> np.ndarray:
    """ood_acc minus `predicted_accuracy(id_acc, ...)`: accuracy above (> 0) or below the fit, in [-1, 1]."""
    return np.asarray(ood_acc, dtype=np.float64) - predicted_accuracy(id_acc, slope, intercept)
