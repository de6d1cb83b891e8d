"""No option value makes the CLI print a traceback: the issue's examples exit 2 with one message naming the option
before any work, and a property test (hypothesis) throws arbitrary values at every option of evaluate, render,
pools, train and check, and arbitrary JSON at check's baseline, asserting exit codes 0, 1 or 2 and no traceback.

Each fuzzed command gets inputs that make valid requests fail fast (an empty --data folder; check on a small
store), so no example does heavy work."""

import json
import time

import click
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from report_fixtures import write_store

from robustbench_lift.cli import cli, main


def invoke(args: list[str]) -> tuple[int, str]:
    """`liftbench args` through the console entry point (errors mapped to exit codes): code and all output.
    An exception other than SystemExit escapes, i.e. fails the calling test with its traceback."""
    with CliRunner().isolation() as (_, _, output):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code
    return code, output.getvalue().decode(errors="replace")


@pytest.mark.parametrize("args, option", [
    (["evaluate", "--workers", "-1"], "--workers"),
    (["evaluate", "--bootstrap", "-1"], "--bootstrap"),
    (["evaluate", "--severities", "1-99999999999"], "--severities"),  # before: expanded 1e11 numbers
    (["evaluate", "--limit", "0"], "--limit"),
    (["evaluate", "--seed", str(2**64)], "--seed"),
    (["render", "--batch-size", "0"], "--batch-size"),
    (["render", "--device", "gpu7"], "gpu7"),
    (["pools", "--channels", "-4"], "--channels"),
    (["train", "--workers", "-2"], "--workers"),
    (["report", "--seed", "-1"], "--seed"),
])
def test_bad_values_are_usage_errors_before_any_work(tmp_path, args, option):
    (tmp_path / "clean" / "a").mkdir(parents=True)
    (tmp_path / "clean" / "a" / "x.png").write_bytes(b"")  # never read: the option fails first
    base = {"evaluate": ["--model", "demo-max", "--data", "demo", "--suite", "clean", "--limit", "2", "--out",
                         str(tmp_path / "r.db"), "--no-progress"],
            "render": ["--data", str(tmp_path / "clean"), "--out", str(tmp_path / "tree")],
            "train": ["--model", "demo-max", "--data", "demo", "--out", str(tmp_path / "run"), "--epochs", "1"],
            "report": [str(tmp_path / "r.db"), "--out", str(tmp_path / "report")]}.get(args[0], [])
    start = time.perf_counter()
    code, output = invoke([args[0], *base, *args[1:]])
    assert code == 2 and option in output and "Traceback" not in output, output
    assert time.perf_counter() - start < 5 and not (tmp_path / "r.db").exists()


NUMBERS = st.one_of(st.integers(-2**70, 2**70), st.floats()).map(str)
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=10)
SPECIAL = st.sampled_from(["0", "-1", "1", "nan", "inf", "-inf", "1e999", "", " ", "2-4", "5-1", "1,,3", "-",
                           "all", "mCE=-1", "mCE=nan,x", "{}", "[1, 2]"])
VALUES = st.one_of(NUMBERS, TEXT, SPECIAL)


def option_args(option: click.Option) -> st.SearchStrategy[list[str]]:
    """Command-line words for one option: a flag's spellings, else a spelling and any value (or a valid choice)."""
    if option.is_flag:
        return st.sampled_from([[name] for name in option.opts + option.secondary_opts])
    values = st.one_of(st.sampled_from(list(option.type.choices)), VALUES) \
        if isinstance(option.type, click.Choice) else VALUES
    return st.tuples(st.sampled_from(option.opts), values).map(list)


def fuzzed(command: str, excluded: set[str]) -> st.SearchStrategy[list[str]]:
    """Up to 3 of `command`'s options (all but `excluded`: the inputs, outputs and model that keep it fast) with
    arbitrary values."""
    options = [p for p in cli.commands[command].params if isinstance(p, click.Option) and p.name not in excluded
               and p.name != "help"]
    return st.lists(st.sampled_from(options), max_size=3, unique_by=lambda p: p.name).flatmap(
        lambda chosen: st.tuples(*map(option_args, chosen))).map(lambda words: sum(words, []))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """An empty data folder, and a small store with its baseline for check."""
    root = tmp_path_factory.mktemp("cli")
    (root / "empty").mkdir()
    store = write_store(root / "results.db", models=("resnet-max",), p=False, shift=False)
    return root, store


def assert_clean_exit(args: list[str]) -> None:
    code, output = invoke(args)
    assert code in (0, 1, 2) and "Traceback" not in output, (args, code, output)


FAST = settings(max_examples=30, deadline=None)
PATHS = {"data", "out", "weights", "export", "models", "model", "progress", "results", "baseline"}


@FAST
@given(st.data())
def test_no_evaluate_train_render_or_pools_option_prints_a_traceback(inputs, data):
    root, _ = inputs
    command = data.draw(st.sampled_from(["evaluate", "train", "render", "pools"]))
    base = {"evaluate": ["--model", "demo-max", "--data", str(root / "empty"), "--out", str(root / "e.db"),
                         "--no-progress"],
            "train": ["--model", "demo-max", "--data", str(root / "empty"), "--out", str(root / "run"),
                      "--no-progress"],
            "render": ["--data", str(root / "empty"), "--out", str(root / "tree")], "pools": []}[command]
    assert_clean_exit([command, *base, *data.draw(fuzzed(command, PATHS))])


@FAST
@given(words=fuzzed("check", PATHS))
def test_no_check_option_prints_a_traceback(inputs, words):
    root, store = inputs
    (root / "baseline.json").write_text(json.dumps({"metrics": {"resnet-max": {"mCE": 70.0}}}))
    assert_clean_exit(["check", "--results", str(store), "--baseline", str(root / "baseline.json"), *words])


JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=8)),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)
METRIC_NAMES = st.sampled_from(["clean_err", "mCE", "rel_mCE", "mean_err", "consistency", "mce"])
BASELINES = st.one_of(JSON, st.fixed_dictionaries(
    {"metrics": st.dictionaries(st.sampled_from(["resnet-max", "other"]), st.dictionaries(METRIC_NAMES, JSON))},
    optional={"tolerance": st.one_of(JSON, st.dictionaries(METRIC_NAMES, JSON))}))


@FAST
@given(baseline=BASELINES)
def test_no_baseline_file_makes_check_print_a_traceback(inputs, baseline):
    root, store = inputs
    (root / "any.json").write_text(json.dumps(baseline))  # NaN / Infinity literals included
    assert_clean_exit(["check", "--results", str(store), "--baseline", str(root / "any.json")])
