"""Flip probability and top-5 distance against hand-computed sequences and the released ranking formula."""

import numpy as np
import pytest
from scipy.stats import rankdata

from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.perturbation import (
    flip_probability,
    frame_pairs,
    mean_over_videos,
    pair_step,
    per_sequence,
    perturbation_aggregates,
    top5_distance,
)

CLASSES = 9


def test_flip_probability_consecutive_vs_first_frame():
    top1 = np.array([[3, 3, 5, 5, 3]])
    # consecutive pairs (3,3) (3,5) (5,5) (5,3): two flips out of four
    assert flip_probability(top1, against_first=False)[0] == pytest.approx(2 / 4)
    # against the first frame: 3 vs 3, 5, 5, 3: two differ out of four
    assert flip_probability(top1, against_first=True)[0] == pytest.approx(2 / 4)
    top1 = np.array([[1, 2, 2, 2], [0, 0, 0, 0]])
    assert flip_probability(top1, against_first=False).tolist() == pytest.approx([1 / 3, 0.0])
    assert flip_probability(top1, against_first=True).tolist() == pytest.approx([1.0, 0.0])
    assert mean_over_videos(flip_probability(top1, against_first=True)) == pytest.approx(0.5)


def test_difficulty_step_pairs():
    reference, compared = frame_pairs(6, against_first=False, step=2)
    assert list(zip(reference, compared)) == [(0, 2), (1, 3), (2, 4), (3, 5)]
    with pytest.raises(ValueError, match="more than step"):
        frame_pairs(1, against_first=True)


def test_top5_distance_by_hand():
    a = [10, 11, 12, 13, 14]
    same = [10, 11, 12, 13, 14]
    swapped = [11, 10, 12, 13, 14]          # |0-1| + |1-0| = 2
    shifted_out = [99, 10, 11, 12, 13]      # 10..13 move down one (4), 14 leaves the top 5: |4-5| = 1
    disjoint = [20, 21, 22, 23, 24]         # 5 + 4 + 3 + 2 + 1 = 15
    top5 = np.array([[a, same, swapped, shifted_out, disjoint]])
    assert top5_distance(top5, against_first=True)[0] == pytest.approx((0 + 2 + 5 + 15) / 4)
    # consecutive: a->same 0; same->swapped 2; swapped->shifted_out: 11 at 2 (|0-2|), 10 at 1 (0), 12 at 3 (|2-3|),
    # 13 at 4 (|3-4|), 14 out (|4-5|) = 5; shifted_out->disjoint = 15
    assert top5_distance(top5, against_first=False)[0] == pytest.approx((0 + 2 + 5 + 15) / 4)


def reference_distance(logits_a: np.ndarray, logits_b: np.ndarray) -> float:
    """The released formula on full rankings: sum_i |(i-1) - min(sigma(i)-1, 5)| with ranks of -logits."""
    ranks_a = np.argsort(np.argsort(-logits_a, kind="stable"), kind="stable") + 1
    ranks_b = np.argsort(np.argsort(-logits_b, kind="stable"), kind="stable") + 1
    sigma = ranks_b[np.argsort(ranks_a)]
    cumulative = np.cumsum([0] + [1] * 5 + [0] * (len(logits_a) - 6))
    return float(np.abs(cumulative[:5] - cumulative[sigma - 1][:5]).sum())


def test_top5_distance_equals_the_full_ranking_formula():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 7, 20)) + rng.normal(size=(3, 1, 20)) * 2  # correlated frames
    top5 = np.argsort(-logits, axis=-1, kind="stable")[..., :5]
    for against_first in (True, False):
        reference, compared = frame_pairs(7, against_first)
        expected = [np.mean([reference_distance(video[r], video[c]) for r, c in zip(reference, compared)])
                    for video in logits]
        np.testing.assert_allclose(top5_distance(top5, against_first), expected)


def release_flip_prob(predictions: np.ndarray, noise: bool, difficulty: int) -> float:
    """A transcription of ImageNet-P/test.py `flip_prob`: interleaved sub-sequences `video[i::step]`, i < step,
    step = difficulty (1 for the noises, which keep comparing with the first frame)."""
    step = 1 if noise else difficulty
    result = 0.0
    for video in predictions:
        flips = []
        for i in range(step):
            previous = video[i]
            for current in video[i::step][1:]:
                flips.append(int(previous != current))
                if not noise:
                    previous = current
        result += np.mean(flips) / len(predictions)
    return result


