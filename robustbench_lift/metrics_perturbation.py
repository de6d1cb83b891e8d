"""ImageNet-P metrics: flip probability and top-5 distance, as pure functions over stored predictions.

Hendrycks & Dietterich, ICLR 2019, and `ImageNet-P/test.py` of hendrycks/robustness. For a sequence of frames
x_1..x_T of one video, a model's predictions are compared frame to frame:

- noise perturbations (gaussian, shot, speckle noise) compare every frame with the first, clean one:
  pairs (x_1, x_j), j = 2..T;
- the others compare consecutive frames: pairs (x_{j-1}, x_j), j = 2..T.

Flip probability of a video: FP = (1 / (T-1)) * sum_pairs [f(a) != f(b)] (top-1). Top-5 distance of a pair:
d(a, b) = sum_{i=1..5} |(i-1) - min(sigma(i) - 1, 5)|, with sigma(i) the rank in b of the class ranked i in a,
so only the two top-5 lists are needed. A video's uT5D is the mean d over its pairs. Data-set values are the
mean over videos (`mean_over_videos`); FR_p = FP_p / FP_p(baseline) and T5D_p = uT5D_p / uT5D_p(baseline).
"""

import numpy as np

NOISE_PERTURBATIONS = frozenset({"gaussian_noise", "shot_noise", "speckle_noise"})
"""Perturbations compared against the first frame (ImageNet-P `test.py`: the noise sequences)."""


def frame_pairs(num_frames: int, against_first: bool, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Indices `(reference, compared)` of the frame pairs of one sequence of `num_frames` frames.

    `step` > 1 is the released difficulty-k comparison of the non-noise sequences (frame j against j - k).
    """
    if num_frames <= step or step < 1:
        raise ValueError(f"a sequence needs more than step={step} >= 1 frames, got {num_frames}")
    if against_first:
        compared = np.arange(1, num_frames)
        return np.zeros_like(compared), compared
    compared = np.arange(step, num_frames)
    return compared - step, compared


def flip_probability(top1: np.ndarray, against_first: bool, step: int = 1) -> np.ndarray:
    """Per-video flip probability from top-1 predictions `(V, T)`: float array `(V,)` in [0, 1]."""
    top1 = np.asarray(top1)
    reference, compared = frame_pairs(top1.shape[1], against_first, step)
    return (top1[:, reference] != top1[:, compared]).mean(axis=1)


def top5_distance(top5: np.ndarray, against_first: bool, step: int = 1) -> np.ndarray:
    """Per-video mean top-5 distance from top-5 predictions `(V, T, 5)` (best first): float array `(V,)`.

    Each pair contributes `sum_i |i - position in b of a's i-th class|`, a missing class counting as 5.
    """
    top5 = np.asarray(top5)
    reference, compared = frame_pairs(top5.shape[1], against_first, step)
    a, b = top5[:, reference, :, None], top5[:, compared, None, :]  # (V, P, 5, 1) vs (V, P, 1, 5)
    match = a == b
    position = np.where(match.any(-1), match.argmax(-1), 5)  # rank - 1 in b, capped at 5
    distance = np.abs(np.arange(5) - position).sum(-1)  # (V, P)
    return distance.mean(axis=1)


def mean_over_videos(per_video: np.ndarray) -> float:
    """Data-set value of a per-video metric: the plain mean over videos (ImageNet-P `test.py`)."""
    return float(np.mean(per_video))
