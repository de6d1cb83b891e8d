"""Results stores for the report tests, written through the store's own API.

"c" cells have hand-chosen error counts: every cell has N_IMAGES images; image i has label i % 10 and the first
`wrong` images of a cell predict the wrong class, so a cell's top-1 error is exactly wrong / N_IMAGES and its
per-image predictions are real arrays the bootstrap can resample.

"p" and "shift" cells are what the real suites store: `evaluate` of a seeded 10-class `TinyNet` per model on the
first demo images (p: `(N, T, 5)` predictions per sequence, with a hand-written FR/T5D baseline CSV; shift: a
`("pairs", 0)` cell `(N, 2 * pairs, 5)` and `("diagonal", s)` cells `(N, 5)`), re-keyed to the fixture's model
sha. `p_by_hand` and `shift_by_hand` recompute their metrics from those predictions with the published
definitions, independently of `robustbench_lift`.
"""

import functools
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from evaluate_fixtures import tiny_model

from robustbench_lift.data.demo import MEAN as DEMO_MEAN
from robustbench_lift.data.demo import STD as DEMO_STD
from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.store import CellResult, ResultStore
from robustbench_lift.suites.options import PerturbationOptions

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
TINY_SEEDS = {"resnet-max": 1, "resnet-lift": 5}
"""model -> `TinyNet` seed of its p and shift cells (both flip under noise, rotation and translation)."""
P_CELLS = (("gaussian_noise", 1), ("gaussian_noise", 2), ("rotate", 1), ("translate", 1))
"""Evaluated p cells: a noise at two difficulties (compared with the first frame), two geometric ones."""
P_BASELINE = {("gaussian_noise", 1): (0.10, 0.8), ("gaussian_noise", 2): (0.20, 1.0), ("rotate", 1): (0.10, 1.0),
              ("translate", 1): (0.20, 2.0)}
"""Hand-written FR/T5D baseline: cell -> (flip probability, uT5D), stored as `P_BASELINE_NAME`."""
P_BASELINE_NAME = "p_baseline.csv"
BASELINE_KEYS = ("fr", "t5d", "base_flip_prob", "base_ut5d", "p_baseline")
SUITE_IMAGES = 8
"""Demo images (sequences) per p and shift cell: `evaluate(..., limit=SUITE_IMAGES)`."""
STORE_COLUMNS = {"model", "weights_sha256", "suite", "dataset", "corruption", "severity", "n", "top1_err",
                 "top5_err", "fingerprint", "seconds", "images_per_second", "run_id", "finished_at", "labels",
                 "predictions"}


def cell_arrays(wrong: int, n: int = N_IMAGES) -> tuple[np.ndarray, np.ndarray]:
    """Labels `(n,)` and top-5 predictions `(n, 5)` whose first `wrong` top-1 predictions miss."""
    labels = np.arange(n) % 10
    top1 = np.where(np.arange(n) < wrong, (labels + 1) % 10, labels)
    others = (top1[:, None] + np.arange(1, 5)[None]) % 10
    return labels, np.concatenate([top1[:, None], others], axis=1)


def model_sha(model: str) -> str:
    """The fixture's weights sha256 of `model` (the same for all of its suites)."""
    return model.encode().hex().ljust(64, "0")[:64]


def put(store: ResultStore, model: str, suite: str, dataset: str, corruption: str, severity: int, wrong: int,
        num_classes: int = 1000, sha: str | None = None, **metrics: float) -> None:
    labels, predictions = cell_arrays(wrong)
    store.put_cell(CellResult(model, sha or model_sha(model), suite, dataset, corruption,
                              severity, labels, predictions, wrong / N_IMAGES, 0.0,
                              {"num_classes": num_classes}, 1.0, metrics))


@functools.cache
def suite_cells(model: str, suite: str) -> pd.DataFrame:
    """The cells `evaluate` returns for `model`'s `TinyNet` on suite "p" (all `P_CELLS`, with the
    `P_BASELINE` CSV) or "shift" (defaults: 5 pairs, crop mode, shifts 0..4) on the first demo images."""
    run = RunOptions(limit=SUITE_IMAGES, progress=False)
    described = ModelOptions(name=model, num_classes=10, mean=DEMO_MEAN, std=DEMO_STD)
    if suite == "shift":
        return evaluate(tiny_model(10, TINY_SEEDS[model]), "shift", "demo", run=run, options=described)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / P_BASELINE_NAME
        pd.DataFrame([(p, d, fp, u) for (p, d), (fp, u) in P_BASELINE.items()],
                     columns=["perturbation", "difficulty", "flip_prob", "ut5d"]).to_csv(csv, index=False)
        levels = sorted({d for _, d in P_CELLS})
        return pd.concat([evaluate(tiny_model(10, TINY_SEEDS[model]), PerturbationOptions(
            difficulties=[level], perturbations=sorted({p for p, d in P_CELLS if d == level}), p_baseline=csv), "demo",
            run=run, options=described) for level in levels], ignore_index=True)


