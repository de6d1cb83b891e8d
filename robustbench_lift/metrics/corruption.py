"""Corruption-robustness metrics (ImageNet-C, CIFAR-C) as pure functions over NumPy arrays.

Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and Perturbations",
ICLR 2019. With E(f, s, c) the top-1 error of model f on corruption c at severity s and E_clean(f) its clean
error, all as fractions in [0, 1] (tables multiply by 100):

    top-1 error    = mean_i [top1_i != y_i]                 top-5 error = mean_i [y_i not in top5_i]
    CE_c(f)        = sum_s E(f, s, c) / sum_s E(AlexNet, s, c)
    relative CE_c  = sum_s (E(f, s, c) - E_clean(f)) / sum_s (E(AlexNet, s, c) - E_clean(AlexNet))
    mCE, rel. mCE  = mean of CE_c, relative CE_c over the 15 common corruptions evaluated
    mean error     = mean over every evaluated (c, s) of E(f, s, c)   (CIFAR-C, which has no AlexNet normaliser)

CE and mCE exist only for corruptions with an AlexNet error (`ALEXNET_ERRORS`, ImageNet-C's 19; mCE over the
common 15); any other corruption gets its mean error `err/<c>` only. The other benchmarks
(`corruptions.names.BENCHMARKS`: 3DCC, ImageNet-C-bar) have no AlexNet normaliser: their cells form their own
mean error `mean_err/<benchmark>` and stay out of `mean_err`, so a run mixing benchmarks does not blend them.

The sums run over the severities actually evaluated, with AlexNet's error at the same severities, so a run on
a subset of severities is normalised consistently. Every aggregate takes arrays with any leading shape, so the
same code computes a point estimate and its bootstrap replicates (`metrics.bootstrap`).
"""

from collections.abc import Mapping, Sequence

import numpy as np

from corruptions.names import BENCHMARKS, CORRUPTIONS, SEVERITIES, SUBSETS

ALEXNET_ERRORS: dict[str, tuple[float, float, float, float, float]] = {
    # AlexNet top-1 error per severity 1..5: hendrycks/robustness README at commit 76d9393 ("Add AlexNet errors
    # on ImageNet-C", also issue #10); their means are `ALEXNET_ERR` of AugMix. The 15 common corruptions first.
    "gaussian_noise": (0.69528, 0.82542, 0.93554, 0.98138, 0.99452),
    "shot_noise": (0.71224, 0.85108, 0.93574, 0.98182, 0.99146),
    "impulse_noise": (0.78374, 0.89808, 0.94870, 0.98720, 0.99548),
    "defocus_blur": (0.65624, 0.73202, 0.85036, 0.91364, 0.94714),
    "glass_blur": (0.64308, 0.75054, 0.88806, 0.91622, 0.93344),
    "motion_blur": (0.58430, 0.70048, 0.82108, 0.89750, 0.92638),
    "zoom_blur": (0.70008, 0.76992, 0.80784, 0.84198, 0.87198),
    "snow": (0.71726, 0.88392, 0.86468, 0.91870, 0.94952),
    "frost": (0.61390, 0.79734, 0.88790, 0.89942, 0.93430),
    "fog": (0.67474, 0.76050, 0.84378, 0.87260, 0.94500),
    "brightness": (0.45140, 0.48502, 0.54048, 0.62166, 0.72440),
    "contrast": (0.64548, 0.76150, 0.88874, 0.97760, 0.99270),
    "elastic_transform": (0.52596, 0.70116, 0.55686, 0.64076, 0.80554),
    "pixelate": (0.52218, 0.54620, 0.73728, 0.87092, 0.91262),
    "jpeg_compression": (0.51002, 0.54718, 0.57294, 0.65458, 0.74778),
    # The four extra ("validation") corruptions, same source.
    "speckle_noise": (0.66192, 0.74440, 0.90246, 0.94548, 0.97268),
    "gaussian_blur": (0.54732, 0.70444, 0.82574, 0.89864, 0.95940),
    "spatter": (0.47196, 0.62194, 0.75052, 0.84132, 0.90182),
    "saturate": (0.59342, 0.65514, 0.51174, 0.70834, 0.82260),
}
ALEXNET_CLEAN_ERROR = 0.43478
"""AlexNet's clean top-1 error for relative CE: 1 - 0.56522, torchvision's AlexNet acc@1 56.522 (the
torchvision model card). Hendrycks & Dietterich do not publish the value they used; this one is ours."""
COMMON_CORRUPTIONS = SUBSETS["common"]
BENCHMARK_MEAN_ERRORS = {benchmark: f"mean_err/{benchmark}" for benchmark in BENCHMARKS}
"""Summary key of each other benchmark's mean error."""


def benchmark_of(corruption: str) -> str | None:
    """The other benchmark (`BENCHMARKS` key) `corruption` belongs to; None for ImageNet-C's and unknown names."""
    family = CORRUPTIONS.metadata(corruption)["family"] if corruption in CORRUPTIONS else None
    return family if family in BENCHMARKS else None


