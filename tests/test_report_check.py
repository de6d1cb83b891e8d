"""The regression gate: baseline JSON round trip, tolerances, direction of each metric, mismatches, CLI exit codes."""

import json

import pytest
from report_fixtures import all_by_hand, by_hand, write_store

from robustbench_lift.cli import main
from robustbench_lift.errors import UsageError
from robustbench_lift.report.baseline import parse_tolerance, read_baseline
from robustbench_lift.report.gate import DEFAULT_TOLERANCE, MetricChange, check, update_baseline


@pytest.fixture
def run(tmp_path):
    return write_store(tmp_path / "run.db", p=False, shift=False)


@pytest.fixture
def baseline(tmp_path, run):
    path = tmp_path / "reports" / "ci" / "baseline.json"
    update_baseline(run, path, "mCE=1.5")
    return path


def test_update_writes_reviewable_json_in_points(baseline):
    data = json.loads(baseline.read_text())
    assert set(data) == {"metrics", "tolerance", "settings"}
    for model in ("resnet-lift", "resnet-max"):
        expected = by_hand(model)
        assert data["metrics"][model].keys() == expected.keys()  # p/shift not measured: absent
        for metric, value in expected.items():
            assert data["metrics"][model][metric] == pytest.approx(value, abs=1e-4)
    assert data["tolerance"] == {"clean_err": DEFAULT_TOLERANCE, "mCE": 1.5, "rel_mCE": DEFAULT_TOLERANCE,
                                 "mean_err": DEFAULT_TOLERANCE}


def test_identical_run_passes(run, baseline):
    result = check(run, baseline)
    assert result.passed and {c.status for c in result.changes} == {"same"}
    assert len(result.changes) == 8 and "PASS" in result.format()


def test_regression_beyond_tolerance_fails_and_within_passes(tmp_path, baseline):
    worse = write_store(tmp_path / "worse.db", p=False, shift=False, scale=1.1)
    result = check(worse, baseline)
    assert not result.passed
    regressed = {(c.model, c.metric) for c in result.regressions}
    assert ("resnet-max", "mCE") in regressed and ("resnet-max", "mean_err") in regressed
    change = next(c for c in result.changes if (c.model, c.metric) == ("resnet-max", "mean_err"))
    # x1.1 rounded: gaussian 9+11+13+15+18, defocus 8+10+12+14+16, snow 10+13+12+15+19, contrast 7+9+11+13+20
    assert change.worse_by == pytest.approx(100 * 255 / 400 - by_hand("resnet-max")["mean_err"])
    text = result.format()
    assert text.splitlines()[1].split()[-1] == "REGRESSED" and "FAIL:" in text
    assert check(worse, baseline, tolerance="clean_err=10,mCE=10,rel_mCE=20,mean_err=10").passed
    better = write_store(tmp_path / "better.db", p=False, shift=False, scale=0.8)
    assert check(better, baseline).passed


def test_p_and_shift_metrics_are_tracked_and_gate_a_worse_run(tmp_path):
    full = write_store(tmp_path / "full.db")
    path = tmp_path / "baseline.json"
    update_baseline(full, path)
    data = json.loads(path.read_text())
    for model in ("resnet-lift", "resnet-max"):
        for metric, value in all_by_hand(model).items():
            assert data["metrics"][model][metric] == pytest.approx(value, abs=1e-4), (model, metric)
    assert check(full, path).passed
    data["metrics"]["resnet-max"]["consistency"] += 1.0  # the run is now 1 point less consistent than tracked
    data["metrics"]["resnet-max"]["mFR"] -= 1.0  # and its mFR 1 point above the tracked one
    path.write_text(json.dumps(data))
    regressed = {(c.model, c.metric) for c in check(full, path).regressions}
    assert regressed == {("resnet-max", "consistency"), ("resnet-max", "mFR")}


def test_consistency_is_higher_is_better():
    assert MetricChange("m", "consistency", 90.0, 89.0, 0.5).status == "REGRESSED"
    assert MetricChange("m", "consistency", 90.0, 89.8, 0.5).status == "worse (within tol)"
    assert MetricChange("m", "consistency", 90.0, 95.0, 0.5).status == "improved"
    assert MetricChange("m", "mCE", 70.0, 69.0, 0.5).status == "improved"
    assert MetricChange("m", "mCE", 70.0, 70.6, 0.5).status == "REGRESSED"
    assert MetricChange("m", "mFR", None, 70.6, 0.5).status == "untracked"


