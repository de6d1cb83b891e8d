"""Commands that read a results store open it read-only (SQLite mode=ro) and never change its bytes; files that
are not stores, and writes SQLite refuses (a full disk), are one-line errors naming the store."""

import hashlib
import os
import sqlite3
import stat

import numpy as np
import pytest
from report_fixtures import write_store

from robustbench_lift.cli import main
from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.report.gate import update_baseline
from robustbench_lift.store import CellResult, ResultStore, load_results


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code, capsys.readouterr().err


@pytest.fixture
def locked_store(tmp_path):
    """A store with two models, its file 0444 in a 0555 folder (restored afterwards so pytest can clean up)."""
    folder = tmp_path / "shared"
    folder.mkdir()
    path = write_store(folder / "results.db", p=False, shift=False)
    update_baseline(path, tmp_path / "baseline.json")
    path.chmod(0o444)
    folder.chmod(0o555)
    yield path
    folder.chmod(0o755)


def test_report_check_and_compare_leave_the_store_unchanged(tmp_path, capsys, locked_store):
    before, listing = sha256(locked_store), sorted(os.listdir(locked_store.parent))
    assert cli(capsys, "report", locked_store, "--out", tmp_path / "report", "--no-grid", "--format", "md,csv",
               "--n-boot", "20")[0] == 0
    assert cli(capsys, "check", "--results", locked_store, "--baseline", tmp_path / "baseline.json")[0] == 0
    assert cli(capsys, "compare", "resnet-max", "resnet-lift", "--results", locked_store, "--n-boot", "20")[0] == 0
    # root ignores the permission bits, so the bytes are the proof (before: user_version and schema were written)
    assert sha256(locked_store) == before and sorted(os.listdir(locked_store.parent)) == listing
    assert stat.S_IMODE(locked_store.stat().st_mode) == 0o444


def test_a_readonly_store_cannot_write_even_as_root(locked_store):
    with ResultStore(locked_store, readonly=True) as store:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store._db.execute("CREATE TABLE probe (a)")
        assert len(list(store.cells())) == 42  # 2 models x (clean + 4 corruptions x 5 severities)
    assert len(load_results(locked_store)) == 42


@pytest.mark.parametrize("content", ["text", "empty", "other sqlite"])
def test_files_that_are_not_stores_are_usage_errors(tmp_path, content):
    path = tmp_path / "x.db"
    if content == "text":
        path.write_text("model,top1_err\n")
    elif content == "empty":
        path.write_bytes(b"")
    else:
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE notes (a)")
        db.close()
    before = sha256(path)
    with pytest.raises(UsageError, match=f"{path} is not a liftbench results store"):
        load_results(path)
    assert sha256(path) == before
    with pytest.raises(UsageError, match="no results store at"):
        load_results(tmp_path / "missing.db")


def test_a_full_disk_is_an_error_naming_the_store_and_keeps_what_was_committed(tmp_path):
    path = tmp_path / "results.db"
    labels = np.arange(4000) % 10

    def cell(severity: int) -> CellResult:
        return CellResult("m", "a" * 64, "c", "d", "fog", severity, labels=labels,
                          predictions=np.random.default_rng(severity).integers(0, 1000, (4000, 5)), top1_err=0.5,
                          top5_err=0.1, fingerprint={"n": 4000}, seconds=1.0)

    with ResultStore(path) as store:
        store.put_cell(cell(1))
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLite's own "disk full" (SQLITE_FULL)
        with pytest.raises(LiftbenchError, match=f"cannot write results store {path}: database or disk is full "
                                                 r"\(free disk space"):
            store.put_cell(cell(2))
    assert load_results(path)["severity"].tolist() == [1]
