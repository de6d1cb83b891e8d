"""Concurrent writers on one results store (issue 15, item 3): a second writer gets a clear error naming the
first one's pid and host while the first keeps every cell; a lock left by a killed process is taken over; a
cell changed behind a run's back is refused in the transaction that would have replaced it."""

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustbench_lift.cli import main
from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.store import CellResult, ResultStore, array_to_bytes, load_results
from robustbench_lift.store.lock import process_gone, process_identity

ROOT = Path(__file__).resolve().parents[1]

HOLDER = """
import sys
from robustbench_lift.store import ResultStore
store = ResultStore(sys.argv[1])
print(store._lock.token, flush=True)
sys.stdin.readline()
"""

GATED_RUN = """
import sys, torch
from robustbench_lift.engine import RunOptions, evaluate
from robustbench_lift.suites.options import CleanOptions

class Gated(torch.nn.Module):
    # a 10-class model whose first forward pass waits for a line on stdin: the run is mid-pass, lock held
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.head, self.waiting = torch.nn.Linear(3, 10), True

    def forward(self, x):
        if self.waiting:
            print("computing", flush=True)
            sys.stdin.readline()
            self.waiting = False
        return self.head(x.float().mean((2, 3)))

evaluate(Gated(), CleanOptions(resize=None, crop=None), sys.argv[2],
         run=RunOptions(out=sys.argv[1], limit=8, device="cpu", progress=False, batch_size=4))
print("done", flush=True)
"""


def start(script: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)


def write_images(folder: Path, count: int = 12) -> Path:
    """`count` random 32 px PNGs in three class folders."""
    rng = np.random.default_rng(0)
    for i in range(count):
        (folder / f"c{i % 3}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"c{i % 3}" / f"{i}.png")
    return folder


def cell(severity: int, fingerprint: dict) -> CellResult:
    labels = np.arange(6) % 3
    return CellResult("m", "a" * 64, "c", "d", "fog", severity, labels=labels, predictions=labels[:, None],
                      top1_err=0.0, top5_err=0.0, fingerprint=fingerprint, seconds=1.0)


def lock_row(path: Path) -> tuple | None:
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT pid, host, token FROM writer_lock").fetchone()
    db.close()
    return row


def test_a_second_evaluate_is_refused_naming_the_first_and_the_first_loses_nothing(tmp_path, capsys):
    path, data = tmp_path / "results.db", write_images(tmp_path / "clean")
    second = ["evaluate", "--model", "demo-max", "--data", str(data), "--suite", "clean", "--limit", "4", "--resize",
              "0", "--crop", "0", "--out", str(path), "--no-progress", "--bootstrap", "0"]
    first = start(GATED_RUN, path, data)
    try:
        assert first.stdout.readline().strip() == "computing"  # its store is open, its pass started
        with pytest.raises(SystemExit) as exit_info:  # this test's process is the second writer
            main(second)
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and len(err.splitlines()) == 1, err
        assert f"store {path} is in use by pid {first.pid} on host {socket.gethostname()} (started " in err
        assert "pass another --out" in err
        first.stdin.write("go\n")
        first.stdin.flush()
        assert first.stdout.readline().strip() == "done"
    finally:
        first.stdin.close()
        assert first.wait(timeout=120) == 0
    stored = load_results(path)
    assert stored[["model", "corruption", "n"]].values.tolist() == [["Gated", "clean", 8]]
    assert stored["fingerprint"][0]["limit"] == 8 and lock_row(path) is None  # released on close
    with pytest.raises(SystemExit) as exit_info:  # the store is free again
        main(second)
    assert exit_info.value.code in (0, None)
    assert sorted(load_results(path)["model"]) == ["Gated", "demo-max"]


def test_the_lock_of_a_killed_writer_is_taken_over_and_its_cells_kept(tmp_path):
    path = tmp_path / "results.db"
    with ResultStore(path) as store:
        store.put_cell(cell(1, {"limit": 8}))
    holder = start(HOLDER, path)
    token = holder.stdout.readline().strip()
    assert lock_row(path) == (holder.pid, socket.gethostname(), token)
    with pytest.raises(UsageError, match=f"in use by pid {holder.pid} on host"):
        ResultStore(path)
    holder.kill()
    holder.wait(timeout=30)
    holder.stdout.close()
    holder.stdin.close()
    with ResultStore(path) as store:  # the pid is gone: taken over
        assert lock_row(path)[:2] == (os.getpid(), socket.gethostname())
        store.put_cell(cell(2, {"limit": 8}))
    assert load_results(path)["severity"].tolist() == [1, 2]


def test_a_lock_of_another_host_is_never_taken_over(tmp_path):
    path = tmp_path / "results.db"
    ResultStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO writer_lock VALUES (0, 1, 'gpu-node-7', NULL, '2026-01-01T00:00:00+00:00', 'x')")
    db.close()
    with pytest.raises(UsageError, match="in use by pid 1 on host gpu-node-7 \\(started 2026-01-01"):
        ResultStore(path)
    assert lock_row(path) == (1, "gpu-node-7", "x")


@pytest.mark.skipif(process_identity(os.getpid()) is None, reason="needs Linux /proc")
def test_a_reused_pid_does_not_keep_a_dead_writers_lock(tmp_path):
    path = tmp_path / "results.db"
    ResultStore(path).close()
    live = os.getppid()  # running, but not the process that took the lock (recorded with another identity)
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO writer_lock VALUES (0, ?, ?, 'old-boot/1', '2026-01-01T00:00:00+00:00', 'x')",
                   (live, socket.gethostname()))
    db.close()
    ResultStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO writer_lock VALUES (0, ?, ?, ?, '2026-01-01T00:00:00+00:00', 'x')",
                   (live, socket.gethostname(), process_identity(live)))
    db.close()
    with pytest.raises(UsageError, match=f"in use by pid {live}"):  # the same process: still its lock
        ResultStore(path)


