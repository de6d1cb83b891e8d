"""How a model is evaluated: `evaluate` (the one call from model to stored cells), with its typed options.

- `evaluate`: the run (suites -> groups of cells -> runner -> store);
- `runner`: batches in, per-cell top-k predictions out, on one device;
- `model`: the prepared model and its identity; `device`: device resolution and the recorded environment;
- `distributed`: sharding and gathering under torchrun; `options`: `RunOptions`, `ModelOptions`.
"""

from robustbench_lift.engine.evaluate import evaluate
from robustbench_lift.engine.options import ModelOptions, RunOptions

__all__ = ["ModelOptions", "RunOptions", "evaluate"]
