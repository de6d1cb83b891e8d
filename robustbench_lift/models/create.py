"""The two entry points that build a model by name: `create_model` (the zoo, or any source through
`resolve_model`) and `load_model` (what a checkpoint records). Above both the zoo (`models/registry.py`) and the
other sources (`models/sources.py`), so neither imports the other.
"""

from pathlib import Path
from typing import Any

from torch import nn

from robustbench_lift.errors import UsageError
from robustbench_lift.models.registry import build_model, model_spec
from robustbench_lift.models.sources import resolve_model
from robustbench_lift.models.weights import read_checkpoint


def create_model(name: str, weights: Any = None, num_classes: int | None = None, *, seed: int = 0,
                 sha256: str | None = None, pool: str | None = None, **pool_kwargs: Any) -> nn.Module:
    """Build zoo model `name`, random (seeded) or with `weights`; any other source (`torchvision:<name>`,
    `timm:<name>`, `file.py:factory`, `package.module:factory`) or a `pool` swap goes through
    `models.sources.resolve_model`, `pool_kwargs` then being the builder's keyword arguments.

    Args:
        name: a zoo name (`list_models()`), e.g. `resnet50-lift`, `resnet50-blur5`, `cifar_resnet18-max`.
        pool: swap the pooling (`"lift"`, `"blur5"`): any ConvNet (`models/swap.py`), a zoo name's own variant.
        weights: None (random initialisation from `seed`, the global RNG left untouched); "DEFAULT" or a tag of
            `model_spec(name).weights` (or a torchvision weights enum) for published weights, downloaded into the
            torch.hub cache (offline: the error names the file to place); a URL; or a checkpoint path.
        num_classes: classes of the head; default: the checkpoint's recorded count, else 1000 (CIFAR forms 100).
        seed: seed of the random initialisation.
        sha256: expected sha256 of the checkpoint file.
        pool_kwargs: pooling options (`kernel_size`, `subbands`, `filter_size`, `pad_type`, ...) and `sites`.

    The model carries `liftbench_meta` (model, pool_kwargs, num_classes, mean, std, input_size, weights, and the
    checkpoint's own metadata), which `save_checkpoint` records.
    """
    if pool is not None or ":" in name:
        if sha256 is not None:
            raise UsageError(f"sha256= goes with a zoo name; {name!r} checks no file")
        return resolve_model(name, weights=weights, model_args=pool_kwargs, pool=pool, num_classes=num_classes,
                             seed=seed)[0]
    model, model.liftbench_meta = build_model(model_spec(name, **pool_kwargs), weights, num_classes, seed=seed,
                                              sha256=sha256)
    return model


def load_model(path: str | Path, sha256: str | None = None) -> nn.Module:
    """Rebuild the model a `save_checkpoint` file records (its name, pooling options and classes) and load it."""
    _, meta = read_checkpoint(path, sha256)
    if "model" not in meta:
        raise UsageError(f"{path} records no model name; use create_model(name, weights={str(path)!r})")
    return create_model(meta["model"], weights=path, sha256=sha256)