def release_top5_distance(ranks: np.ndarray, noise: bool, difficulty: int) -> float:
    """A transcription of test.py `ranking_dist(mode='top5')` on ordinal ranks `(V, T, classes)` (1 = best)."""
    cum_sum_top5 = np.cumsum(np.asarray([0] + [1] * 5 + [0] * (CLASSES - 1 - 5)))
    step = 1 if noise else difficulty
    result = 0.0
    for video in ranks:
        distances = []
        for i in range(step):
            first_inverse = np.argsort(video[i])
            for rank in video[i::step][1:]:
                sigma = rank[first_inverse]
                distances.append(np.sum(np.abs(cum_sum_top5[:5] - cum_sum_top5[sigma - 1][:5])))
                if not noise:
                    first_inverse = np.argsort(rank)
        result += np.mean(distances) / len(ranks)
    return result


@pytest.mark.parametrize("name, frames", [("gaussian_noise", 31), ("speckle_noise", 31), ("rotate", 31),
                                          ("translate", 41), ("translate", 16), ("motion_blur", 21)])
@pytest.mark.parametrize("difficulty", [1, 2, 3])
def test_per_sequence_equals_test_py_at_every_difficulty(name, frames, difficulty):
    rng = np.random.default_rng(frames * 10 + difficulty)
    # logits drift slowly with a few large jumps, so predictions flip and ranks move by various amounts
    logits = np.cumsum(rng.normal(size=(6, frames, CLASSES)) * rng.choice([0.2, 2.0], size=(6, frames, 1)), axis=1)
    ranks = np.stack([[rankdata(-frame, method="ordinal") for frame in video] for video in logits])
    top5 = np.argsort(-logits, axis=-1)[..., :5]
    noise = "noise" in name
    flips, distances = per_sequence((name, difficulty), top5)
    assert flips.mean() == pytest.approx(release_flip_prob(logits.argmax(-1), noise, difficulty), abs=1e-12)
    assert distances.mean() == pytest.approx(release_top5_distance(ranks, noise, difficulty), abs=1e-12)
    assert 0 < flips.mean() < 1


def test_difficulty_is_a_frame_gap_for_all_but_the_noises():
    assert [pair_step("rotate", d) for d in (1, 2, 3)] == [1, 2, 3]
    assert [pair_step("shot_noise", d) for d in (1, 2, 3)] == [1, 1, 1]
    # frames 0..4 of one video with top-1 classes 0 0 1 1 0: gap 2 pairs (0,2) (1,3) (2,4) all flip
    top5 = np.array([[[c, 5, 6, 7, 8] for c in (0, 0, 1, 1, 0)]])
    assert per_sequence(("tilt", 2), top5)[0].tolist() == [1.0]
    assert per_sequence(("tilt", 1), top5)[0].tolist() == [0.5]
    with pytest.raises(UsageError, match="difficulty"):
        pair_step("tilt", 4)


def test_aggregates_keep_difficulties_apart():
    fp = {("rotate", 1): 0.1, ("rotate", 2): 0.3, ("gaussian_noise", 1): 0.2, ("gaussian_noise", 2): 0.4,
          ("shear", 1): 0.9}
    ut5d = {cell: 10 * value for cell, value in fp.items()}
    base = {cell: (2 * value, 5 * value) for cell, value in fp.items()}
    out = perturbation_aggregates(fp, ut5d, base)
    # difficulty 1 is the headline (shear is a validation perturbation: not in the means)
    assert out["mFP"] == pytest.approx(0.15) and out["mUT5D"] == pytest.approx(1.5)
    assert out["mFP@2"] == pytest.approx(0.35) and out["FP/rotate@2"] == pytest.approx(0.3)
    assert out["mFR"] == pytest.approx(0.5) and out["mT5D@2"] == pytest.approx(2.0)
    assert out["FR/shear"] == pytest.approx(0.5) and "mFP@3" not in out
    # CIFAR-10-P (cifar-p-eval.py) averages spatter, not snow
    fp = {("snow", 1): 0.9, ("spatter", 1): 0.3, ("rotate", 1): 0.1}
    cifar = perturbation_aggregates(fp, fp, None, means_over="cifar")
    assert cifar["mFP"] == pytest.approx(0.2) and perturbation_aggregates(fp, fp, None)["mFP"] == pytest.approx(0.5)


def test_a_baseline_that_never_flips_leaves_fr_undefined_and_says_so():
    fp = {("rotate", 1): np.array([0.2, 0.0]), ("tilt", 1): np.array([0.1, 0.3])}
    base = {("rotate", 1): (0.0, 0.5), ("tilt", 1): (0.2, 0.4)}
    with pytest.warns(RuntimeWarning, match=r"never flips.*rotate@1.*undefined"):
        out = perturbation_aggregates(fp, fp, base)
    assert np.isnan(out["FR/rotate"]).all() and np.isnan(out["mFR"]).all()
    np.testing.assert_allclose(out["FR/tilt"], [0.5, 1.5])
    np.testing.assert_allclose(out["T5D/rotate"], [0.4, 0.0])
