"""Results stores for the report tests, written through the store's own API with hand-chosen error counts.

Every cell has N_IMAGES images; image i has label i % 10 and the first `wrong` images of a cell predict the
wrong class, so a cell's top-1 error is exactly wrong / N_IMAGES and its per-image predictions are real arrays
the bootstrap can resample.
"""

from pathlib import Path

import numpy as np

from robustbench_lift.store import CellResult, ResultStore

N_IMAGES = 20
CORRUPTIONS = ("gaussian_noise", "defocus_blur", "snow", "contrast")
"""One corruption per ImageNet-C family."""
WRONG = {
    # model -> clean wrong count, then per corruption the wrong counts at severities 1..5 (out of 20).
    "resnet-max": (5, {"gaussian_noise": (8, 10, 12, 14, 16), "defocus_blur": (7, 9, 11, 13, 15),
                       "snow": (9, 12, 11, 14, 17), "contrast": (6, 8, 10, 12, 18)}),
    "resnet-lift": (4, {"gaussian_noise": (6, 8, 10, 12, 14), "defocus_blur": (6, 8, 9, 11, 13),
                        "snow": (8, 10, 10, 12, 15), "contrast": (5, 7, 9, 11, 16)}),
}
P_VALUES = {"resnet-max": {"translate": (0.10, 0.9), "rotate": (0.20, 1.4)},
            "resnet-lift": {"translate": (0.05, 0.6), "rotate": (0.15, 1.1)}}
"""model -> perturbation -> (flip probability, uT5D) stored as per-cell scalars of suite "p"."""
AGREEMENT = {"resnet-max": (1.0, 0.9, 0.85, 0.8), "resnet-lift": (1.0, 0.95, 0.95, 0.9)}
"""model -> agreement with the unshifted prediction at diagonal shifts 0..3 px (suite "shift")."""


def cell_arrays(wrong: int, n: int = N_IMAGES) -> tuple[np.ndarray, np.ndarray]:
    """Labels `(n,)` and top-5 predictions `(n, 5)` whose first `wrong` top-1 predictions miss."""
    labels = np.arange(n) % 10
    top1 = np.where(np.arange(n) < wrong, (labels + 1) % 10, labels)
    others = (top1[:, None] + np.arange(1, 5)[None]) % 10
    return labels, np.concatenate([top1[:, None], others], axis=1)


def put(store: ResultStore, model: str, suite: str, dataset: str, corruption: str, severity: int, wrong: int,
        num_classes: int = 1000, sha: str | None = None, **metrics: float) -> None:
    labels, predictions = cell_arrays(wrong)
    store.put_cell(CellResult(model, sha or model.encode().hex().ljust(64, "0")[:64], suite, dataset, corruption,
                              severity, labels, predictions, wrong / N_IMAGES, 0.0,
                              {"num_classes": num_classes}, 1.0, metrics))


def write_store(path: Path, models=tuple(WRONG), num_classes: int = 1000, dataset: str = "imagenet-c",
                c: bool = True, p: bool = True, shift: bool = True, scale: float = 1.0) -> Path:
    """A store with clean and corruption cells of `models` ("c" suite), plus "p" and "shift" cells.

    `scale` multiplies every wrong count (rounded), to make a worse or better run of the same models.
    """
    with ResultStore(path) as store:
        for model in models:
            clean, cells = WRONG[model] if c else (None, {})
            if c:
                put(store, model, "c", dataset, "clean", 0, round(clean * scale), num_classes)
            for corruption, counts in cells.items():
                for severity, wrong in enumerate(counts, start=1):
                    put(store, model, "c", dataset, corruption, severity, min(round(wrong * scale), N_IMAGES),
                        num_classes)
            for perturbation, (fp, ut5d) in P_VALUES[model].items() if p else ():
                put(store, model, "p", "imagenet-p", perturbation, 1, 0, num_classes, flip_prob=fp, ut5d=ut5d)
            for shift_px, agreement in enumerate(AGREEMENT[model]) if shift else ():
                put(store, model, "shift", "imagenet-val", "diagonal", shift_px, 0, num_classes, agreement=agreement)
    return path


# AlexNet top-1 errors at severities 1..5, typed from hendrycks/robustness README (commit 76d9393), and the
# clean error 1 - 0.56522 (torchvision AlexNet acc@1), independently of robustbench_lift.metrics.
ALEXNET = {"gaussian_noise": (.69528, .82542, .93554, .98138, .99452),
           "defocus_blur": (.65624, .73202, .85036, .91364, .94714),
           "snow": (.71726, .88392, .86468, .91870, .94952),
           "contrast": (.64548, .76150, .88874, .97760, .99270)}
ALEXNET_CLEAN = 0.43478


def by_hand(model: str) -> dict[str, float]:
    """clean_err, mCE, rel_mCE, mean_err (points) of a fixture model, straight from the definitions."""
    clean_wrong, cells = WRONG[model]
    clean = clean_wrong / N_IMAGES
    ce, rel = [], []
    for corruption, counts in cells.items():
        errors = [w / N_IMAGES for w in counts]
        ce.append(sum(errors) / sum(ALEXNET[corruption]))
        rel.append(sum(e - clean for e in errors) / sum(a - ALEXNET_CLEAN for a in ALEXNET[corruption]))
    mean_err = sum(sum(c) for c in cells.values()) / (N_IMAGES * 5 * len(cells))
    return {"clean_err": 100 * clean, "mCE": 100 * np.mean(ce), "rel_mCE": 100 * np.mean(rel),
            "mean_err": 100 * mean_err}
