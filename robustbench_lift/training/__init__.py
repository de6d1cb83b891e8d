"""Parts of `liftbench train`: the recipe (`recipe.py`) and the training data with its seeded augmentation
(`data.py`). The loop itself is `robustbench_lift.train`."""
