"""Logs that CI can read: off a terminal, progress is a few plain lines (no carriage returns), one per 5 % of
the work and at least one a minute; on a terminal it stays tqdm's bar. Every loop with a bar uses it: the
evaluation runner, the renderers and the training loop."""

import io

import numpy as np
import pytest
from test_train import CIFAR10_FILES, write_cifar

from robustbench_lift import progress as progress_module
from robustbench_lift.cli import main
from robustbench_lift.data.render import render_cifar_c
from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.progress import progress
from robustbench_lift.suites.options import CorruptionOptions


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_48000_steps_are_20_lines():
    stream = io.StringIO()
    with progress(48_000, "epoch 1/1", "step", file=stream) as bar:
        for _ in range(48_000):
            bar.update()
    text = stream.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and len(lines) == 100 // 5
    assert [int(line.split(": ")[1].split("/")[0]) for line in lines] == [2400 * k for k in range(1, 21)]
    assert lines[-1].startswith("epoch 1/1: 48000/48000 step (100 %), ")


def test_a_slow_loop_prints_a_line_a_minute_and_a_last_one(monkeypatch):
    clock = iter(range(0, 10_000, 61))  # every call 61 s later
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: float(next(clock)))
    stream = io.StringIO()
    bar = progress(1000, "c", "img", file=stream)
    bar.set_postfix(loss="0.5")
    for _ in range(3):
        bar.update(1)  # 0.1 % each: only the clock prints
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and lines[0] == "c: 1/1000 img (0 %), 0.0 img/s, 61 s, loss 0.5"


def test_disabled_prints_nothing_and_a_terminal_keeps_the_bar():
    quiet = io.StringIO()
    with progress(10, "x", enabled=False, file=quiet) as bar:
        bar.update(10)
    assert quiet.getvalue() == ""
    terminal = Terminal()
    with progress(10, "x", file=terminal) as bar:
        bar.update(10)
    assert "\r" in terminal.getvalue() and "10/10" in terminal.getvalue()  # tqdm's redraws


def check_log(text: str, most: int) -> None:
    assert text.strip() and "\r" not in text and len(text.splitlines()) <= most, text


def test_runner_renderer_and_training_write_lines_to_a_log(tmp_path, capsys):
    evaluate("demo-max", CorruptionOptions(corruptions=["fog", "contrast"], severities=[1, 2], preset="cifar"), "demo",
             run=RunOptions(limit=8, progress=True, device="cpu"), options=ModelOptions(num_classes=10))
    check_log(capsys.readouterr().err, 21)
    render_cifar_c(np.zeros((4, 32, 32, 3), np.uint8), np.zeros(4), tmp_path / "c", corruptions="contrast",
                   progress=True)
    check_log(capsys.readouterr().err, 21)
    write_cifar(tmp_path, "cifar-10-batches-py", CIFAR10_FILES, "labels", 4, 10)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--model", "demo-max", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--epochs",
              "1", "--batch-size", "10"])
    assert exit_info.value.code == 0
    check_log(capsys.readouterr().err, 21)
