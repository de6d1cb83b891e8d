"""ImageNet-P metrics: flip probability and top-5 distance, as pure functions over stored predictions.

Hendrycks & Dietterich, ICLR 2019, and `ImageNet-P/test.py` of hendrycks/robustness. For a sequence of frames
x_1..x_T of one video, a model's predictions are compared frame to frame:

- noise perturbations (gaussian, shot, speckle noise) compare every frame with the first, clean one:
  pairs (x_1, x_j), j = 2..T;
- the others compare frame j with frame j - d at difficulty d: pairs (x_{j-d}, x_j), j = d+1..T (test.py walks
  the d interleaved sub-sequences `frames[i::d]`, i < d, frame to frame: together exactly these pairs). The
  noises' difficulty is instead their noise level: other sequences, still compared with the first frame.

Flip probability of a video: FP = mean over its pairs of [f(a) != f(b)] (top-1). Top-5 distance of a pair:
d(a, b) = sum_{i=1..5} |(i-1) - min(sigma(i) - 1, 5)|, with sigma(i) the rank in b of the class ranked i in a,
so only the two top-5 lists are needed. A video's uT5D is the mean d over its pairs. Data-set values are the
mean over videos (`mean_over_videos`); FR_p = FP_p / FP_p(baseline) and T5D_p = uT5D_p / uT5D_p(baseline).

Aggregates (`perturbation_aggregates`): test.py prints one (perturbation, difficulty) per run and aggregates
nothing; the published mFR / mT5D (hendrycks/robustness README, AugMix) are difficulty 1, normalised per
perturbation and averaged over the 10 test perturbations ("most people only measure with difficulty 1",
hendrycks/robustness issue 23). So the headline `mFP`, `mFR`, `mT5D` are difficulty 1's; difficulties 2 and 3
get the same values per difficulty, suffixed `@2`, `@3`, never averaged across difficulties. CIFAR-10-P's
`cifar-p-eval.py` prints the plain mean flip probability at difficulty 1 over its own 10 perturbations (spatter
in place of snow: `P_SUBSETS["cifar"]`), the means of CIFAR-10-P-style cells.
"""

import warnings

import numpy as np

from corruptions.names import DIFFICULTIES, NOISE_PERTURBATIONS, P_SUBSETS
from robustbench_lift.errors import UsageError


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


def pair_step(name: str, difficulty: int) -> int:
    """The frame gap test.py compares at `difficulty`: 1 for the noises (stronger noise instead), `difficulty`
    for the others."""
    if difficulty not in DIFFICULTIES:
        raise UsageError(f"difficulty must be 1, 2 or 3 (ImageNet-P/test.py --difficulty), got {difficulty}")
    return 1 if name in NOISE_PERTURBATIONS else difficulty


def per_sequence(cell: tuple[str, int], predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip probability and uT5D of every sequence `(N,)` of cell `(perturbation, difficulty)` from top-k
    predictions `(N, T, k)`, paired as test.py pairs them (step `pair_step`).

    With fewer than 5 classes the lists are padded with the same absent classes in every frame, so the distance
    is the top-k one.
    """
    predictions = np.asarray(predictions)
    against_first, step = cell[0] in NOISE_PERTURBATIONS, pair_step(*cell)
    k = predictions.shape[-1]
    if k < 5:
        padding = np.broadcast_to(-1 - np.arange(5 - k), (*predictions.shape[:-1], 5 - k))
        predictions = np.concatenate([predictions, padding], axis=-1)
    return (flip_probability(predictions[..., 0], against_first, step),
            top5_distance(predictions[..., :5], against_first, step))


def _ratio(value: np.ndarray | float, baseline: float) -> np.ndarray:
    """`value / baseline`, NaN (without a NumPy warning) where the baseline is 0."""
    value = np.asarray(value, dtype=np.float64)
    return value / baseline if baseline != 0 else np.full_like(value, np.nan)


def perturbation_aggregates(fp: dict[tuple[str, int], np.ndarray], ut5d: dict[tuple[str, int], np.ndarray],
                            base: dict[tuple[str, int], tuple[float, float]] | None,
                            means_over: str = "test") -> dict[str, np.ndarray]:
    """Per perturbation `p` and difficulty `d` (suffix `@d` for d > 1, none for 1): `FP/<p>`, `uT5D/<p>` and
    their means over the evaluated perturbations of subset `means_over` (`"test"`: ImageNet-P's 10, `"cifar"`:
    those cifar-p-eval.py averages) `mFP`, `mUT5D`; with `base` (cell -> baseline (FP, uT5D)) also `FR/<p>` =
    FP / FP_base, `T5D/<p>` = uT5D / uT5D_base, `mFR`, `mT5D`. Inputs are per-cell values (scalars or `(B,)`
    replicates) keyed `(perturbation, d)`; nothing is averaged across difficulties."""
    out: dict[str, np.ndarray] = {}
    tests: dict[str, list[str]] = {}
    undefined = sorted(f"{p}@{d}" for (p, d) in fp if base is not None and 0 in base[(p, d)])
    if undefined:
        warnings.warn(f"the p baseline never flips (FP or uT5D 0) on {', '.join(undefined)}: FR and T5D there, and "
                      "their means, are undefined (NaN); evaluate more sequences", RuntimeWarning, stacklevel=2)
    for (p, d), value in fp.items():
        suffix = "" if d == 1 else f"@{d}"
        out[f"FP/{p}{suffix}"], out[f"uT5D/{p}{suffix}"] = np.asarray(value), np.asarray(ut5d[(p, d)])
        if base is not None:
            out[f"FR/{p}{suffix}"] = _ratio(value, base[(p, d)][0])
            out[f"T5D/{p}{suffix}"] = _ratio(ut5d[(p, d)], base[(p, d)][1])
        if p in P_SUBSETS[means_over]:
            tests.setdefault(suffix, []).append(p)
    for suffix, names in tests.items():
        for prefix, mean in (("FP", "mFP"), ("uT5D", "mUT5D"), ("FR", "mFR"), ("T5D", "mT5D")):
            if f"{prefix}/{names[0]}{suffix}" in out:
                out[mean + suffix] = np.mean([out[f"{prefix}/{p}{suffix}"] for p in names], axis=0)
    return out