def top1_error(top1: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 error: mean_i [top1_i != labels_i]; `top1` int `(N,)` or top-k `(N, k)` (column 0 used)."""
    top1 = np.asarray(top1)
    return float(np.mean((top1[:, 0] if top1.ndim == 2 else top1) != np.asarray(labels)))


def topk_wrong(topk: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-image miss of a top-k list: bool `(N,)`, True where `labels_i` is not in `topk_i` (int `(N, k)`)."""
    return ~(np.asarray(topk) == np.asarray(labels)[:, None]).any(axis=1)


def topk_error(topk: np.ndarray, labels: np.ndarray) -> float:
    """Top-k error: mean_i [labels_i not in topk_i], `topk` int `(N, k)` best first (k = 5 for top-5)."""
    return float(np.mean(topk_wrong(topk, labels)))


def alexnet_errors(corruption: str, severities: Sequence[int] = SEVERITIES) -> np.ndarray:
    """AlexNet's top-1 errors of `corruption` at `severities` (1..5): float64 `(S,)` from `ALEXNET_ERRORS`."""
    if corruption not in ALEXNET_ERRORS:
        raise KeyError(f"no AlexNet error for corruption {corruption!r}: known {', '.join(ALEXNET_ERRORS)}")
    return np.array([ALEXNET_ERRORS[corruption][s - 1] for s in severities])


def corruption_error(errors: np.ndarray, corruption: str, severities: Sequence[int] = SEVERITIES) -> np.ndarray:
    """CE_c = sum_s E(f, s, c) / sum_s E(AlexNet, s, c); `errors` `(..., S)` at `severities` -> `(...)`."""
    return np.sum(errors, axis=-1) / alexnet_errors(corruption, severities).sum()


def relative_corruption_error(errors: np.ndarray, clean_error: np.ndarray | float, corruption: str,
                              severities: Sequence[int] = SEVERITIES) -> np.ndarray:
    """Relative CE_c = sum_s (E(f,s,c) - E_clean(f)) / sum_s (E(AlexNet,s,c) - 0.43478); `(..., S)` -> `(...)`.

    `clean_error` is a scalar or shaped like `errors[..., 0]` (one clean error per bootstrap replicate).
    """
    baseline = alexnet_errors(corruption, severities) - ALEXNET_CLEAN_ERROR
    return np.sum(np.asarray(errors) - np.asarray(clean_error)[..., None], axis=-1) / baseline.sum()


def corruption_summary(errors: Mapping[tuple[str, int], np.ndarray], clean_error: np.ndarray | float | None = None,
                       normalise: bool = True) -> dict[str, np.ndarray]:
    """Aggregates of per-cell top-1 errors `{(corruption, severity): E}` (each a scalar or `(B,)` replicates).

    Returns arrays of the cells' common shape: `mean_err` (every cell but the other benchmarks'),
    `mean_err/<benchmark>` (each other benchmark's cells, `BENCHMARK_MEAN_ERRORS`), `err/<c>` (mean over c's
    severities), and with `normalise` (ImageNet, 1000 classes) `CE/<c>` for every corruption with an AlexNet
    error, `mCE` over the evaluated common ones, and with `clean_error` also `rel_CE/<c>` and `rel_mCE`. A
    corruption enters CE only with its evaluated severities.
    """
    by_corruption: dict[str, list[tuple[int, np.ndarray]]] = {}
    for (corruption, severity), error in sorted(errors.items()):
        by_corruption.setdefault(corruption, []).append((severity, np.asarray(error, dtype=np.float64)))
    summary: dict[str, np.ndarray] = {}
    for benchmark, key in ((None, "mean_err"), *BENCHMARK_MEAN_ERRORS.items()):
        cells = [e for c, pairs in by_corruption.items() if benchmark_of(c) == benchmark for _, e in pairs]
        if cells:
            summary[key] = np.mean(cells, axis=0)
    for corruption, cells in by_corruption.items():
        summary[f"err/{corruption}"] = np.mean([e for _, e in cells], axis=0)
    if not normalise:
        return summary
    for corruption, cells in by_corruption.items():
        if corruption not in ALEXNET_ERRORS:
            continue
        severities = [s for s, _ in cells]
        stacked = np.stack([e for _, e in cells], axis=-1)
        summary[f"CE/{corruption}"] = corruption_error(stacked, corruption, severities)
        if clean_error is not None:
            summary[f"rel_CE/{corruption}"] = relative_corruption_error(stacked, clean_error, corruption, severities)
    for prefix, name in (("CE", "mCE"), ("rel_CE", "rel_mCE")):
        common = [summary[f"{prefix}/{c}"] for c in COMMON_CORRUPTIONS if f"{prefix}/{c}" in summary]
        if common:
            summary[name] = np.mean(common, axis=0)
    return summary
