"""Stores whose models are wrong on known sets of images ("c" cells, written through the store's own API), so
counts and p-values of paired comparisons follow from set arithmetic, independently of `robustbench_lift`."""

import numpy as np
import pytest

from robustbench_lift.cli import main
from robustbench_lift.store import CellResult, ResultStore

N = 200
CELLS = (("clean", 0), ("gaussian_noise", 1), ("gaussian_noise", 3), ("snow", 1), ("snow", 3))
FINGERPRINT = {"data": "photos-v1", "images": N, "n": N, "limit": None, "num_classes": 10, "precision": "fp32",
               "mean": [0.5], "std": [0.25]}


def put_model(path, model: str, wrong: dict[tuple[str, int], set[int]], labels: np.ndarray | None = None,
              suite: str = "c", **fingerprint) -> None:
    """Store `model`'s `suite` cells on N images: image i has label i % 10 and is predicted wrong iff in `wrong`."""
    with ResultStore(path) as store:
        for (corruption, severity), miss in wrong.items():
            y = np.arange(N) % 10 if labels is None else labels
            top1 = np.where(np.isin(np.arange(len(y)), list(miss)), (y + 1) % 10, y)
            predictions = np.stack([(top1 + k) % 10 for k in range(5)], axis=1)
            store.put_cell(CellResult(model, model.encode().hex().ljust(64, "0"), suite, "photos", corruption,
                                      severity, y, predictions, len(miss) / len(y), 0.0,
                                      {**FINGERPRINT, "n": len(y), **fingerprint}, 1.0))


def random_sets(seed: int, rate: float) -> dict[tuple[str, int], set[int]]:
    """Per cell a random set of wrong images, about `rate` + 0.1 x severity of them."""
    rng = np.random.default_rng(seed)
    return {cell: set(np.flatnonzero(rng.uniform(size=N) < rate + 0.1 * cell[1]).tolist()) for cell in CELLS}


def with_extra(base: dict, extra: set[int], cells=CELLS) -> dict:
    """`base` with the images of `extra` also wrong in `cells`."""
    return {cell: miss | extra if cell in cells else miss for cell, miss in base.items()}


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err
