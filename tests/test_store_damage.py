"""A damaged store is one line naming the store (and the cell), never a traceback: a cell whose JSON is not JSON,
an array blob holding a pickle or object array, a `chunks` table of another schema, a disk that fills while an
on-the-fly pass commits its chunks (what was committed before stays)."""

import io
import pickle
import shutil
import sqlite3

import numpy as np
import pytest
from evaluate_fixtures import tiny_model

from robustbench_lift.cli import main
from robustbench_lift.engine import RunOptions, evaluate
from robustbench_lift.engine import chunks as chunks_module
from robustbench_lift.errors import LiftbenchError
from robustbench_lift.store import CellResult, ResultStore, load_results
from robustbench_lift.suites.options import CorruptionOptions


def object_npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([1, "a"], dtype=object), allow_pickle=True)
    return buffer.getvalue()


DAMAGE = {"fingerprint": ("UPDATE cells SET fingerprint = '{not json'", (), "fingerprint is not a JSON object"),
          "metrics": ("UPDATE cells SET metrics = '[1'", (), "metrics is not a JSON object"),
          "pickle": ("UPDATE cells SET predictions = ?", (pickle.dumps(np.arange(3)),), "predictions is not"),
          "object": ("UPDATE cells SET labels = ?", (object_npy(),), "labels is not")}


@pytest.fixture(scope="module")
def clean_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "clean.db"
    labels = np.arange(6) % 3
    with ResultStore(path) as store:
        store.put_cell(CellResult("m", "a" * 64, "c", "demo", "fog", 1, labels=labels,
                                  predictions=np.stack([labels] * 3, 1), top1_err=0.0, top5_err=0.0,
                                  fingerprint={"n": 6}, seconds=1.0))
    return path


def damaged(clean_store, tmp_path, name: str):
    path = tmp_path / f"{name}.db"
    shutil.copy(clean_store, path)
    sql, values, _ = DAMAGE[name]
    with sqlite3.connect(path) as db:
        db.execute(sql, values)
    db.close()
    return path


def cli(capsys, *args) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code, capsys.readouterr().err


def one_line(code: int, err: str, *needles: str) -> None:
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize("name", list(DAMAGE))
def test_a_damaged_cell_is_an_error_naming_store_and_cell(clean_store, tmp_path, capsys, name):
    path = damaged(clean_store, tmp_path, name)
    with pytest.raises(LiftbenchError, match=f"results store {path}.*cell fog/1 of m.*{DAMAGE[name][2]}"):
        load_results(path, predictions=True)
    one_line(*cli(capsys, "report", path, "--out", tmp_path / "report"), str(path), "fog/1")
    one_line(*cli(capsys, "compare", path, path), str(path), "fog/1")
    one_line(*cli(capsys, "check", "--results", path, "--baseline", path), str(path), "fog/1")


def test_evaluate_into_a_store_with_a_damaged_fingerprint(clean_store, tmp_path, capsys):
    path = damaged(clean_store, tmp_path, "fingerprint")
    with sqlite3.connect(path) as db:  # the damaged cell is one evaluate reads before it computes
        db.execute("UPDATE cells SET model = 'cifar_resnet10s-max', weights_sha256 = ?",
                   (load_weights_sha(),))
    db.close()
    one_line(*cli(capsys, "evaluate", "--model", "cifar_resnet10s", "--num-classes", "10", "--seed", "0",
                  "--suite", "c", "--corruptions", "fog", "--severities", "1", "--data", "demo", "--limit", "4",
                  "--out", path, "--no-progress", "--bootstrap", "0"), str(path), "fingerprint")


def load_weights_sha() -> str:
    from robustbench_lift.engine import ModelOptions
    from robustbench_lift.engine.model import prepare_model

    return prepare_model("cifar_resnet10s", ModelOptions(num_classes=10), seed=0).weights_sha256


def test_a_chunks_table_of_another_schema_is_an_error_naming_the_store(tmp_path, capsys):
    path = tmp_path / "other.db"
    ResultStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE chunks (x INTEGER)")
    db.close()
    with pytest.raises(LiftbenchError, match=f"results store {path}: no such column.*its tables are not liftbench"):
        evaluate(tiny_model(10), CorruptionOptions(corruptions=["fog"], severities=[1]), "demo",
                 run=RunOptions(out=path, limit=4, batch_size=2, progress=False))


def test_a_disk_filling_during_an_on_the_fly_pass_keeps_the_committed_chunks(tmp_path, monkeypatch):
    path, put_chunk, calls = tmp_path / "full.db", chunks_module.put_chunk, []

    def fill_after_first(store, *args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:  # SQLite's own SQLITE_FULL from here on: no page beyond those in use
            pages = store._db.execute("PRAGMA page_count").fetchone()[0]
            store._db.execute(f"PRAGMA max_page_count = {pages}")
        return put_chunk(store, *args, **kwargs)

    monkeypatch.setattr(chunks_module, "put_chunk", fill_after_first)
    with pytest.raises(LiftbenchError, match=f"cannot write results store {path}: database or disk is full "
                                             r"\(free disk space"):
        evaluate(tiny_model(10), CorruptionOptions(corruptions=["fog", "contrast"]), "demo",
                 run=RunOptions(out=path, limit=64, batch_size=2, chunk=2, progress=False))
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT DISTINCT start FROM chunks").fetchall() == [(0,)]
    db.close()


def test_a_baseline_nested_past_the_parsers_depth_is_a_usage_error(clean_store, tmp_path, capsys):
    baseline = tmp_path / "deep.json"
    baseline.write_text("[" * 100_000 + "]" * 100_000)  # json.loads raises RecursionError on this
    code, err = cli(capsys, "check", "--results", clean_store, "--baseline", baseline)
    assert code == 2 and "Traceback" not in err and f"baseline {baseline} is not valid JSON" in err, err


def test_a_store_damaged_past_its_header_is_one_line_for_readers_and_writers(clean_store, tmp_path, capsys):
    path = tmp_path / "malformed.db"
    data = bytearray(clean_store.read_bytes())
    page = int.from_bytes(data[16:18], "big")  # SQLite header: page size at offset 16
    for i in range(2 * page + 100, len(data), 13):  # pages 3.. (the tables' rows), the schema page intact
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    one_line(*cli(capsys, "report", path, "--out", tmp_path / "report"), f"results store {path}", "malformed")
    one_line(*cli(capsys, "evaluate", "--model", "cifar_resnet10s", "--num-classes", "10", "--suite", "clean",
                  "--data", "demo", "--limit", "2", "--out", path, "--no-progress"), f"results store {path}",
             "malformed")
