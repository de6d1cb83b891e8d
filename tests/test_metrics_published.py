"""The acceptance figure: torchvision's ResNet-50 (V1 weights) has mCE 76.7 on the full ImageNet-C (Hendrycks &
Dietterich, ICLR 2019, Table 1). A results store holding its published per-corruption errors, read back through
`summarize`, must give that mCE, the published per-corruption CEs and the published accuracy under corruption.

Source of the errors: bethgelab/game-of-noise (Rusak et al., ECCV 2020), `Results/clean_results.txt` at commit
82423a1089bc5defdfc29a3606b3b8815ac21983, the output of its `main.py --model_name clean` (torchvision
`resnet50(pretrained=True)`, fp32, the released ImageNet-C JPEGs, all 50,000 images): severity-averaged top-1
accuracy per corruption, with the CE it derived from it, and "Full ImageNet-C: Top1 accuracy 39.17 ... mCE:
76.70"; clean ImageNet val top-1 76.13. Only the severity mean is published, and CE_c depends on the errors of c
only through their sum over severities, so every severity cell holds that mean.
"""

import numpy as np
import pytest

from robustbench_lift.report.aggregate import summarize
from robustbench_lift.store import CellResult, ResultStore

# corruption: (top-1 accuracy % averaged over severities 1..5, CE % printed next to it), game-of-noise above
PUBLISHED = {
    "gaussian_noise": (29.29, 79.77), "shot_noise": (27.03, 81.58), "impulse_noise": (23.81, 82.58),
    "defocus_blur": (38.75, 74.71), "glass_blur": (26.79, 88.61), "motion_blur": (38.67, 78.03),
    "zoom_blur": (36.24, 79.86), "snow": (32.53, 77.83), "frost": (38.14, 74.84), "fog": (45.83, 66.11),
    "brightness": (68.02, 56.64), "contrast": (39.06, 71.43), "elastic_transform": (45.25, 84.75),
    "pixelate": (44.79, 76.92), "jpeg_compression": (53.41, 76.82),
}
CLEAN_ACCURACY, CORRUPTED_ACCURACY, MCE = 76.13, 39.17, 76.70
N = 10_000  # images per cell: every published error (two decimals in %) is a whole number of them


def cell(corruption: str, severity: int, error: float) -> CellResult:
    """A 1000-class cell of N images whose top-1 error is `error`: the first round(error * N) predictions wrong."""
    wrong = round(error * N)
    labels = np.zeros(N, np.int64)
    predictions = (np.arange(N) < wrong).astype(np.int16)[:, None]
    return CellResult("resnet50-max", "published", "c", "ImageNet-C", corruption, severity, labels=labels,
                      predictions=predictions, top1_err=wrong / N, top5_err=wrong / N,  # top-5: not tested
                      fingerprint={"num_classes": 1000, "precision": "fp32", "n": N}, seconds=0.0)


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    path = tmp_path_factory.mktemp("published") / "resnet50.db"
    with ResultStore(path) as store:
        store.put_cell(cell("clean", 0, 1 - CLEAN_ACCURACY / 100))
        for corruption, (accuracy, _) in PUBLISHED.items():
            for severity in range(1, 6):
                store.put_cell(cell(corruption, severity, 1 - accuracy / 100))
    rows = summarize(path, n_boot=0)
    assert len(rows) == 1
    return rows.iloc[0]


def test_resnet50_mce_is_the_published_76_7(summary):
    assert 100 * summary["mCE"] == pytest.approx(MCE, abs=0.01)  # 76.70 printed; the paper rounds to 76.7
    assert 100 * (1 - summary["mean_err"]) == pytest.approx(CORRUPTED_ACCURACY, abs=0.01)
    assert 100 * summary["clean_err"] == pytest.approx(100 - CLEAN_ACCURACY, abs=1e-9)
    assert summary["n_corruption_cells"] == 75


@pytest.mark.parametrize("corruption", PUBLISHED)
def test_resnet50_ce_per_corruption_is_the_published_one(summary, corruption):
    # both sides start from the same two-decimal accuracy; AlexNet's errors (>= 0.56) bound the difference
    assert 100 * summary[f"CE/{corruption}"] == pytest.approx(PUBLISHED[corruption][1], abs=0.01)
