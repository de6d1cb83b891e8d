"""ImageNet-P difficulties as `ImageNet-P/test.py` (hendrycks/robustness) scores them, as pure functions.

`test.py -p <perturbation> -d <difficulty>` (d = 1, 2, 3) prints three numbers for one perturbation and one
difficulty: the flip probability, the top-5 distance and the Zipf distance (the last needs every class's
rank; we store the top 5 only, so it is not offered). What a difficulty means depends on the perturbation:

- noises (`'noise' in name`: gaussian_noise, shot_noise, speckle_noise): difficulty d reads other sequences,
  the `<name>_d` folders made with stronger noise (`make_imagenet_p.py`: sigma 0.03 / 0.05 / 0.08, Poisson
  rate 300 / 120 / 60, speckle 0.05 / 0.10 / 0.15), and compares every frame with the first, clean one;
- the others: difficulty d reads the same sequences and compares frame j with frame j - d, for every j >= d
  (test.py loops over the d interleaved sub-sequences `frames[i::d]`, i < d, each compared frame to frame:
  together exactly the pairs (j - d, j)).

A video's score is the mean over its pairs; the printed value is the mean over videos. test.py aggregates
nothing across difficulties or perturbations: each run prints one (perturbation, difficulty). The published
ImageNet-P numbers (mFR, mT5D: the README leaderboard) are difficulty 1, normalised per perturbation by
AlexNet and averaged over the 10 test perturbations; the maintainer's advice is to measure difficulty 1
(hendrycks/robustness issue 23). CIFAR-10/100-P (`ImageNet-P/cifar-p-eval.py`) fixes difficulty 1 and prints the
plain mean flip probability over its own 10 perturbations, which take spatter where ImageNet-P's test set takes
snow (`CIFAR_P_EVAL`).
"""

from collections.abc import Mapping

import numpy as np

from robustbench_lift.errors import UsageError
from robustbench_lift.metrics_perturbation import flip_probability, top5_distance

DIFFICULTIES = (1, 2, 3)
CIFAR_P_EVAL = ("gaussian_noise", "shot_noise", "motion_blur", "zoom_blur", "spatter", "brightness", "translate",
                "rotate", "tilt", "scale")
"""The perturbations `cifar-p-eval.py` averages (its list, in its order)."""


def is_noise(name: str) -> bool:
    """test.py's test for a noise perturbation: `'noise' in name`."""
    return "noise" in name


def pair_step(name: str, difficulty: int) -> int:
    """The frame gap test.py compares at `difficulty`: 1 for the noises (stronger noise instead), `difficulty`
    for the others."""
    if difficulty not in DIFFICULTIES:
        raise UsageError(f"difficulty must be 1, 2 or 3 (test.py --difficulty), got {difficulty}")
    return 1 if is_noise(name) else difficulty


def sequence_scores(top5: np.ndarray, name: str, difficulty: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-video flip probability and top-5 distance `(V,)` of `name` at `difficulty`, from the top-5 class
    indices of every frame `(V, T, 5)` (best first), paired as test.py pairs them (module docstring)."""
    top5 = np.asarray(top5)
    step = pair_step(name, difficulty)
    return (flip_probability(top5[..., 0], is_noise(name), step),
            top5_distance(top5[..., :5], is_noise(name), step))


def reference_scores(top5: np.ndarray, name: str, difficulty: int) -> dict[str, float]:
    """What `test.py -p name -d difficulty` prints, `{"flip_prob", "top5_distance"}`: the means over videos of
    `sequence_scores`. For the noises, `top5` must come from the difficulty's own sequences."""
    flips, distances = sequence_scores(top5, name, difficulty)
    return {"flip_prob": float(np.mean(flips)), "top5_distance": float(np.mean(distances))}


def cifar_p_mean_flip_prob(flip_prob: Mapping[str, float]) -> float:
    """`cifar-p-eval.py`'s "Mean Flipping Prob": the plain mean of the difficulty-1 flip probabilities of the
    `CIFAR_P_EVAL` perturbations (all must be present)."""
    missing = [name for name in CIFAR_P_EVAL if name not in flip_prob]
    if missing:
        raise UsageError(f"cifar-p-eval.py averages {', '.join(CIFAR_P_EVAL)}; missing {', '.join(missing)}")
    return float(np.mean([flip_prob[name] for name in CIFAR_P_EVAL]))
