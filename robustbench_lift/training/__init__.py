"""Training: the entry point (`run.py`), the loop (`loop.py`), per-data-set recipes (`recipe.py`) and the
training data with its seeded augmentation (`data.py`).

    >>> from robustbench_lift.training import recipe_for, train
"""

from robustbench_lift.training.data import TrainSet, open_train_set
from robustbench_lift.training.loop import FINAL
from robustbench_lift.training.recipe import Recipe, recipe_for
from robustbench_lift.training.run import train

__all__ = ["FINAL", "Recipe", "TrainSet", "open_train_set", "recipe_for", "train"]
