"""Flip probability and top-5 distance against hand-computed sequences and the released ranking formula."""

import numpy as np
import pytest

from robustbench_lift.metrics.perturbation import flip_probability, frame_pairs, mean_over_videos, top5_distance


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
