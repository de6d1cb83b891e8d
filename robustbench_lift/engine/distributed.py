"""Sharding and gathering for `torchrun --nproc_per_node N -m robustbench_lift evaluate ...` (also multi-node).

torchrun sets `RANK`, `WORLD_SIZE`, `LOCAL_RANK` and the rendezvous variables; the process group uses gloo on
the CPU and nccl on CUDA. Every cell's image indices are sharded by stride (rank r takes indices r, r + W,
r + 2W, ...): each image goes to exactly one rank, without the padding of `DistributedSampler`, so nothing is
counted twice. Predictions travel back with their image indices and rank 0 puts them in index order, so the
stored arrays equal those of a single process. Only rank 0 opens the results store.
"""

import os
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist

from robustbench_lift.errors import LiftbenchError

T = TypeVar("T")


class Distributed:
    """The process group of this run (a single process when `WORLD_SIZE` is unset or 1)."""

    def __init__(self, device: torch.device) -> None:
        self.owns_group = False
        if dist.is_available() and not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            if device.type == "cuda":
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            self.owns_group = True
        self.active = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.active else 0
        self.world_size = dist.get_world_size() if self.active else 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, indices: np.ndarray) -> np.ndarray:
        """This rank's share of `indices`: every `world_size`-th one from position `rank`."""
        return indices[self.rank::self.world_size]

    def from_main(self, compute: Callable[[], T]) -> T:
        """`compute()` on rank 0, its result (or its error) handed to every rank."""
        if not self.active:
            return compute()
        box: list[Any] = [None]
        if self.is_main:
            try:
                box[0] = ("ok", compute())
            except LiftbenchError as exc:
                box[0] = ("error", exc)
        dist.broadcast_object_list(box, src=0)
        status, value = box[0]
        if status == "error":
            raise value
        return value

    def all_gather(self, payload: T) -> list[T]:
        """Every rank's `payload`, in rank order (a list of one item without a process group)."""
        if not self.active:
            return [payload]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, payload)
        return gathered

    def close(self) -> None:
        """Destroy the process group if this object created it."""
        if self.owns_group:
            dist.destroy_process_group()
            self.owns_group = self.active = False
