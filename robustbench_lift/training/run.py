"""`liftbench train`: train any model source on CIFAR-10/100, an ImageFolder (ImageNet), the demo set or the demo
segmentation set (the loop: `training/loop.py`).

    >>> from robustbench_lift.engine import ModelOptions
    >>> from robustbench_lift.training import recipe_for, train
    >>> recipe = recipe_for("demo").override(epochs=5)
    >>> path = train("demo-lift", "demo", "runs/demo-lift", recipe)  # minutes on a CPU  # doctest: +SKIP
    >>> options = ModelOptions(weights="DEFAULT", pool="lift")      # fine-tune demo-max with LiftPool swapped in
    >>> tuned = train("demo-max", "demo", "runs/ft", options=options)  # doctest: +SKIP
"""

from collections.abc import Callable
from pathlib import Path

import torch

from robustbench_lift.engine.device import resolve_device
from robustbench_lift.engine.distributed import Distributed
from robustbench_lift.engine.options import ModelOptions
from robustbench_lift.errors import UsageError
from robustbench_lift.models.transfer import TransferReport
from robustbench_lift.training.data import TrainSet, open_train_set
from robustbench_lift.training.init import ModelStart
from robustbench_lift.training.loop import LOG, Trainer
from robustbench_lift.training.recipe import Recipe, recipe_for


def train(model: str, data: str | Path | TrainSet, out_dir: str | Path, recipe: Recipe | None = None, *,
          options: ModelOptions | None = None, encoder_weights: str | Path | None = None, device: str = "auto",
          workers: int = 0, amp: bool | None = None, resume: bool = True, checkpoint_every: int | None = None,
          progress: bool = True, on_transfer: Callable[[TransferReport], None] | None = None) -> Path:
    """Train `model` (a zoo name or any `models.create_model` source) on `data` into `out_dir`; return the path
    of `final.pt`.

    `data`: `"demo"`, `"demo-seg"`, a CIFAR-10/100 pickle folder, an ImageFolder train tree, a segmentation
    folder (VOC, Cityscapes, images/ + masks/), or a `TrainSet`. `recipe`: default `recipe_for(<the data's
    kind>)`. `options`: the model as `evaluate` describes it (`ModelOptions`): `weights`, initial weights
    (fine-tuning) instead of the seeded random initialisation: a tag such as DEFAULT, or a checkpoint file, also of
    the original architecture of a `pool`-swapped model (`training.init`; its `TransferReport` goes to
    `on_transfer`, its counts into the run's metadata); `pool`, the pooling to swap in (`"lift"`); `model_args`,
    pooling options of a zoo model (`kernel_size=3`, ...), a builder's keyword arguments for other sources;
    `num_classes`, which must match the data's when given (`name`, `mean` and `std` do not apply).
    `encoder_weights`: a classification checkpoint for a segmentation model's encoder (`training.init`). `amp`:
    autocast (default: on CUDA only). `resume`: continue from `out_dir/last.pt` if present (a different recipe or
    model is a `UsageError`); False starts over. `checkpoint_every`: also write `last.pt` every this many steps.
    """
    described = options or ModelOptions()
    unused = [name for name in ("name", "mean", "std") if getattr(described, name) is not None]
    if unused:
        raise UsageError(f"train takes ModelOptions weights, model_args, pool and num_classes, not "
                         f"{', '.join(unused)}: leave them unset")
    num_classes = described.num_classes
    train_set = open_train_set(data)
    if num_classes is not None and num_classes != train_set.num_classes:
        raise UsageError(f"num_classes={num_classes} but {train_set.name} has {train_set.num_classes} classes")
    recipe = recipe or recipe_for(train_set.kind)
    target = resolve_device(device)
    dist = Distributed(target)
    if target.type == "cuda" and dist.active:  # torchrun: this rank's GPU (LOCAL_RANK)
        target = torch.device("cuda", torch.cuda.current_device())
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with torch.random.fork_rng(devices=range(torch.cuda.device_count()) if target.type == "cuda" else []):
            start = ModelStart(model, described.weights, encoder_weights, described.pool,
                               dict(described.model_args or {}))
            trainer = Trainer(start, train_set, out, recipe, target, dist, workers=workers, amp=amp,
                              checkpoint_every=checkpoint_every, progress=progress, on_transfer=on_transfer)
            if resume:
                trainer.resume()
            if trainer.epoch == trainer.step == 0 and dist.is_main:
                (out / LOG).unlink(missing_ok=True)  # starting over: the log restarts with the run
            while trainer.epoch < recipe.epochs:
                trainer.run_epoch()
            return trainer.finish()
    finally:
        dist.close()
