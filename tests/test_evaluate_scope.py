"""`evaluate` returns, and `liftbench evaluate` prints, the cells this call asked for, not every cell the store
holds for the model (issue 15, item 9); the printed summary says when the store holds more."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from robustbench_lift.cli import main
from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.store import ResultStore, load_results
from robustbench_lift.suites.options import CorruptionOptions


@pytest.fixture
def clean_folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(6):
        (tmp_path / "clean" / f"c{i % 3}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "clean" / f"c{i % 3}" /
                                                                                f"{i}.png")
    return tmp_path / "clean"


def run(capsys, folder, out, corruption: str, severity: str, *extra: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--model", "demo-max", "--weights", "DEFAULT", "--data", str(folder), "--corruptions",
              corruption, "--severities", severity, "--resize", "0", "--crop", "0", "--out", str(out),
              "--no-progress", "--bootstrap", "0", "--device", "cpu", *extra])
    captured = capsys.readouterr()
    assert exit_info.value.code in (0, None), captured.err
    return captured.out


def test_the_summary_covers_only_the_cells_asked_for(tmp_path, capsys, clean_folder):
    out = tmp_path / "results.db"
    first = run(capsys, clean_folder, out, "gaussian_noise", "1")
    assert "gaussian_noise" in first and "more cell" not in first
    second = run(capsys, clean_folder, out, "shot_noise", "2")
    assert "shot_noise" in second and "gaussian_noise" not in second  # before: both, and mCE over both
    assert "the store holds 1 more cell(s)" in second
    records = json.loads(run(capsys, clean_folder, out, "shot_noise", "2", "--json"))
    assert len(records) == 1 and not any("gaussian_noise" in k and v is not None for k, v in records[0].items())


def test_evaluate_returns_the_requested_cells_only(tmp_path, clean_folder):
    request = {"data": clean_folder, "options": ModelOptions(weights="DEFAULT"),
               "run": RunOptions(out=tmp_path / "r.db", progress=False, device="cpu")}
    noise = CorruptionOptions(corruptions=["gaussian_noise"], severities=[1, 2], resize=None, crop=None)
    evaluate("demo-max", noise, **request)
    frame = evaluate("demo-max", replace(noise, severities=[2]), **request)  # all stored
    assert sorted(zip(frame["corruption"], frame["severity"])) == [("clean", 0), ("gaussian_noise", 2)]


def test_evaluate_returns_what_it_computed_without_reading_it_back(tmp_path, clean_folder, monkeypatch):
    """Issue 24, item 5: the computed cells come from memory; only cells found stored are read, each by its key.
    The frame equals the store's rows read independently (`load_results`)."""
    reads = []
    cells = ResultStore.cells

    def counted(self, predictions=False, **where):
        rows = list(cells(self, predictions, **where))
        reads.append((where, len(rows)))
        return iter(rows)

    monkeypatch.setattr(ResultStore, "cells", counted)
    out = tmp_path / "r.db"
    run, model = RunOptions(out=out, progress=False, device="cpu"), ModelOptions(weights="DEFAULT")
    first = evaluate("demo-max", CorruptionOptions(corruptions=["gaussian_noise"], severities=[1], resize=None,
                                                   crop=None), clean_folder, run=run, options=model)
    assert reads == []
    second = evaluate("demo-max", CorruptionOptions(corruptions=["gaussian_noise"], severities=[1, 3], resize=None,
                                                    crop=None), clean_folder, run=run, options=model)
    assert sorted((w["corruption"], w["severity"], n) for w, n in reads) == [("clean", 0, 1), ("gaussian_noise", 1, 1)]
    stored = load_results(out, predictions=True)
    for frame, severities in ((first, [1]), (second, [1, 3])):
        expected = stored[stored["severity"].isin([0, *severities])].reset_index(drop=True)
        pd.testing.assert_frame_equal(frame.drop(columns=["labels", "predictions"]),
                                      expected.drop(columns=["labels", "predictions"]))
        for column in ("labels", "predictions"):
            for got, want in zip(frame[column], expected[column]):
                assert got.dtype == want.dtype and np.array_equal(got, want)
