"""The CI gate cannot pass by accident: NaN / Infinity in a baseline, malformed tolerances and non-finite results
are errors with one-line messages, never "same" and never a traceback."""

import json
import shutil
import sqlite3

import pytest
from report_fixtures import write_store

from robustbench_lift.cli import main
from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.report.baseline import parse_tolerance, read_baseline
from robustbench_lift.report.gate import check, update_baseline


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A run's store and its baseline text, written once; tests change copies."""
    folder = tmp_path_factory.mktemp("run")
    path = write_store(folder / "run.db", p=False, shift=False)
    update_baseline(path, folder / "baseline.json")
    return path, (folder / "baseline.json").read_text()


@pytest.fixture
def run(tmp_path, stored):
    shutil.copyfile(stored[0], tmp_path / "run.db")
    return tmp_path / "run.db"


@pytest.fixture
def baseline(tmp_path, stored):
    path = tmp_path / "baseline.json"
    path.write_text(stored[1])
    return path


def cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_baseline_values_are_refused(run, baseline, literal):
    text = baseline.read_text()
    value = json.loads(text)["metrics"]["resnet-max"]["mCE"]
    baseline.write_text(text.replace(f'"mCE": {value}', f'"mCE": {literal}', 1))
    with pytest.raises(UsageError) as error:
        check(run, baseline)  # before: every comparison with NaN was "same", so the gate passed
    assert str(baseline) in str(error.value) and ("mCE" in str(error.value) or literal in str(error.value))


@pytest.mark.parametrize("tolerance, match", [
    ("[1, 2]", "must be an object"), ('{"mCE": NaN}', "NaN"), ('{"mCE": Infinity}', "Infinity"),
    ('{"mCE": 1e999}', "finite"), ('{"mCE": -1}', ">= 0"), ('{"mCE": true}', "finite"), ('{"mCE": "0.5"}', "numbers"),
    ("null", "must be an object"), ('{"mCEE": 1}', "did you mean mCE"),
])
def test_every_part_of_the_tolerance_is_validated(run, baseline, tolerance, match):
    data = json.loads(baseline.read_text())
    baseline.write_text(json.dumps(data["metrics"]).join(['{"metrics": ', f', "tolerance": {tolerance}}}']))
    with pytest.raises(UsageError, match=match):
        read_baseline(baseline)


@pytest.mark.parametrize("text, match", [
    ('{"metrics": {"resnet-max": {"mCE": 1}}, "tolerances": {}}', "unknown key.*'tolerances'"),
    ('{"metrics": {"resnet-max": {"mCE": true}}}', "must be a number"),
    ('{"metrics": {"resnet-max": [1]}}', "must be an object"),
    ('{"metrics": [1]}', "must be an object"),
    ("\xff\xfe", "not valid JSON"),
])
def test_malformed_baselines_are_usage_errors(tmp_path, text, match):
    path = tmp_path / "b.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(UsageError, match=match):
        read_baseline(path)


def test_tolerance_specs_refuse_non_finite_points(tmp_path):
    for spec in ("mCE=inf", "mCE=nan", {"mCE": float("inf")}, {"mCE": True}):
        with pytest.raises(UsageError, match="finite"):
            parse_tolerance(spec)
    (tmp_path / "t.toml").write_text("mCE = inf\n")
    with pytest.raises(UsageError, match="finite"):
        parse_tolerance(tmp_path / "t.toml")
    (tmp_path / "t.json").write_text('{"mCE": NaN}')
    with pytest.raises(UsageError, match="NaN"):
        parse_tolerance(tmp_path / "t.json")


@pytest.mark.parametrize("value", [float("-inf"), float("inf")])
def test_non_finite_results_fail_the_gate(run, baseline, value):
    with sqlite3.connect(run) as db:  # a corrupted cell: with -inf every metric "improved" and the gate passed
        db.execute("UPDATE cells SET top1_err = ? WHERE model = 'resnet-max' AND corruption = 'snow' "
                   "AND severity = 3", (value,))
    db.close()
    with pytest.raises(LiftbenchError, match="non-finite.*resnet-max mean_err"):
        check(run, baseline)
    with pytest.raises(LiftbenchError, match="non-finite"):
        update_baseline(run, baseline)


def test_cli_reports_a_nan_baseline_in_one_line(capsys, run, baseline):
    baseline.write_text(baseline.read_text().replace('"tolerance": {', '"tolerance": {"mFR": NaN, ', 1))
    code, out, err = cli(capsys, "check", "--results", str(run), "--baseline", str(baseline))
    assert code == 2 and "PASS" not in out and "NaN" in err and len(err.strip().splitlines()) == 1
    baseline.write_text('{"metrics": {"resnet-max": {"mCE": 1}}, "tolerance": [1, 2]}')
    code, out, err = cli(capsys, "check", "--results", str(run), "--baseline", str(baseline))
    assert code == 2 and "Traceback" not in err and "tolerance" in err
