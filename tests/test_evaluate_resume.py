"""A run killed with SIGKILL after its first committed cell resumes to results identical to an uninterrupted run."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
from evaluate_fixtures import CORRUPTIONS, SEVERITIES, SlowTiny, build_data

from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.store import load_results
from robustbench_lift.suites.options import CorruptionOptions

TESTS = Path(__file__).parent


def committed_cells(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not written yet
        return 0


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    data = build_data(tmp_path)
    options = CorruptionOptions(clean=str(data / "clean"), corruptions=CORRUPTIONS, severities=SEVERITIES)
    tiny = ModelOptions(name="tiny")
    killed = tmp_path / "killed.db"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        from evaluate_fixtures import SlowTiny
        from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
        from robustbench_lift.suites.options import CorruptionOptions
        evaluate(SlowTiny(delay=0.4), {options!r}, {str(data / 'tiny-c')!r},
                 run=RunOptions(out={str(killed)!r}, batch_size=3, progress=False), options={tiny!r})
    """)
    process = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while committed_cells(killed) < 1 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL  # killed, not finished
    stored = committed_cells(killed)
    assert 1 <= stored < 5
    resumed = evaluate(SlowTiny(), options, data / "tiny-c", run=RunOptions(out=killed, progress=False), options=tiny)
    assert (resumed["run_id"] == 1).sum() == stored  # the committed cells were kept, the rest computed
    uninterrupted = evaluate(SlowTiny(), options, data / "tiny-c", run=RunOptions(out=tmp_path / "full.db",
                                                                                   progress=False), options=tiny)
    columns = ["model", "weights_sha256", "corruption", "severity", "n", "top1_err", "top5_err"]
    assert resumed[columns].equals(uninterrupted[columns])
    for a, b in zip(resumed.itertuples(), uninterrupted.itertuples()):
        assert np.array_equal(a.predictions, b.predictions) and np.array_equal(a.labels, b.labels)
    assert len(load_results(killed)) == 5
