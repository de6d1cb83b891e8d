"""How a model is evaluated: `evaluate` (the one call from model to stored cells), with its typed options.

- `evaluation`: `evaluate`, the run (suites -> groups of cells -> runner -> store);
- `runner`: batches in, per-cell top-k predictions out, on one device;
- `model`: the prepared model and its identity; `device`: device resolution and the recorded environment;
- `distributed`: sharding and gathering under torchrun; `options`: `RunOptions`, `ModelOptions`.
"""

from typing import Any

from robustbench_lift.engine.options import ModelOptions, RunOptions

__all__ = ["ModelOptions", "RunOptions", "evaluate"]


def __getattr__(name: str) -> Any:
    """`evaluate` (`engine.evaluation`) on first use, so that the options alone (the command line's, e.g. for
    `liftbench evaluate --help`) import no torch."""
    if name == "evaluate":
        from robustbench_lift.engine.evaluation import evaluate

        return evaluate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
