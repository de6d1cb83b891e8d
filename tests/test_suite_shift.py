"""Suite `shift`: consistency and the diagonal curve against an independent loop on photographs, an exactly
invariant model, CIFAR-size demo inputs, resume of a lost cell and distribution."""

import os
import sqlite3

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from evaluate_fixtures import MEAN, STD, InvariantNet, bordered_set, photo_set, sorted_paths, tiny_model, write_folder
from single_thread_fixtures import single_thread  # noqa: F401
from test_evaluate_distributed import free_port

from corruptions.seeding import derive_seed
from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.errors import UsageError
from robustbench_lift.report.aggregate import summarize
from robustbench_lift.store import load_results
from robustbench_lift.suites.options import ShiftOptions


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("shift") / "photos"
    images, labels = photo_set(80)
    write_folder(root, images, labels)
    return root


def top1(model, crops: list[torch.Tensor]) -> np.ndarray:
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return np.array([int(model((c[None].float() / 255 - mean) / std).argmax()) for c in crops])


def test_consistency_and_diagonal_equal_independent_loop(photos):
    import torchvision.transforms.functional as TF
    from PIL import Image

    model = tiny_model()
    frame = evaluate(model, ShiftOptions(resize=64, crop=48, pairs=3), photos,
                     run=RunOptions(seed=5, batch_size=7, progress=False))
    cells = {(r.corruption, r.severity): r for r in frame.itertuples()}
    assert sorted(cells) == [("diagonal", s) for s in range(9)] + [("pairs", 0)]  # 64 px canvas: shifts 0..8
    same, correct, diagonal = [], [], {s: [] for s in range(9)}
    labels = cells[("pairs", 0)].labels
    for index, path in enumerate(sorted_paths(photos)):
        canvas = TF.pil_to_tensor(TF.center_crop(TF.resize(Image.open(path).convert("RGB"), 64), 64))
        offsets = torch.randint(8, (3, 2, 2), generator=torch.Generator().manual_seed(
            derive_seed(5, "shift-pairs", 0, index)))
        crops = [canvas[:, r:r + 48, c:c + 48] for pair in offsets for r, c in pair.tolist()]
        predicted = top1(model, crops)
        same += list(predicted[0::2] == predicted[1::2])
        correct += list(predicted == labels[index])
        for s in range(9):
            diagonal[s].append(top1(model, [canvas[:, s:s + 48, s:s + 48]])[0])
    pairs = cells[("pairs", 0)]
    assert pairs.consistency == pytest.approx(np.mean(same)) and 0 < pairs.consistency < 1
    assert pairs.top1_err == pytest.approx(1 - np.mean(correct))
    for s in range(9):
        assert np.array_equal(cells[("diagonal", s)].predictions[:, 0], diagonal[s])
        assert cells[("diagonal", s)].agreement == pytest.approx(np.mean(np.array(diagonal[s]) == diagonal[0]))
    summary = summarize(frame, n_boot=100).iloc[0]
    assert summary["consistency"] == pytest.approx(np.mean(same)) and summary["shift_mode"] == "crop"
    assert summary["consistency_lo"] <= summary["consistency"] <= summary["consistency_hi"]
    assert summary["shift_acc"] == pytest.approx(np.mean(correct))