def put_suite(store: ResultStore, model: str, suite: str, drop: tuple[str, ...] = ()) -> None:
    """Store `suite_cells(model, suite)` under the fixture's sha of `model`, without the metrics in `drop`."""
    for row in suite_cells(model, suite).to_dict("records"):
        metrics = {k: v for k, v in row.items() if k not in STORE_COLUMNS and k not in drop and pd.notna(v)}
        store.put_cell(CellResult(model, model_sha(model), suite, row["dataset"], row["corruption"], row["severity"],
                                  row["labels"], row["predictions"], row["top1_err"], row["top5_err"],
                                  row["fingerprint"], row["seconds"], metrics))


def write_store(path: Path, models=tuple(WRONG), num_classes: int = 1000, dataset: str = "imagenet-c",
                c: bool = True, p: bool = True, shift: bool = True, scale: float = 1.0,
                p_baseline: bool = True) -> Path:
    """A store with clean and corruption cells of `models` ("c" suite), plus "p" and "shift" cells.

    `scale` multiplies every wrong count (rounded), to make a worse or better run of the same models;
    `p_baseline=False` stores the p cells as a run without a baseline (no FR/T5D).
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
            if p:
                put_suite(store, model, "p", () if p_baseline else BASELINE_KEYS)
            if shift:
                put_suite(store, model, "shift")
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


def put_fake_suite(path: Path, wrong: int = N_IMAGES) -> None:
    """One cell per model of a suite "fake" that has no summariser, at a c cell's key and all wrong."""
    with ResultStore(path) as results:
        for model in WRONG:
            put(results, model, "fake", "imagenet-c", "gaussian_noise", 1, wrong)


def _top1(model: str, suite: str) -> dict[tuple[str, int], np.ndarray]:
    frame = suite_cells(model, suite)
    return {(c, int(s)): np.asarray(p) for c, s, p in zip(frame["corruption"], frame["severity"], frame["predictions"])}


def flip_and_distance(perturbation: str, sequences: np.ndarray) -> tuple[float, float]:
    """Flip probability and uT5D of a cell from its top-5 lists `(N, T, 5)`, loop by loop (Hendrycks &
    Dietterich 2019): noises compare frame j with frame 0, the others with frame j - 1; the distance of two
    frames is sum_i |i - min(rank of the i-th class of the first in the second, 5)|; per sequence the mean over
    frames, then the mean over sequences."""
    flips, distances = [], []
    for frames in sequences:
        fp = d = 0.0
        for j in range(1, len(frames)):
            before, after = frames[0 if perturbation.endswith("_noise") else j - 1], list(frames[j])
            fp += before[0] != after[0]
            d += sum(abs(i - (after.index(c) if c in after else 5)) for i, c in enumerate(before))
        flips.append(fp / (len(frames) - 1))
        distances.append(d / (len(frames) - 1))
    return float(np.mean(flips)), float(np.mean(distances))


def p_cell_by_hand(model: str) -> dict[tuple[str, int], tuple[float, float]]:
    """cell -> (flip probability, uT5D) of `model`'s stored p predictions."""
    return {cell: flip_and_distance(cell[0], p) for cell, p in _top1(model, "p").items()}


def p_by_hand(model: str) -> dict[str, float]:
    """mFP, mFR and mT5D in points: difficulty 1's (the published protocol), the mean over perturbations of
    the flip probability, and of FP / baseline FP and uT5D / baseline uT5D."""
    cells = p_cell_by_hand(model)
    names = sorted({p for p, d in P_CELLS if d == 1})
    return {"mFP": 100 * np.mean([cells[(p, 1)][0] for p in names]),
            "mFR": 100 * np.mean([cells[(p, 1)][0] / P_BASELINE[(p, 1)][0] for p in names]),
            "mT5D": 100 * np.mean([cells[(p, 1)][1] / P_BASELINE[(p, 1)][1] for p in names])}


def shift_by_hand(model: str) -> tuple[float, list[float]]:
    """Consistency (points: pairs (2j, 2j + 1) of the pairs cell with equal top-1) and the agreement (points)
    with the shift-0 top-1 at diagonal shifts 0, 1, ..."""
    cells = _top1(model, "shift")
    pairs = cells[("pairs", 0)][..., 0]
    same = [pairs[i, j] == pairs[i, j + 1] for i in range(len(pairs)) for j in range(0, pairs.shape[1], 2)]
    diagonal = [cells[("diagonal", s)][:, 0] for s in range(sum(c == "diagonal" for c, _ in cells))]
    return 100 * float(np.mean(same)), [100 * float(np.mean(d == diagonal[0])) for d in diagonal]


def shift_accuracy_by_hand(model: str) -> float:
    """Top-1 accuracy (points) over every crop of the pairs cell, against each image's label."""
    row = suite_cells(model, "shift").query("corruption == 'pairs'").iloc[0]
    top1 = np.asarray(row["predictions"])[..., 0]
    return 100 * float(np.mean(top1 == np.asarray(row["labels"])[:, None]))


def all_by_hand(model: str) -> dict[str, float]:
    """Every summary metric of a full `write_store` store by hand (points)."""
    return {**by_hand(model), **p_by_hand(model), "consistency": shift_by_hand(model)[0],
            "shift_acc": shift_accuracy_by_hand(model)}
