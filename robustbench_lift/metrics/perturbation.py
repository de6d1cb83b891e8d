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

from corruptions.names import NOISE_PERTURBATIONS, P_SUBSETS


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


def per_sequence(cell: tuple[str, int], predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip probability and uT5D of every sequence `(N,)` from top-k predictions `(N, T, k)`.

    Noise perturbations compare each frame with the first; with fewer than 5 classes the lists are padded with
    the same absent classes in every frame, so the distance is the top-k one.
    """
    predictions = np.asarray(predictions)
    against_first = cell[0] in NOISE_PERTURBATIONS
    k = predictions.shape[-1]
    if k < 5:
        padding = np.broadcast_to(-1 - np.arange(5 - k), (*predictions.shape[:-1], 5 - k))
        predictions = np.concatenate([predictions, padding], axis=-1)
    return (flip_probability(predictions[..., 0], against_first),
            top5_distance(predictions[..., :5], against_first))


def perturbation_aggregates(fp: dict[tuple[str, int], np.ndarray], ut5d: dict[tuple[str, int], np.ndarray],
                            base: dict[tuple[str, int], tuple[float, float]] | None) -> dict[str, np.ndarray]:
    """`FP/<p>`, `uT5D/<p>`, `mFP`, `mUT5D` and, with `base` (cell -> baseline (FP, uT5D)), `FR/<p>`,
    `T5D/<p>`, `mFR`, `mT5D` from per-cell values (scalars or `(B,)` replicates) keyed `(perturbation, d)`."""
    out: dict[str, np.ndarray] = {}
    names = list(dict.fromkeys(p for p, _ in fp))
    for p in names:
        cells = [cell for cell in fp if cell[0] == p]
        out[f"FP/{p}"] = np.mean([fp[c] for c in cells], axis=0)
        out[f"uT5D/{p}"] = np.mean([ut5d[c] for c in cells], axis=0)
        if base is not None:
            out[f"FR/{p}"] = np.sum([fp[c] for c in cells], axis=0) / sum(base[c][0] for c in cells)
            out[f"T5D/{p}"] = np.sum([ut5d[c] for c in cells], axis=0) / sum(base[c][1] for c in cells)
    tests = [p for p in names if p in P_SUBSETS["test"]]
    for prefix, mean in (("FP", "mFP"), ("uT5D", "mUT5D"), ("FR", "mFR"), ("T5D", "mT5D")):
        if tests and f"{prefix}/{tests[0]}" in out:
            out[mean] = np.mean([out[f"{prefix}/{p}"] for p in tests], axis=0)
    return out
