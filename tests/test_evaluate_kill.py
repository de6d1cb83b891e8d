"""On-the-fly passes commit per chunk of images: a run SIGKILLed (or interrupted) mid-pass resumes from its stored
chunks to cells identical to an uninterrupted run's, computing only the chunks it lacks."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from evaluate_fixtures import photo_set, tiny_model, write_folder
from torch import nn

from robustbench_lift.engine import ModelOptions, RunOptions, chunks, evaluate
from robustbench_lift.errors import UsageError
from robustbench_lift.store import load_results
from robustbench_lift.suites.options import CorruptionOptions, PerturbationOptions, ShiftOptions

TESTS = Path(__file__).parent
SUITES = {  # suite -> options giving 3 chunks of the 9 photographs (limit 6: 3 of 2) and several cells
    "c": (CorruptionOptions(corruptions=["gaussian_noise", "fog"], severities=[1], resize=None, crop=None),
          RunOptions(batch_size=2, chunk=2, limit=6, progress=False)),
    "p": (PerturbationOptions(perturbations=["speckle_noise", "translate"], resize=None, crop=None),
          RunOptions(batch_size=41, chunk=41, limit=3, progress=False)),  # 41 frames: 1 item
    "shift": (ShiftOptions(resize=None, crop=None),
              RunOptions(batch_size=20, chunk=20, limit=6, progress=False)),  # 10 crops per image: 2 per batch
}
TINY = ModelOptions(name="tiny")


class Counting(nn.Module):
    """`tiny_model()` counting the images it sees (and sleeping `delay` s per forward, to be killed mid-pass)."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.body, self.delay, self.images = tiny_model(), delay, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.delay)
        self.images += x.shape[0]
        return self.body(x)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """A clean folder of the 9 photographs at 32 px (used whole: no resize, no crop)."""
    root = tmp_path_factory.mktemp("kill") / "photos"
    write_folder(root, *photo_set(32))
    return root


def chunk_rows(path: Path) -> list[tuple[str, int, int, int]]:
    """`(corruption, severity, start, stop)` of the stored chunks (none before the table exists)."""
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return db.execute("SELECT corruption, severity, start, stop FROM chunks").fetchall()
    except sqlite3.OperationalError:
        return []


def covered(rows: list[tuple[str, int, int, int]], n: int) -> int:
    """Positions stored for every cell of the rows (the chunks a resumed run does not compute)."""
    cells = {(c, s) for c, s, _, _ in rows}
    masks = {cell: np.zeros(n, bool) for cell in cells}
    for c, s, start, stop in rows:
        masks[(c, s)][start:stop] = True
    return int(np.logical_and.reduce(list(masks.values())).sum()) if masks else 0


def assert_same_cells(resumed, uninterrupted) -> None:
    columns = ["model", "weights_sha256", "suite", "corruption", "severity", "n", "top1_err", "top5_err"]
    assert len(resumed) == len(uninterrupted) > 1
    assert resumed[columns].equals(uninterrupted[columns])
    assert list(resumed["fingerprint"]) == list(uninterrupted["fingerprint"])
    for a, b in zip(resumed.itertuples(), uninterrupted.itertuples()):
        assert np.array_equal(a.predictions, b.predictions) and np.array_equal(a.labels, b.labels)