def test_tolerance_specs(tmp_path):
    assert parse_tolerance("mCE=0.5, clean_err=0.25") == {"mCE": 0.5, "clean_err": 0.25}
    toml = tmp_path / "tol.toml"
    toml.write_text("[tolerance]\nmCE = 1.0\nconsistency = 2\n")
    assert parse_tolerance(toml) == {"mCE": 1.0, "consistency": 2.0}
    (tmp_path / "tol.json").write_text('{"mFR": 0.75}')
    assert parse_tolerance(tmp_path / "tol.json") == {"mFR": 0.75}
    with pytest.raises(UsageError, match="did you mean mCE"):
        parse_tolerance("mCEE=1")
    with pytest.raises(UsageError, match=">= 0"):
        parse_tolerance("mCE=-1")
    with pytest.raises(UsageError, match="metric=points"):
        parse_tolerance("mCE")


def test_mismatched_results_are_usage_errors(tmp_path, baseline):
    only_max = write_store(tmp_path / "max.db", models=("resnet-max",), p=False, shift=False)
    with pytest.raises(UsageError, match="lack model.*resnet-lift"):
        check(only_max, baseline)
    data = json.loads(baseline.read_text())
    data["metrics"]["resnet-max"]["consistency"] = 90.0
    baseline.write_text(json.dumps(data))
    with pytest.raises(UsageError, match="resnet-max lack consistency"):
        check(write_store(tmp_path / "all.db", p=False, shift=False), baseline)
    baseline.write_text('{"metrics": {}}')
    with pytest.raises(UsageError, match="tracks no metric"):
        check(only_max, baseline)
    baseline.write_text('{"metrics": {"resnet-max": {"mCE": "low"}}}')
    with pytest.raises(UsageError, match="must be a number"):
        read_baseline(baseline)


def test_update_keeps_models_the_run_did_not_evaluate(tmp_path, baseline):
    update_baseline(write_store(tmp_path / "max.db", models=("resnet-max",), p=False, shift=False, scale=0.9),
                    baseline)
    data = json.loads(baseline.read_text())
    assert data["metrics"]["resnet-lift"]["mCE"] == pytest.approx(by_hand("resnet-lift")["mCE"], abs=1e-4)
    assert data["metrics"]["resnet-max"]["clean_err"] == pytest.approx(100 * round(5 * 0.9) / 20)
    assert data["tolerance"]["mCE"] == 1.5  # kept from the old file


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_cli_exit_codes_and_messages(tmp_path, capsys, run):
    path = str(tmp_path / "baseline.json")
    code, out, _ = cli(capsys, "check", "--results", str(run), "--baseline", path, "--update")
    assert code == 0 and "Wrote" in out and "2 model(s)" in out
    code, out, _ = cli(capsys, "check", "--results", str(run), "--baseline", path)
    assert code == 0 and "PASS" in out and "resnet-lift" in out
    worse = write_store(tmp_path / "worse.db", p=False, shift=False, scale=1.2)
    code, out, _ = cli(capsys, "check", "--results", str(worse), "--baseline", path)
    assert code == 1 and "REGRESSED" in out and "FAIL" in out
    loose = "mCE=50,clean_err=50,rel_mCE=50,mean_err=50"
    code, out, _ = cli(capsys, "check", "--results", str(worse), "--baseline", path, "--tolerance", loose)
    assert code == 0
    code, _, err = cli(capsys, "check", "--results", str(tmp_path / "missing.db"), "--baseline", path)
    assert code == 2 and "no results store" in err
    empty = tmp_path / "empty.db"
    from robustbench_lift.store import ResultStore
    ResultStore(empty).close()
    code, _, err = cli(capsys, "check", "--results", str(empty), "--baseline", path)
    assert code == 2 and "hold no results" in err
    other = write_store(tmp_path / "other.db", models=("resnet-max",), p=False, shift=False)
    code, _, err = cli(capsys, "check", "--results", str(other), "--baseline", path)
    assert code == 2 and "lack model(s) resnet-lift" in err
    code, _, err = cli(capsys, "check", "--results", str(run), "--baseline", str(tmp_path / "nope.json"))
    assert code == 2 and "--update" in err
    code, out, _ = cli(capsys, "compare", "resnet-max", "resnet-lift", "--results", str(run), "--n-boot", "50")
    assert code == 0 and out.splitlines()[1].startswith("| metric | resnet-max | resnet-lift | delta")
