"""`report`, `check` and `compare` read each results store once per command (counted at the store's reader)."""

import pytest
from paired_fixtures import cli, put_model, random_sets

from robustbench_lift.store import ResultStore


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Paths of the stores whose cells were read, one entry per read."""
    seen: list[str] = []
    cells = ResultStore.cells

    def counted(self, *args, **kwargs):
        seen.append(str(self.path))
        return cells(self, *args, **kwargs)
    monkeypatch.setattr(ResultStore, "cells", counted)
    return seen


def test_each_store_is_read_once_per_command(tmp_path, capsys, reads):
    base, run, baseline = (str(tmp_path / name) for name in ("base.db", "run.db", "b.json"))
    for model in ("net-a", "net-b"):
        put_model(base, model, random_sets(1, 0.1))
        put_model(run, model, random_sets(1, 0.1))
    commands = {
        "update": ["check", "--results", run, "--baseline", baseline, "--update"],
        "check": ["check", "--results", run, "--baseline", baseline],
        "paired": ["check", "--results", run, "--baseline", base, "--require-significant", "--n-boot", "200"],
        "compare": ["compare", "net-a", "net-b", "--results", run, "--n-boot", "20"],
        "runs": ["compare", base, run, "--model", "net-a", "--n-boot", "20"],
        "report": ["report", run, "--out", str(tmp_path / "out"), "--no-grid", "--baseline", "net-a",
                   "--n-boot", "20", "--format", "md"],
    }
    expected = {"update": [run], "check": [run], "paired": [base, run], "compare": [run], "runs": [base, run],
                "report": [run]}
    for name, argv in commands.items():
        reads.clear()
        assert cli(capsys, *argv)[0] == 0, name
        assert sorted(reads) == sorted(expected[name]), name
