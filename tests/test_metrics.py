"""Corruption metrics against hand-computed examples and the published AlexNet tables."""

import numpy as np
import pytest

from corruptions.names import SUBSETS
from robustbench_lift.metrics.bootstrap import bootstrap_means, percentile_interval
from robustbench_lift.metrics.corruption import (
    ALEXNET_CLEAN_ERROR,
    ALEXNET_ERRORS,
    COMMON_CORRUPTIONS,
    corruption_error,
    corruption_summary,
    relative_corruption_error,
    top1_error,
    topk_error,
)

# The averages over severities published next to the per-severity table (hendrycks/robustness README; AugMix's
# ALEXNET_ERR): an independent transcription check of ALEXNET_ERRORS.
PUBLISHED_MEANS = {
    "gaussian_noise": 0.886428, "shot_noise": 0.894468, "impulse_noise": 0.922640, "defocus_blur": 0.819880,
    "glass_blur": 0.826268, "motion_blur": 0.785948, "zoom_blur": 0.798360, "snow": 0.866816, "frost": 0.826572,
    "fog": 0.819324, "brightness": 0.564592, "contrast": 0.853204, "elastic_transform": 0.646056,
    "pixelate": 0.717840, "jpeg_compression": 0.606500, "speckle_noise": 0.845388, "gaussian_blur": 0.787108,
    "spatter": 0.717512, "saturate": 0.658248}


def test_alexnet_table_matches_published_means():
    assert list(ALEXNET_ERRORS) == list(PUBLISHED_MEANS)
    for corruption, mean in PUBLISHED_MEANS.items():
        assert np.mean(ALEXNET_ERRORS[corruption]) == pytest.approx(mean, abs=1e-9), corruption
    assert list(ALEXNET_ERRORS) == list(SUBSETS["common"] + SUBSETS["validation"])
    assert len(COMMON_CORRUPTIONS) == 15 and SUBSETS["validation"] == ("speckle_noise", "gaussian_blur", "spatter",
                                                                       "saturate")
    assert ALEXNET_CLEAN_ERROR == pytest.approx(1 - 0.56522)


def test_top1_and_top5_error_by_hand():
    assert top1_error(np.array([0, 1, 2, 1]), np.array([0, 1, 1, 1])) == 0.25
    top = np.array([[0, 1], [2, 0], [1, 2]])  # label 1 in row 0, missing in row 1, label 2 in row 2
    assert topk_error(top, np.array([1, 1, 2])) == pytest.approx(1 / 3)
    assert top1_error(top, np.array([0, 2, 2])) == pytest.approx(1 / 3)  # column 0: 0, 2, 1


def test_worked_corruption_error():
    errors = np.array([0.5, 0.6, 0.7, 0.8, 0.9])  # sum 3.5
    alexnet_sum = 0.69528 + 0.82542 + 0.93554 + 0.98138 + 0.99452  # 4.43214
    assert corruption_error(errors, "gaussian_noise") == pytest.approx(3.5 / 4.43214)
    assert alexnet_sum == pytest.approx(4.43214)
    # relative: sum(E - 0.3) = 3.5 - 1.5 = 2.0 over sum(E_alex - 0.43478) = 4.43214 - 2.1739 = 2.25824
    assert relative_corruption_error(errors, 0.3, "gaussian_noise") == pytest.approx(2.0 / 2.25824)
    # a subset of severities is normalised by AlexNet at the same severities
    assert corruption_error(np.array([0.5, 0.7]), "gaussian_noise", [1, 3]) == pytest.approx(1.2 / (0.69528 + 0.93554))


def test_alexnet_scores_exactly_100():
    errors = {(c, s + 1): e for c in COMMON_CORRUPTIONS for s, e in enumerate(ALEXNET_ERRORS[c])}
    summary = corruption_summary(errors, ALEXNET_CLEAN_ERROR)
    assert summary["mCE"] == 1.0 and summary["rel_mCE"] == 1.0
    assert all(summary[f"CE/{c}"] == 1.0 for c in COMMON_CORRUPTIONS)


def test_summary_means_and_corruption_sets():
    errors = {("fog", 1): 0.1, ("fog", 2): 0.3, ("spatter", 1): 0.5}
    summary = corruption_summary(errors, 0.05)
    assert summary["mean_err"] == pytest.approx(0.3)
    assert summary["err/fog"] == pytest.approx(0.2) and summary["err/spatter"] == pytest.approx(0.5)
    assert summary["CE/spatter"] == pytest.approx(0.5 / 0.47196)
    assert summary["mCE"] == pytest.approx(0.4 / (0.67474 + 0.76050))  # the extra spatter stays out of mCE
    assert summary["rel_mCE"] == pytest.approx((0.4 - 0.1) / (0.67474 + 0.76050 - 2 * 0.43478))
    plain = corruption_summary(errors, normalise=False)
    assert set(plain) == {"mean_err", "err/fog", "err/spatter"}


def test_summary_is_vectorised_over_replicates():
    rng = np.random.default_rng(0)
    errors = {(c, s): rng.uniform(0.2, 0.9, size=7) for c in ("fog", "snow") for s in (1, 2, 3)}
    clean = rng.uniform(0.1, 0.2, size=7)
    batched = corruption_summary(errors, clean)
    for b in range(7):
        single = corruption_summary({k: v[b] for k, v in errors.items()}, clean[b])
        for metric, value in single.items():
            assert batched[metric][b] == pytest.approx(value)


def test_bootstrap_resamples_units_jointly_and_reproducibly():
    rng = np.random.default_rng(1)
    wrong = (rng.uniform(size=400) < 0.3).astype(float)
    draws = bootstrap_means([wrong, wrong, 1 - wrong], n_boot=2000, seed=3)
    assert draws.shape == (2000, 3)
    assert np.array_equal(draws[:, 0], draws[:, 1])  # same indices for every row of equal length
    assert np.allclose(draws[:, 0] + draws[:, 2], 1.0)
    assert np.array_equal(draws, bootstrap_means([wrong, wrong, 1 - wrong], n_boot=2000, seed=3))
    assert np.allclose(draws[:, 0] * 400, np.round(draws[:, 0] * 400))  # a mean of 400 resampled 0/1 values
    p = wrong.mean()
    assert draws[:, 0].mean() == pytest.approx(p, abs=0.005)
    assert draws[:, 0].std() == pytest.approx(np.sqrt(p * (1 - p) / 400), rel=0.1)
    uneven = bootstrap_means([wrong, wrong[:100]], n_boot=50, seed=0)
    assert uneven.shape == (50, 2) and not np.array_equal(uneven[:, 0], uneven[:, 1])
    with pytest.raises(ValueError, match="empty"):
        bootstrap_means([np.zeros(0)])


def test_percentile_interval():
    assert percentile_interval(np.arange(101.0)) == pytest.approx((2.5, 97.5))
    assert percentile_interval(np.full(10, 0.25)) == (0.25, 0.25)
