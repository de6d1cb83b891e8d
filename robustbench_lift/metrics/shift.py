"""Shift-consistency metrics (Zhang, ICML 2019, antialiased-cnns `main.py -es` / `-ed`) over stored top-k
predictions: the fraction of crop pairs with the same top-1 class, and agreement with the unshifted prediction."""

import numpy as np

PAIRS = ("pairs", 0)
"""The crop-pairs cell of the shift suite: `(N, 2 * pairs, k)` predictions, crops a, b of pair j at 2j, 2j + 1."""
DIAGONAL = "diagonal"
"""Cells `("diagonal", s)`: the window at `(s, s)`, `(N, k)` predictions."""


def pair_agreement(predictions: np.ndarray) -> np.ndarray:
    """Per image, the fraction of its pairs with the same top-1: float `(N,)` from `(N, 2 * pairs, k)`."""
    return np.mean(predictions[:, 0::2, 0] == predictions[:, 1::2, 0], axis=1)


def diagonal_agreement(predictions: np.ndarray, anchor: np.ndarray) -> float:
    """Fraction of images whose top-1 at a diagonal shift (`(N, k)`) equals that at shift 0 (`anchor`, `(N, k)`)."""
    return float(np.mean(np.asarray(predictions)[:, 0] == np.asarray(anchor)[:, 0]))
