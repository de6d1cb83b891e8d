"""Two gloo ranks (CPU) give the same stored cells as one process: no image dropped or counted twice."""


import numpy as np
import torch.multiprocessing as mp
from distributed_fixtures import free_port, join_as_rank
from evaluate_fixtures import CORRUPTIONS, build_data, tiny_model

from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.store import load_results
from robustbench_lift.suites.options import CorruptionOptions


def rank_main(rank: int, world_size: int, port: int, data: str, out: str) -> None:
    join_as_rank(rank, world_size, port)
    frame = evaluate(tiny_model(), CorruptionOptions(clean=f"{data}/clean", corruptions=CORRUPTIONS, severities=[3]),
                     f"{data}/tiny-c", run=RunOptions(out=out, batch_size=2, progress=False),
                     options=ModelOptions(name="tiny"))
    assert frame.empty == (rank != 0)


def test_two_gloo_ranks_equal_one(tmp_path):
    data = build_data(tmp_path)
    mp.spawn(rank_main, args=(2, free_port(), str(data), str(tmp_path / "two.db")), nprocs=2, join=True)
    evaluate(tiny_model(), CorruptionOptions(clean=data / "clean", corruptions=CORRUPTIONS, severities=[3]),
             data / "tiny-c", run=RunOptions(out=tmp_path / "one.db", batch_size=4, progress=False),
             options=ModelOptions(name="tiny"))
    two = load_results(tmp_path / "two.db", predictions=True)
    one = load_results(tmp_path / "one.db", predictions=True)
    assert len(two) == len(one) == 3 and (two["n"] == 9).all()
    columns = ["model", "weights_sha256", "corruption", "severity", "n", "top1_err", "top5_err", "fingerprint"]
    assert two[columns].equals(one[columns])
    for a, b in zip(two.itertuples(), one.itertuples()):
        assert np.array_equal(a.predictions, b.predictions) and np.array_equal(a.labels, b.labels)