@pytest.mark.parametrize("mode", ["circular", "crop"])
def test_invariant_model_is_fully_consistent(tmp_path, mode):
    images, labels = bordered_set()
    write_folder(tmp_path / "bordered", images, labels)
    frame = evaluate(InvariantNet(), ShiftOptions(shift_mode=mode, resize=None, crop=None), tmp_path / "bordered",
                     run=RunOptions(progress=False))
    pairs = frame[frame["corruption"] == "pairs"].iloc[0]
    assert pairs["consistency"] == 1 and pairs["shift_mode"] == mode
    assert pairs["predictions"].shape == (9, 10, 3)  # 5 pairs of 32 px crops (CIFAR size: the whole image)
    assert (frame.loc[frame["corruption"] == "diagonal", "agreement"] == 1).all()
    assert sorted(frame.loc[frame["corruption"] == "diagonal", "severity"]) == [0, 1, 2, 3, 4]  # 32 // 8
    assert len(set(pairs["predictions"][:, 0, 0])) > 1
    torch.manual_seed(0)
    dense = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 3))  # sees where pixels are
    varying = evaluate(dense, ShiftOptions(shift_mode=mode, resize=None, crop=None), tmp_path / "bordered",
                       run=RunOptions(progress=False))
    assert varying.loc[varying["corruption"] == "diagonal", "agreement"].min() < 1  # the test can fail


def test_demo_with_limit_circular(tmp_path):
    frame = evaluate(tiny_model(10), ShiftOptions(shift_mode="circular", max_shift=3), "demo",
                     run=RunOptions(limit=12, out=tmp_path / "d.db", progress=False))
    assert (frame["n"] == 12).all() and (frame["shift_mode"] == "circular").all() and (frame["dataset"] == "demo").all()
    demo = evaluate(tiny_model(10), ShiftOptions(shift_mode="circular", max_shift=3), "demo",
                    run=RunOptions(limit=12, progress=False))
    assert np.array_equal(frame.loc[0, "predictions"], demo.loc[0, "predictions"])
    with pytest.raises(UsageError, match="already holds cell"):
        evaluate(tiny_model(10), ShiftOptions(shift_mode="crop", max_shift=3), "demo",
                 run=RunOptions(limit=12, out=tmp_path / "d.db", progress=False))


def test_lost_diagonal_cell_is_recomputed_against_its_anchor(photos, tmp_path):
    request = dict(suite=ShiftOptions(resize=64, crop=48), data=photos, options=ModelOptions(name="tiny"),
                   run=RunOptions(progress=False, out=tmp_path / "r.db"))
    first = evaluate(tiny_model(), **request)
    with sqlite3.connect(tmp_path / "r.db") as db:
        db.execute("DELETE FROM cells WHERE corruption = 'diagonal' AND severity = 5")
    resumed = evaluate(tiny_model(), **request)
    assert sorted(resumed["run_id"].tolist()) == [1] * 9 + [2]
    assert resumed[["corruption", "severity", "agreement", "consistency"]].equals(
        first[["corruption", "severity", "agreement", "consistency"]])


def rank_main(rank: int, world_size: int, port: int, data: str, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    evaluate(tiny_model(), ShiftOptions(resize=64, crop=48, max_shift=2), data,
             run=RunOptions(out=out, batch_size=10, progress=False), options=ModelOptions(name="tiny"))


def test_two_gloo_ranks_equal_one(photos, tmp_path):
    mp.spawn(rank_main, args=(2, free_port(), str(photos), str(tmp_path / "two.db")), nprocs=2, join=True)
    one = evaluate(tiny_model(), ShiftOptions(resize=64, crop=48, max_shift=2), photos, run=RunOptions(progress=False),
                   options=ModelOptions(name="tiny"))
    two = load_results(tmp_path / "two.db", predictions=True)
    assert len(two) == len(one) == 4 and (two["n"] == 9).all()
    for a, b in zip(two.itertuples(), one.itertuples()):
        assert np.array_equal(a.predictions, b.predictions)
    assert two["agreement"].equals(one["agreement"])


@pytest.mark.parametrize("options, message", [
    (dict(shift_mode="wrap"), "unknown shift mode 'wrap'"),
    (dict(pairs=0), "--pairs must be >= 1"),
    (dict(max_shift=48), "--max-shift must be in 1..47"),
])
def test_usage_errors(photos, options, message):
    with pytest.raises(UsageError, match=message):
        evaluate(tiny_model(), ShiftOptions(resize=64, crop=48, **options), photos, run=RunOptions(progress=False))