def test_a_cell_changed_behind_the_runs_back_is_refused_in_the_write_transaction(tmp_path):
    path = tmp_path / "results.db"
    with ResultStore(path) as store:
        seen = store.fingerprints("m", "a" * 64, "c", "d")  # the run starts: nothing stored
        with sqlite3.connect(path) as other:  # a writer that ignores the lock stores the cell with limit 4
            blob = array_to_bytes(np.zeros(6, np.int16))
            other.execute("INSERT INTO cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          ("m", "a" * 64, "c", "d", "fog", 1, 6, 0.5, 0.5, "{}", blob, blob,
                           json.dumps({"limit": 4}), 1.0, 6.0, None, "now"))
        other.close()
        with pytest.raises(LiftbenchError, match="cell fog/1 of m was written by run None while this run computed"):
            store.put_cell(cell(1, {"limit": 8}), seen=seen)
        store.put_cell(cell(2, {"limit": 8}), seen=seen)  # an untouched cell is written
        with pytest.raises(LiftbenchError, match="deleted while"):
            store.put_cell(cell(3, {"limit": 8}), seen={**seen, ("fog", 3): {"limit": 8}})
    stored = load_results(path).set_index("severity")["fingerprint"]
    assert stored.to_dict() == {1: {"limit": 4}, 2: {"limit": 8}}  # the other writer's cell was not replaced


def test_a_store_whose_lock_was_taken_over_writes_nothing(tmp_path):
    path = tmp_path / "results.db"
    with ResultStore(path) as store:
        with sqlite3.connect(path) as other:
            other.execute("UPDATE writer_lock SET pid = 1, host = 'elsewhere', token = 'theirs'")
        other.close()
        with pytest.raises(LiftbenchError, match="writer lock is now held by pid 1 on host elsewhere"):
            store.put_cell(cell(1, {}))
    assert load_results(path).empty and lock_row(path) == (1, "elsewhere", "theirs")  # not released: not ours


@pytest.mark.skipif(process_identity(os.getpid()) is None, reason="needs Linux /proc")
def test_process_gone_against_live_reused_zombie_and_impossible_pids():
    me = process_identity(os.getpid())
    assert not process_gone(os.getpid(), me) and not process_gone(os.getpid(), None)
    assert process_gone(os.getpid(), "another-boot/1")  # the pid now belongs to a later process
    assert process_gone(0, None) and process_gone(-5, None) and process_gone(2**40, None)
    child = subprocess.Popen(["sleep", "0"])
    deadline = time.monotonic() + 30
    while (Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
           and time.monotonic() < deadline):
        time.sleep(0.05)
    assert process_gone(child.pid, None)  # exited, not yet reaped: a zombie holds no lock
    child.wait()
    assert process_gone(child.pid, None)
