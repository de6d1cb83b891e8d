"""A suite's report face is one file: `report/faces/<suite>.py` (issue 24.2).

A toy face dropped into a copy of the package, with no other module edited, shows up in the summary metrics,
the summary table, the paired comparison, the report's tables and its sections; and the shipped faces give the
metrics, summarisers and paired units the report had before the faces.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from report_fixtures import N_IMAGES, put, write_store

import robustbench_lift
from robustbench_lift.report.aggregate import SUMMARIZERS
from robustbench_lift.report.face import Face, Metric
from robustbench_lift.report.faces import FACES, face_metrics
from robustbench_lift.report.paired import UNITS
from robustbench_lift.report.summary import METRICS, SUITE_PRIORITY
from robustbench_lift.store import ResultStore

TOY_FACE = '''
import numpy as np
import pandas as pd

from robustbench_lift.report.face import Face, Metric, Section, Table


def summarize(cells, n_boot, seed, level):
    return {"toy_acc": float(1 - cells["top1_err"].mean()), "toy_acc_lo": np.nan, "toy_acc_hi": np.nan}


def units(cells):
    from robustbench_lift.report.paired import SuiteUnits

    correct = [(p[:, 0] == y).astype(np.float64) for p, y in zip(cells["predictions"], cells["labels"])]
    return SuiteUnits(correct, lambda means: {"toy_acc": means[..., 0]})


def toy_table(frame):
    rows = frame[frame["suite"] == "toy"].set_index("label")
    return pd.DataFrame({"toy acc.": 100 * (1 - rows["top1_err"])})


FACE = Face("toy", 99, {"toy_acc": Metric("toy acc.", True, "toy: accuracy (%)")}, summarize, units,
            tables=(Table("toy", toy_table, higher_is_better=True),),
            sections=(Section("Toy section", "toy", None, "The toy suite."),))
'''

CHECKS = '''
import json
import sys
from pathlib import Path

from robustbench_lift.report import build_report, compare
from robustbench_lift.report.summary import METRICS, summary_table

store, out = sys.argv[1], Path(sys.argv[2])
assert list(METRICS)[-1] == "toy_acc", list(METRICS)
found = {"summary": summary_table(store, n_boot=0)["toy_acc"].to_dict(),
         "delta": compare("resnet-max", "resnet-lift", results=[store], n_boot=50).metrics.at["toy_acc", "delta"]}
build_report(store, out, formats=("md", "html"), n_boot=0, grid=False)
found.update(table=(out / "tables" / "toy.md").read_text(), html=(out / "report.html").read_text())
print(json.dumps(found))
'''

TOY_WRONG = {"resnet-max": 6, "resnet-lift": 2}


def test_a_new_face_is_one_file(tmp_path: Path) -> None:
    package = Path(robustbench_lift.__file__).parent
    copy = tmp_path / "pkg" / "robustbench_lift"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "report" / "faces" / "toy.py").write_text(TOY_FACE)
    store = write_store(tmp_path / "results.db", models=tuple(TOY_WRONG), p=False, shift=False)
    with ResultStore(store) as results:
        for model, wrong in TOY_WRONG.items():
            put(results, model, "toy", "imagenet-c", "gaussian_noise", 1, wrong)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy.parent), str(package.parent)])}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(CHECKS), str(store), str(tmp_path / "report")],
                            capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    accuracy = {model: 100 * (1 - wrong / N_IMAGES) for model, wrong in TOY_WRONG.items()}  # 70 and 90
    assert found["summary"] == pytest.approx(accuracy)
    assert found["delta"] == pytest.approx(accuracy["resnet-lift"] - accuracy["resnet-max"])
    assert "| resnet-lift | **90.0** |" in found["table"]
    assert "<h2>Toy section</h2>" in found["html"] and "toy: accuracy (%)" in found["html"]


def test_the_shipped_faces() -> None:
    assert list(FACES) == ["c", "p", "shift", "clean", "seg", "ood", "freq"] == list(SUITE_PRIORITY)
    assert list(METRICS)[:4] == ["clean_err", "mCE", "rel_mCE", "mean_err"]
    assert [m for m in METRICS if METRICS[m].task == "segmentation"] == [
        "clean_mIoU", "clean_pixel_acc", "mean_mIoU", "mCD", "rCD", "seg_consistency"]
    assert {s: SUMMARIZERS.get(s).__name__ for s in SUMMARIZERS} == {
        "c": "error_summary", "clean": "error_summary", "p": "perturbation_summary", "shift": "shift_summary",
        "seg": "seg_summary", "ood": "ood_summary", "freq": "freq_summary"}
    assert {s: UNITS.get(s).__name__ for s in UNITS} == {
        "c": "error_units", "clean": "error_units", "p": "perturbation_units", "shift": "shift_units",
        "ood": "ood_units", "freq": "freq_units"}


def test_two_faces_cannot_label_one_metric_differently() -> None:
    FACES.register("twin", Face("twin", 9, {"clean_err": Metric("clean error", False, "another label")}, "x:y"))
    try:
        with pytest.raises(ValueError, match="clean_err"):
            face_metrics()
    finally:
        FACES.unregister("twin")
    assert face_metrics() == METRICS
