"""Inputs made once per study: the corrupted, perturbed or shifted images of a cell, kept for the next model.

Every random number of a cell's inputs is drawn per image from the run's seed (`corruptions.seeding`), so the
inputs of a batch are a function of the cell's fingerprint (data identity, corruption settings, seed, backend,
read size) and the batch's image indices alone, the same for every model. A study that evaluates several
models in one process (`liftbench demo`: eleven models on the same cells) passes one `InputCache` in
`RunOptions.input_cache`; the first model makes each batch's inputs and the others reuse them, bit for bit. The
model's own fingerprint keys (normalisation, classes, precision) are not part of the key: the inputs are made
before them. Inputs are held on the CPU within a byte budget; past it, new inputs are made and not kept.
"""

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # light at run time: RunOptions (and so the CLI's --help) imports this module
    import torch
    from torch import Tensor

    from robustbench_lift.suites.base import InputFn

MODEL_KEYS = ("mean", "std", "num_classes", "precision")
"""Fingerprint keys that describe the model's side of a cell, not its inputs."""
DEFAULT_BUDGET = 4 * 2 ** 30
"""Bytes of inputs kept (4 GiB: the demo's cells need about 0.5 GiB)."""


class InputCache:
    """Inputs by `(cell fingerprint, cell, batch indices)`, on the CPU, at most `max_bytes` of them."""

    def __init__(self, max_bytes: int = DEFAULT_BUDGET) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be an integer >= 0, got {max_bytes!r}")
        self.max_bytes, self.bytes, self.hits, self.misses = max_bytes, 0, 0, 0
        self._inputs: dict[tuple, Tensor] = {}

    @staticmethod
    def key(fingerprint: Mapping[str, Any], cell: tuple[str, int], indices: "Tensor") -> tuple:
        """The cache key of one batch of one cell: its fingerprint without `MODEL_KEYS`, the cell and the indices."""
        inputs_side = {k: v for k, v in fingerprint.items() if k not in MODEL_KEYS}
        return json.dumps(inputs_side, sort_keys=True, default=str), cell, tuple(indices.tolist())

    def inputs(self, key: tuple, make: Callable[[], "Tensor"], device: "torch.device") -> "Tensor":
        """The inputs stored under `key` (on `device`), or `make()`'s, kept when they fit the budget."""
        if key in self._inputs:
            self.hits += 1
            return self._inputs[key].to(device, non_blocking=True)
        self.misses += 1
        made = make()
        size = made.numel() * made.element_size()
        if self.bytes + size <= self.max_bytes:
            self._inputs[key] = made.detach().to("cpu")
            self.bytes += size
        return made


def cached_inputs(inputs: "InputFn", cache: InputCache, fingerprints: Mapping[tuple[str, int], Mapping[str, Any]],
                  device: "torch.device") -> "InputFn":
    """`inputs` (a group's input function) through `cache`, keyed by each cell's full `fingerprints` entry."""
    def through_cache(batch: "Tensor", indices: "Tensor", cell: tuple[str, int]) -> "Tensor":
        return cache.inputs(cache.key(fingerprints[cell], cell, indices), lambda: inputs(batch, indices, cell), device)
    return through_cache
