"""The model under evaluation and what identifies it in the store: name, weights sha256, classes, normalisation."""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from robustbench_lift.engine.options import ModelOptions
from robustbench_lift.errors import UsageError
from robustbench_lift.models import IMAGENET_MEAN, IMAGENET_STD, create_model
from robustbench_lift.models.weights import file_sha256


@dataclass
class PreparedModel:
    """A model ready for evaluation and what identifies it in the store."""

    module: nn.Module
    name: str
    weights_sha256: str
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


def state_dict_sha256(module: nn.Module) -> str:
    """Hex sha256 of a module's state dict (names, dtypes, shapes and bytes in name order): the identity of an
    in-memory model, so that changed parameters never reuse stored rows."""
    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _output_classes(module: nn.Module) -> int | None:
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else None


def prepare_model(model: str | nn.Module, options: ModelOptions = ModelOptions(), *, seed: int = 0) -> PreparedModel:
    """Build or wrap the model to evaluate, with what identifies it in the store.

    A zoo name is built by `robustbench_lift.models.create_model(model, weights, num_classes, seed=seed)`:
    classes and normalisation come from the checkpoint's metadata (`liftbench_meta`), unless `options` give them.
    Identity (`weights_sha256`): the sha256 of the weights file when `weights` is a file (what `sha256sum`
    prints), else of the state dict (a weights tag or URL, a seeded random initialisation, or a module).
    A module is named `name` (default: its class name); its classes default to its last `nn.Linear`'s
    outputs. Normalisation not recorded anywhere is ImageNet's (torchvision's ImageNet weights).
    """
    weights, name, num_classes, mean, std = (options.weights, options.name, options.num_classes, options.mean,
                                             options.std)
    if isinstance(model, nn.Module):
        if weights is not None:
            raise UsageError("weights= goes with a zoo model name; load the state dict into the module yourself")
        module, meta = model, {"num_classes": num_classes or _output_classes(model)}
        if meta["num_classes"] is None:
            raise UsageError(f"cannot tell how many classes {type(model).__name__} predicts: pass num_classes")
    else:
        module = create_model(model, weights=weights, num_classes=num_classes, seed=seed)
        meta = module.liftbench_meta
    identity = file_sha256(weights) if weights is not None and Path(weights).is_file() else state_dict_sha256(module)
    return PreparedModel(module, name or (model if isinstance(model, str) else type(model).__name__), identity,
                         int(meta["num_classes"]), tuple(mean or meta.get("mean") or IMAGENET_MEAN),
                         tuple(std or meta.get("std") or IMAGENET_STD))
