"""The FR/T5D baseline of suite `p` is validated whole, as the CI baseline is: every value that would make FR or
T5D wrong (negative, NaN, infinite, a flip probability above 1) and every unreadable file is a one-line
`UsageError` naming the file and the row, from a CSV or from a results store."""

import pytest
from evaluate_fixtures import photo_set, write_folder
from report_fixtures import put

from robustbench_lift.cli import main
from robustbench_lift.errors import UsageError
from robustbench_lift.store import ResultStore
from robustbench_lift.suites.p_baseline import load_p_baseline

HEADER = "perturbation,difficulty,flip_prob,ut5d\n"


def test_a_valid_csv_gives_its_numbers_with_difficulty_1_by_default(tmp_path):
    csv = tmp_path / "alexnet.csv"
    csv.write_text("perturbation,flip_prob,ut5d\ntranslate,0.25,2.5\nbrightness,0,0\n")
    baseline = load_p_baseline(csv)
    assert baseline.name == "alexnet.csv"
    assert baseline.values == {("translate", 1): (0.25, 2.5), ("brightness", 1): (0.0, 0.0)}
    csv.write_text(HEADER + "gaussian_noise,2,0.5,3\ngaussian_noise,3,1,15\n")
    assert load_p_baseline(csv).values == {("gaussian_noise", 2): (0.5, 3.0), ("gaussian_noise", 3): (1.0, 15.0)}


@pytest.mark.parametrize("body, message", [
    ("translate,1,-0.1,2.0\n", r"row 2 \(translate\): flip_prob must be a finite fraction in \[0, 1\], got '-0.1'"),
    ("translate,1,0.1,2.0\nrotate,1,0.2,-1\n", r"row 3 \(rotate\): ut5d must be a finite number >= 0, got '-1'"),
    ("translate,1,nan,2.0\n", r"row 2 \(translate\): flip_prob .* got 'nan'"),
    ("translate,1,NaN,2.0\n", r"flip_prob .* got 'NaN'"),
    ("translate,1,0.1,inf\n", r"ut5d must be a finite number >= 0, got 'inf'"),
    ("translate,1,0.1,1e999\n", r"ut5d .* got '1e999'"),
    ("translate,1,-Infinity,2\n", r"flip_prob .* got '-Infinity'"),
    ("translate,1,1.5,2\n", r"flip_prob must be a finite fraction in \[0, 1\], got '1.5'"),
    ("translate,1,,2\n", r"flip_prob .* got ''"),
    ("translate,1,0.1,two\n", r"ut5d .* got 'two'"),
    ("translate,4,0.1,2\n", r"difficulty must be one of 1, 2, 3, got '4'"),
    ("translate,1.5,0.1,2\n", r"difficulty must be one of 1, 2, 3, got '1.5'"),
    (",1,0.1,2\n", r"row 2: empty perturbation name"),
    ("translate,1,0.1,2\ntranslate,1,0.2,2\n", r"row 3: translate at difficulty 1 appears twice"),
    ("", r"holds no rows"),
])
def test_bad_values_are_usage_errors_naming_file_row_and_value(tmp_path, body, message):
    csv = tmp_path / "base.csv"
    csv.write_text(HEADER + body)
    with pytest.raises(UsageError, match=f"p baseline {csv}.*{message}"):
        load_p_baseline(csv)


@pytest.mark.parametrize("content, message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "is not a UTF-8 text CSV"),
    (b"perturbation,flip_prob,ut5d\ntranslate,0.1,2\x00\x00\n", r"is a binary file \(NUL byte at 43\)"),
    (b"perturbation,flip_prob,ut5d\ntranslat\xe9,0.1,2\n", "is not a UTF-8 text CSV"),
    (b"", "is not a valid CSV"),
    (b'perturbation,flip_prob,ut5d\n"translate,0.1,2\n', "is not a valid CSV"),
    (b"name,fp,ut5d\ntranslate,0.1,2\n", r"no column\(s\) flip_prob, perturbation"),
])
def test_unreadable_files_are_usage_errors(tmp_path, content, message):
    csv = tmp_path / "base.csv"
    csv.write_bytes(content)
    with pytest.raises(UsageError, match=f"p baseline {csv} ?.*{message}"):
        load_p_baseline(csv)


@pytest.mark.parametrize("metrics, message", [
    ({"flip_prob": -0.5, "ut5d": 1.0}, r"flip_prob must be a finite fraction in \[0, 1\], got -0.5"),
    ({"flip_prob": float("nan"), "ut5d": 1.0}, "flip_prob .* got nan"),
    ({"flip_prob": 0.5, "ut5d": float("inf")}, "ut5d must be a finite number >= 0, got inf"),
    ({"flip_prob": 0.5}, r"row 2 \(translate\): ut5d must be a finite number >= 0, got nan"),
])
def test_a_store_baseline_is_validated_the_same_way(tmp_path, metrics, message):
    store = tmp_path / "alexnet.db"
    with ResultStore(store) as results:
        put(results, "alexnet", "p", "demo-otf-cifar", "rotate", 1, 0, **{"flip_prob": 0.1, "ut5d": 1.0})
        put(results, "alexnet", "p", "demo-otf-cifar", "translate", 1, 0, **metrics)
    with pytest.raises(UsageError, match=f"p baseline {store}.*{message}"):
        load_p_baseline(store)
    without = tmp_path / "old.db"
    with ResultStore(without) as results:
        put(results, "alexnet", "p", "demo-otf-cifar", "rotate", 1, 0, flip_prob=0.1)
    with pytest.raises(UsageError, match=f"p baseline {without}: its p cells hold no ut5d"):
        load_p_baseline(without)


@pytest.mark.parametrize("content, message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is not a UTF-8 text CSV"),
    # the baseline's -0.1 used to divide every flip probability into a negative FR (mFR -10.1 in the issue)
    (b"perturbation,flip_prob,ut5d\ntranslate,-0.1,2\n", "row 2 (translate): flip_prob must be a finite fraction"),
])
def test_cli_reports_a_bad_baseline_in_one_line(tmp_path, capsys, content, message):
    csv = tmp_path / "base.csv"
    csv.write_bytes(content)
    photos = tmp_path / "photos"
    write_folder(photos, *photo_set(32))
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--model", "demo-max", "--weights", "DEFAULT", "--data", str(photos), "--suite", "p",
              "--perturbations", "translate", "--preset", "cifar", "--limit", "2", "--p-baseline", str(csv),
              "--out", str(tmp_path / "r.db"), "--no-progress"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"p baseline {csv}" in err and message in err and not (tmp_path / "r.db").exists()
