"""Helpers of the tests that spawn gloo ranks on the CPU (`torch.multiprocessing.spawn`)."""

import os
import socket

import torch

import robustbench_lift.training.init as init_module
from robustbench_lift.models import create_model
from robustbench_lift.training import Recipe, train


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def join_as_rank(rank: int, world_size: int, port: int) -> None:
    """The environment torchrun gives rank `rank` of `world_size` processes on this machine."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))


def train_rank(rank: int, port: int, model: str, data: object, out: str, recipe: Recipe) -> None:
    """Rank `rank` of two: train `model` on `data` into `out`, then save the weights this rank ended with as
    `out/rank<rank>.pt`."""
    join_as_rank(rank, 2, port)
    torch.set_num_threads(1)
    built = []

    def capture(*args, **kwargs):
        built.append(create_model(*args, **kwargs))
        return built[-1]

    init_module.create_model = capture  # a fresh process: the patch dies with it
    train(model, data, out, recipe, progress=False)
    torch.save(built[0].state_dict(), f"{out}/rank{rank}.pt")
