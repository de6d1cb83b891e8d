"""The SQLite results store: round trips, keys, resume checks, exports and bad files."""

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from robustbench_lift.errors import UsageError
from robustbench_lift.store import (
    RESULT_COLUMNS,
    CellResult,
    ResultStore,
    check_resumable,
    export_results,
    load_results,
)


def make_cell(sha: str = "a" * 64, corruption: str = "fog", severity: int = 2, classes: int = 1000,
              fingerprint: dict | None = None) -> CellResult:
    rng = np.random.default_rng(severity)
    labels = rng.integers(0, classes, size=6)
    predictions = rng.integers(0, classes, size=(6, 5))
    predictions[:2, 0] = labels[:2]  # two right at top-1
    return CellResult("resnet18-max", sha, "c", "imagenet-c", corruption, severity, labels, predictions,
                      top1_err=4 / 6, top5_err=0.5, fingerprint=fingerprint or {"n": 6, "limit": None}, seconds=2.0,
                      metrics={"extra_score": 0.25})


def test_round_trip_and_columns(tmp_path):
    path = tmp_path / "results.db"
    cell = make_cell()
    with ResultStore(path) as store:
        run = store.start_run({"seed": 0}, {"device": "cpu"})
        store.put_cell(cell, run)
        store.finish_run(run)
        runs = store.runs()
    assert runs.loc[0, "config"] == {"seed": 0} and runs.loc[0, "finished_at"]
    frame = load_results(path, predictions=True)
    assert list(frame.columns[:len(RESULT_COLUMNS)]) == list(RESULT_COLUMNS)
    row = frame.iloc[0]
    assert (row["model"], row["corruption"], row["severity"], row["n"]) == ("resnet18-max", "fog", 2, 6)
    assert row["top1_err"] == pytest.approx(4 / 6) and row["extra_score"] == 0.25
    assert np.array_equal(row["labels"], cell.labels) and np.array_equal(row["predictions"], cell.predictions)
    assert row["predictions"].dtype == np.int16  # 1000 classes fit int16
    assert row["images_per_second"] == pytest.approx(3.0) and row["fingerprint"] == {"n": 6, "limit": None}
    assert "predictions" not in load_results(path).columns


def test_large_class_indices_use_int32(tmp_path):
    cell = make_cell(classes=40_000)
    cell.predictions[0, 4] = 39_999  # beyond int16
    with ResultStore(tmp_path / "r.db") as store:
        store.put_cell(cell)
        row = next(store.cells(predictions=True))
    assert row["predictions"].dtype == np.int32 and np.array_equal(row["predictions"], cell.predictions)


def test_one_row_per_key_and_other_weights_kept_apart(tmp_path):
    with ResultStore(tmp_path / "r.db") as store:
        store.put_cell(make_cell())
        store.put_cell(make_cell())  # same key: replaced, not duplicated
        store.put_cell(make_cell(sha="b" * 64))
        store.put_cell(make_cell(corruption="clean", severity=0))
        assert store.fingerprints("resnet18-max", "a" * 64, "c", "imagenet-c") == {
            ("clean", 0): {"n": 6, "limit": None}, ("fog", 2): {"n": 6, "limit": None}}
        assert store.fingerprints("resnet18-max", "c" * 64, "c", "imagenet-c") == {}
    frame = load_results(tmp_path / "r.db")
    assert len(frame) == 3 and sorted(frame["weights_sha256"].str[0]) == ["a", "a", "b"]


def test_resume_check():
    stored = {("fog", 2): {"n": 6, "limit": None}}
    assert check_resumable(stored, ("fog", 2), {"limit": None, "n": 6}, "r.db")
    assert not check_resumable(stored, ("fog", 3), {"n": 6, "limit": None}, "r.db")
    with pytest.raises(UsageError, match=r"fog/2 .*limit: stored None, now 3"):
        check_resumable(stored, ("fog", 2), {"n": 3, "limit": 3}, "r.db")
    assert not check_resumable(stored, ("fog", 2), {"n": 3, "limit": 3}, "r.db", overwrite=True)
    assert check_resumable(stored, ("fog", 2), {"n": 6, "limit": None}, "r.db", overwrite=True)


def test_exports(tmp_path):
    path = tmp_path / "r.db"
    with ResultStore(path) as store:
        store.put_cell(make_cell())
        store.put_cell(make_cell(corruption="clean", severity=0))
    csv = pd.read_csv(export_results(path, tmp_path / "r.csv"))
    assert list(csv["corruption"]) == ["clean", "fog"] and csv["top1_err"].tolist() == pytest.approx([4 / 6] * 2)
    records = json.loads((export_results(path, tmp_path / "r.json")).read_text())
    assert records[1]["severity"] == 2 and json.loads(records[1]["fingerprint"]) == {"limit": None, "n": 6}
    with pytest.raises(UsageError, match=r"\.csv or \.json"):
        export_results(path, tmp_path / "r.xlsx")


def test_bad_files(tmp_path):
    with pytest.raises(UsageError, match="no results store"):
        load_results(tmp_path / "missing.db")
    (tmp_path / "junk.db").write_text("not a database at all" * 100)
    with pytest.raises(UsageError, match="not a liftbench results store"):
        ResultStore(tmp_path / "junk.db")
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("CREATE TABLE things (x)")
    other.commit()
    other.close()
    with pytest.raises(UsageError, match="schema version 0"):
        ResultStore(tmp_path / "other.db")
    with pytest.raises(UsageError, match="does not exist"):
        ResultStore(tmp_path / "no" / "dir" / "r.db")
    assert load_results(ResultStore(":memory:")).columns.tolist() == list(RESULT_COLUMNS)
