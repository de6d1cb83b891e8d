"""ImageNet-P difficulties against a transcription of `ImageNet-P/test.py`'s `flip_prob` and `ranking_dist`
loops (hendrycks/robustness), which work on the full rank vectors of every frame."""

import numpy as np
import pytest
from scipy.stats import rankdata

from robustbench_lift.errors import UsageError
from robustbench_lift.metrics_difficulty import (
    CIFAR_P_EVAL,
    cifar_p_mean_flip_prob,
    pair_step,
    reference_scores,
    sequence_scores,
)

CLASSES = 9


def release_flip_prob(predictions: np.ndarray, noise: bool, difficulty: int) -> float:
    """test.py `flip_prob`: interleaved sub-sequences `video[i::step]`, i < step; noises keep the first frame."""
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
    """test.py `ranking_dist(mode='top5')` on ordinal ranks `(V, T, classes)` (1 = best)."""
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
def test_scores_equal_test_py(name, frames, difficulty):
    rng = np.random.default_rng(frames * 10 + difficulty)
    # logits drift slowly with a few large jumps, so predictions flip and ranks move by various amounts
    logits = np.cumsum(rng.normal(size=(6, frames, CLASSES)) * rng.choice([0.2, 2.0], size=(6, frames, 1)), axis=1)
    ranks = np.stack([[rankdata(-frame, method="ordinal") for frame in video] for video in logits])
    top5 = np.argsort(-logits, axis=-1)[..., :5]
    noise = "noise" in name
    scores = reference_scores(top5, name, difficulty)
    assert scores["flip_prob"] == pytest.approx(release_flip_prob(logits.argmax(-1), noise, difficulty), abs=1e-12)
    assert scores["top5_distance"] == pytest.approx(release_top5_distance(ranks, noise, difficulty), abs=1e-12)
    assert 0 < scores["flip_prob"] < 1


def test_difficulty_is_a_frame_gap_for_all_but_the_noises():
    assert [pair_step("rotate", d) for d in (1, 2, 3)] == [1, 2, 3]
    assert [pair_step("shot_noise", d) for d in (1, 2, 3)] == [1, 1, 1]
    # frames 0..4 of one video with top-1 classes 0 0 1 1 0: gap 2 pairs (0,2) (1,3) (2,4) all flip
    top5 = np.array([[[c, 5, 6, 7, 8] for c in (0, 0, 1, 1, 0)]])
    assert sequence_scores(top5, "tilt", 2)[0].tolist() == [1.0]
    assert sequence_scores(top5, "tilt", 1)[0].tolist() == [0.5]
    with pytest.raises(UsageError, match="difficulty"):
        pair_step("tilt", 4)


def test_cifar_p_eval_mean_is_over_its_own_ten():
    assert "spatter" in CIFAR_P_EVAL and "snow" not in CIFAR_P_EVAL and len(CIFAR_P_EVAL) == 10
    values = {name: i / 10 for i, name in enumerate(CIFAR_P_EVAL)} | {"snow": 1.0}
    assert cifar_p_mean_flip_prob(values) == pytest.approx(0.45)
    with pytest.raises(UsageError, match="missing spatter"):
        cifar_p_mean_flip_prob({name: 0.0 for name in CIFAR_P_EVAL if name != "spatter"})
