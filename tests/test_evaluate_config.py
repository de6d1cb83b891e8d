"""`liftbench evaluate --config study.yaml` (issue 24, item 4): the file's keys are the long option names, lists for
repeatable and comma-separated options, the command line wins; a bad file is one usage error naming it and the
key, before anything runs. `field_options` makes a command's options from the option dataclasses."""

import dataclasses
import time

import click
import pytest

from robustbench_lift.cli import main
from robustbench_lift.commands.fields import field_options
from robustbench_lift.store import load_results


def run(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code, capsys.readouterr().err


def test_a_study_file_runs_and_the_command_line_wins(tmp_path, capsys):
    out = tmp_path / "study.db"
    (tmp_path / "study.yaml").write_text(f"""
model: [demo-max]
weights: [DEFAULT]
data: demo
corruptions: [fog, gaussian_noise]
severities: [1, 3]
limit: 4
progress: false
bootstrap: 0
out: {out}
""")
    code, err = run(["evaluate", "--config", str(tmp_path / "study.yaml"), "--limit", "2", "--corruptions", "fog"],
                    capsys)
    assert code == 0, err
    frame = load_results(out)
    assert sorted(zip(frame["corruption"], frame["severity"])) == [("clean", 0), ("fog", 1), ("fog", 3)]
    assert (frame["n"] == 2).all() and (frame["model"] == "demo-max").all()
    assert frame["weights_sha256"].nunique() == 1


@pytest.mark.parametrize("text, message", [
    ("limit: x", "key 'limit'"),
    ("limit: 2.5", "key 'limit': expected an integer"),
    ("limit: [1, 2]", "key 'limit': takes one value, not a list"),
    ("limt: 3", "unknown key 'limt' (did you mean limit?)"),
    ("batch_size: 3", "unknown key 'batch_size' (did you mean batch-size?)"),
    ("amp: 1", "key 'amp': expected true or false"),
    ("device: true", "key 'device': expected a number or text"),
    ("model: {a: 1}", "key 'model': expected a value or a list of values"),
    ("severities: 0-9", "key 'severities': --severities '0-9'"),
    ("- model", "expected a mapping of option names"),
    ("", "expected a mapping of option names"),
    ("model: [unclosed", "not valid YAML"),
    ("x: !!python/object/apply:os.system [echo pwned]", "not valid YAML"),  # safe_load: no code from data
])
def test_a_bad_study_file_is_one_usage_error_before_any_work(tmp_path, capsys, text, message):
    (tmp_path / "bad.yaml").write_text(text)
    start = time.perf_counter()
    code, err = run(["evaluate", "--config", str(tmp_path / "bad.yaml"), "--model", "demo-max", "--data", "demo",
                     "--out", str(tmp_path / "r.db")], capsys)
    assert code == 2 and message in err and str(tmp_path / "bad.yaml") in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert time.perf_counter() - start < 5 and not (tmp_path / "r.db").exists()


def test_a_missing_study_file_is_a_usage_error(tmp_path, capsys):
    code, err = run(["evaluate", "--config", str(tmp_path / "none.yaml")], capsys)
    assert code == 2 and "none.yaml: no such file" in err


def test_required_options_may_come_from_the_file_only(tmp_path, capsys):
    (tmp_path / "s.yaml").write_text("model: demo-max\n")
    code, err = run(["evaluate", "--config", str(tmp_path / "s.yaml")], capsys)
    assert code == 2 and "--data" in err  # still required, but --model was taken from the file


def test_field_options_refuse_a_field_without_a_command_line_decision():
    @dataclasses.dataclass(frozen=True)
    class Options:
        size: int = 3
        name: str | None = None

    sizes = field_options([Options], {"size": {"type": int, "show_default": True}}, hidden={"name"})
    assert [(o.name, o.opts, o.default) for o in sizes] == [("size", ["--size"], 3)]
    with pytest.raises(TypeError, match=r"no decision for field\(s\) \['name'\]"):
        field_options([Options], {"size": {}})
    with pytest.raises(TypeError, match=r"specs of no field \['colour'\]"):
        field_options([Options], {"size": {}, "colour": {}}, hidden={"name"})
    assert isinstance(sizes[0], click.Option)
