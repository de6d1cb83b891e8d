"""A diverging training run stops with an error naming the step and the fix, exits 1, and never writes a
non-finite checkpoint or an invalid log.jsonl line; the last good last.pt stays as it was."""

import itertools
import json
import math
import pickle

import numpy as np
import pytest
import torch
from single_thread_fixtures import single_thread  # noqa: F401

import robustbench_lift.training.loop as train_module
from robustbench_lift.cli import main
from robustbench_lift.data.demo import MEAN, STD, demo_dataset
from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.pooling import lifting_loss
from robustbench_lift.training import Recipe, TrainSet, train
from robustbench_lift.training.sets import Split


def strict_json(line: str) -> dict:
    """`json.loads` that refuses NaN / Infinity (Python accepts them; JSON does not)."""
    def refuse(name: str) -> None:
        raise ValueError(f"invalid JSON constant {name}")
    return json.loads(line, parse_constant=refuse)


def all_finite(path) -> bool:
    state = torch.load(path, map_location="cpu", weights_only=True)
    return all(bool(torch.isfinite(t).all()) for t in state["model"].values() if t.is_floating_point())


def test_lr_1000_exits_1_with_the_fix_and_leaves_nothing_non_finite(tmp_path, capsys):
    folder = tmp_path / "cifar-10-batches-py"  # CIFAR pickles of 8 random images each: 4 steps of 10 per epoch
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (8, 3072), dtype=np.uint8), "labels": list(range(8))}, f)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--model", "demo-max", "--data", str(tmp_path), "--out", str(out), "--epochs", "3",
              "--batch-size", "10", "--lr", "1000", "--checkpoint-every", "1", "--no-progress"])
    captured = capsys.readouterr()
    assert exit_info.value.code == 1, captured.out  # before: exit 0, "test accuracy: 10.00%", final.pt of NaN
    assert "training diverged" in captured.err and "--lr" in captured.err and "lr 1000" in captured.err
    assert len(captured.err.strip().splitlines()) == 1 and "test accuracy" not in captured.out
    assert not (out / "final.pt").exists()
    assert not (out / "last.pt").exists() or all_finite(out / "last.pt")
    log = out / "log.jsonl"
    records = [strict_json(line) for line in log.read_text().splitlines()] if log.exists() else []
    assert all(math.isfinite(r["loss"]) for r in records)


def test_the_first_non_finite_step_is_named_and_the_last_good_checkpoint_kept(tmp_path, monkeypatch):
    tiny = TrainSet("demo16", "demo", Split(*demo_dataset("train", 16, limit=48)),
                    Split(*demo_dataset("test", 16, limit=16)), 10, MEAN, STD)
    calls = itertools.count(1)

    def poisoned(module, lambda_u, lambda_p):  # the loss of optimizer step 9 (epoch 2, step 3 of 6) is NaN
        return lifting_loss(module, lambda_u, lambda_p) + (math.nan if next(calls) == 9 else 0.0)

    monkeypatch.setattr(train_module, "lifting_loss", poisoned)
    recipe = Recipe(epochs=3, batch_size=8, lr=0.05, augment="none")
    with pytest.raises(LiftbenchError, match="non-finite loss at epoch 2, step 3 of 6 .*last.pt keeps the last"):
        train("demo-lift", tiny, tmp_path, recipe, checkpoint_every=2, progress=False)
    state = torch.load(tmp_path / "last.pt", map_location="cpu", weights_only=True)
    assert (state["epoch"], state["step"]) == (1, 2) and all_finite(tmp_path / "last.pt")  # saved before step 9
    assert [strict_json(line)["epoch"] for line in (tmp_path / "log.jsonl").read_text().splitlines()] == [1]
    assert not (tmp_path / "final.pt").exists()


@pytest.mark.parametrize("field", ["lr", "weight_decay", "lambda_u", "lambda_p"])
def test_recipe_refuses_infinite_values(field):
    with pytest.raises(UsageError, match=f"{field}=inf: expected a finite number"):
        Recipe(**{field: math.inf})