def test_sigkill_mid_pass_resumes_from_the_stored_chunks(photos, tmp_path):
    options, run = SUITES["c"]
    killed = tmp_path / "killed.db"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        from test_evaluate_kill import SUITES, TINY, Counting
        from dataclasses import replace
        from robustbench_lift.engine import evaluate
        options, run = SUITES["c"]
        evaluate(Counting(delay=0.3), options, {str(photos)!r}, run=replace(run, out={str(killed)!r}), options=TINY)
    """)
    process = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not chunk_rows(killed) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL  # killed mid-pass, not finished
    assert len(load_results(killed)) == 0  # no cell finished: without chunks, everything would be lost
    n = run.limit
    kept = covered(chunk_rows(killed), n)
    assert 0 < kept < n

    model = Counting()
    resumed = evaluate(model, options, photos, run=replace(run, out=killed), options=TINY)
    cells = len(resumed)
    assert model.images == (n - kept) * cells  # only the chunks not stored were computed
    assert chunk_rows(killed) == []  # the finished cells took their chunks with them
    full = Counting()
    uninterrupted = evaluate(full, options, photos, run=replace(run, out=tmp_path / "full.db", chunk=256), options=TINY)
    assert full.images == n * cells
    assert_same_cells(resumed, uninterrupted)


def interrupt_after_first_chunk_of(run, monkeypatch) -> None:
    """Call `run()`, raising KeyboardInterrupt (Ctrl-C) right after the first chunk is committed."""
    put_chunk = chunks.put_chunk

    def interrupt(*args, **kwargs):
        put_chunk(*args, **kwargs)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(chunks, "put_chunk", interrupt)
        with pytest.raises(KeyboardInterrupt):
            run()


def interrupt_after_first_chunk(suite: str, out: Path, monkeypatch) -> None:
    """Evaluate `SUITES[suite]` on the photographs into `out`, interrupted after the first chunk."""
    options, run = SUITES[suite]
    interrupt_after_first_chunk_of(lambda: evaluate(Counting(), options, out.parent / "photos",
                                                    run=replace(run, out=out), options=TINY), monkeypatch)


@pytest.mark.parametrize("suite", list(SUITES))
def test_interrupted_pass_resumes_to_the_uninterrupted_cells(suite, photos, tmp_path, monkeypatch):
    """c, p (sequences) and shift (crop pairs, an anchor cell): chunk boundaries change no prediction, and a
    run interrupted after its first chunk computes the other chunks only."""
    (options, run), out = SUITES[suite], photos.parent / f"{suite}.db"
    interrupt_after_first_chunk(suite, out, monkeypatch)
    n, kept = run.limit, covered(chunk_rows(out), run.limit)
    assert 0 < kept < n and len(load_results(out)) == 0

    model, full = Counting(), Counting()
    resumed = evaluate(model, options, photos, run=replace(run, out=out), options=TINY)
    uninterrupted = evaluate(full, options, photos, run=replace(run, chunk=10_000), options=TINY)
    assert model.images * n == full.images * (n - kept)  # every item has as many frames
    assert chunk_rows(out) == []
    assert_same_cells(resumed, uninterrupted)


def test_chunks_with_other_settings_are_not_reused(photos, monkeypatch):
    """Like cells: another seed is an error for the corrupted cells' chunks; with `overwrite` they are recomputed,
    while the clean cell's chunks (the seed is not in its fingerprint) are reused."""
    (options, run), out = SUITES["c"], photos.parent / "other.db"
    interrupt_after_first_chunk("c", out, monkeypatch)
    kept = covered([row for row in chunk_rows(out) if row[0] == "clean"], run.limit)
    with pytest.raises(UsageError, match=r"\(chunks\) already holds cell fog/1 .*seed: stored 0, now 1"):
        evaluate(Counting(), options, photos, run=replace(run, out=out, seed=1), options=TINY)
    model = Counting()
    frame = evaluate(model, options, photos, run=replace(run, out=out, seed=1, overwrite=True), options=TINY)
    assert kept > 0 and model.images == run.limit * len(frame) - kept
    assert chunk_rows(out) == []


def test_demo_resumes_from_its_chunks(tmp_path, monkeypatch):
    """`liftbench demo` (`run_demo`) interrupted after its first chunk (25 of 30 images: 250 crops) computes only
    the other 5 images when run again, to the cells of an uninterrupted demo."""
    from robustbench_lift.demo import RESULTS_FILE, run_demo
    from robustbench_lift.engine.runner import Engine

    kwargs = dict(limit=30, pools=["max"], suites=["shift"], report=False, progress=False)
    computed, run = [], Engine.run

    def counting(self, *args):
        for result in run(self, *args):
            computed.append(len(result["indices"]))
            yield result

    monkeypatch.setattr(Engine, "run", counting)
    interrupt_after_first_chunk_of(lambda: run_demo(tmp_path / "killed", **kwargs), monkeypatch)
    assert computed == [25] and covered(chunk_rows(tmp_path / "killed" / RESULTS_FILE), 30) == 25
    computed.clear()
    resumed = load_results(run_demo(tmp_path / "killed", **kwargs)[0], predictions=True)
    assert computed == [5]
    uninterrupted = load_results(run_demo(tmp_path / "full", **kwargs)[0], predictions=True)
    assert_same_cells(resumed, uninterrupted)


def test_chunk_sizes_and_plan_by_hand():
    assert chunks.chunk_items(256, 250, 1) == 250  # the demo's c pass: one batch of 250 images
    assert chunks.chunk_items(256, 64, 1) == 256 and chunks.chunk_items(1000, 64, 1) == 1024
    assert chunks.chunk_items(256, 25, 10) == 25 and chunks.chunk_items(1, 64, 1) == 64  # at least one batch
    a, b = ("a", 1), ("b", 1)
    partials = {a: chunks.Partial(10), b: chunks.Partial(10)}
    partials[a].covered[:6] = True  # e.g. chunks of another size: [4, 8) is partly covered, so lacking
    partials[b].covered[:8] = True
    assert chunks.plan(partials, [a, b], 10, 4) == [([a], [(4, 8)]), ([a, b], [(8, 10)])]
    partials[a].covered[:] = partials[b].covered[:] = True
    assert chunks.plan(partials, [a, b], 10, 4) == []
