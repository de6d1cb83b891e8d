"""Property: no option value of `compare`, `export`, `report`, `models`, `validate-data`, `probe aliasing`, and no
`--config` study file, makes the CLI print a traceback (issue 28 item 6; `test_cli_options.py` covers evaluate,
train, render, pools and check). Every run ends with exit 0, 1 or 2 and a one-line message."""

import click
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from report_fixtures import write_store
from test_cli_options import VALUES, assert_clean_exit, fuzzed, option_args

from robustbench_lift.cli import cli

FUZZ = settings(max_examples=15, deadline=None)
OWN = {"results", "out", "help"}
"""Options each test sets itself (the stores and folders the command works on)."""


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    (root / "empty").mkdir()
    return root, write_store(root / "a.db", models=("resnet-max", "resnet-lift"), p=False, shift=False)


@FUZZ
@given(words=fuzzed("compare", OWN), a=st.sampled_from(["resnet-max", "resnet-lift", "nope", ""]),
       b=st.one_of(st.sampled_from(["resnet-lift", "resnet-max"]), VALUES))
def test_no_compare_option_prints_a_traceback(stores, words, a, b):
    _, store = stores
    assert_clean_exit(["compare", "--results", str(store), a, b, *words])


@FUZZ
@given(words=fuzzed("export", OWN), out=st.sampled_from(["x", "a.db", "empty"]))
def test_no_export_option_prints_a_traceback(stores, words, out):
    root, store = stores
    assert_clean_exit(["export", str(store), "--out", str(root / out), *words])


@settings(max_examples=6, deadline=None)
@given(words=fuzzed("report", OWN | {"example_image"}))
def test_no_report_option_prints_a_traceback(stores, words):
    root, store = stores
    assert_clean_exit(["report", str(store), "--out", str(root / "report"), "--no-grid", "--n-boot", "0", *words])


def test_report_with_one_resample_draws_its_figures(stores):
    """Found by the fuzz: `--n-boot 1` gives intervals that can miss the point estimate (negative error bars)."""
    root, store = stores
    assert_clean_exit(["report", str(store), "--out", str(root / "one"), "--no-grid", "--n-boot", "1"])
    assert (root / "one" / "report.html").is_file()


@settings(max_examples=6, deadline=None)
@given(words=fuzzed("models", {"backbone", "help"}))
def test_no_models_option_prints_a_traceback(words):
    assert_clean_exit(["models", "--backbone", "cifar_resnet10s", *words])  # a listing of every model takes minutes


@FUZZ
@given(words=fuzzed("validate-data", {"help"}), path=st.sampled_from(["empty", "a.db", "missing", "."]))
def test_no_validate_data_option_prints_a_traceback(stores, words, path):
    root, _ = stores
    assert_clean_exit(["validate-data", str(root / path), *words])


PROBE_OPTIONS = [p for p in cli.commands["probe"].commands["aliasing"].params
                 if isinstance(p, click.Option) and p.name not in {"models", "data", "out", "help"}]


@settings(max_examples=8, deadline=None)
@given(words=st.lists(st.sampled_from(PROBE_OPTIONS), max_size=3, unique_by=lambda p: p.name).flatmap(
    lambda chosen: st.tuples(*map(option_args, chosen))).map(lambda words: sum(words, [])))
def test_no_probe_option_prints_a_traceback(stores, words):
    root, _ = stores
    assert_clean_exit(["probe", "aliasing", "--model", "demo-max", "--data", str(root / "empty"), "--out",
                       str(root / "p.db"), *words])


KEYS = st.sampled_from(["model", "weights", "data", "corruptions", "severities", "limit", "out", "suite",
                        "batch_size", "preset", "seed", "unknown_key", "resize", "crop", "amp", "workers"])
YAML_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(),
                                     st.text(max_size=8)),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                        max_size=2), max_leaves=6)
STUDIES = st.one_of(YAML_VALUES, st.dictionaries(KEYS, YAML_VALUES, max_size=4))


@FUZZ
@given(study=STUDIES, raw=st.one_of(st.none(), st.text(max_size=30)))
def test_no_config_file_makes_evaluate_print_a_traceback(stores, study, raw):
    """A study file: any YAML document (or raw text) under any key, with the command line's data and model."""
    root, _ = stores
    path = root / "study.yaml"
    path.write_text(raw if raw is not None else yaml.safe_dump(study))
    assert_clean_exit(["evaluate", "--config", str(path), "--model", "demo-max", "--data", str(root / "empty"),
                       "--out", str(root / "c.db"), "--no-progress"])
