"""A cell holding fewer images than requested or than the other cells of its suite and data set never passes the
gate or a comparison as if it were whole, even when it is the only cell or when only the clean cell is beside it.
"""

import numpy as np
import pytest
from paired_fixtures import CELLS, N, cli, put_model, random_sets

from robustbench_lift.errors import UsageError
from robustbench_lift.report.comparison import compare

SHORT = ("snow", 3)


def put_short(path, model: str, cells=CELLS, images: int = N - 10, **fingerprint) -> None:
    """`model`'s `cells`, each on N images but `SHORT`, which holds the first `images` (same wrong rate)."""
    wrong = random_sets(20, 0.05)
    whole = {cell: miss for cell, miss in wrong.items() if cell in cells and cell != SHORT}
    if whole:
        put_model(path, model, whole)
    put_model(path, model, {SHORT: {i for i in wrong[SHORT] if i < images}}, labels=np.arange(images) % 10,
              **fingerprint)


def gate(capsys, tmp_path, cells, **fingerprint) -> tuple[int, str]:
    """Exit code and stderr of checking a run with a short `SHORT` against a baseline JSON of the whole run."""
    whole, run, baseline = (str(tmp_path / name) for name in ("whole.db", "run.db", "baseline.json"))
    put_model(whole, "net", {cell: miss for cell, miss in random_sets(20, 0.05).items() if cell in cells},
              **fingerprint)
    assert cli(capsys, "check", "--results", whole, "--baseline", baseline, "--update")[0] == 0
    put_short(run, "net", cells, **fingerprint)
    code, _, err = cli(capsys, "check", "--results", run, "--baseline", baseline)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return code, err


def test_a_short_cell_beside_the_clean_cell_fails_the_gate(tmp_path, capsys):
    code, err = gate(capsys, tmp_path, [("clean", 0), SHORT])
    assert code == 2 and f"net c/photos/snow/3 has {N - 10} images (other cells of c/photos hold {N})" in err


def test_a_lone_short_cell_fails_the_gate_against_its_limit(tmp_path, capsys):
    code, err = gate(capsys, tmp_path, [SHORT], limit=N)
    assert code == 2 and f"net c/photos/snow/3 has {N - 10} images (--limit {N} asked for)" in err


def test_a_cell_shorter_than_its_run_planned_is_refused_and_never_written_as_a_baseline(tmp_path, capsys):
    put_short(tmp_path / "run.db", "net", [SHORT], n=N)
    code, _, err = cli(capsys, "check", "--results", str(tmp_path / "run.db"), "--baseline",
                       str(tmp_path / "b.json"), "--update")
    assert code == 2 and f"has {N - 10} images (its run planned {N})" in err
    assert not (tmp_path / "b.json").exists()


def test_two_models_short_in_the_same_cell_are_not_compared(tmp_path):
    store = tmp_path / "r.db"
    for model in ("net-a", "net-b"):
        put_short(store, model)
    with pytest.raises(UsageError, match=f"net-a c/photos/snow/3 has {N - 10} images"):
        compare("net-a", "net-b", results=[store], n_boot=10)
