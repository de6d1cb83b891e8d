"""Training: the entry point (`run.py`), the loop (`loop.py`), per-data-set recipes (`recipe.py`) and the
training data with its seeded augmentation (`data.py`, `sets.py`).

    >>> from robustbench_lift.training import recipe_for, train
"""

from importlib import import_module
from typing import Any

_HOMES: dict[str, str] = {"FINAL": "loop", "Recipe": "recipe", "recipe_for": "recipe", "TrainSet": "sets",
                          "open_train_set": "data", "train": "run"}
"""Each public name and the module that defines it, imported on first use: a recipe alone (e.g. for `liftbench
train --help`) imports no torch."""

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
