"""The model under evaluation and what identifies it in the store: name, weights sha256, classes, preprocessing."""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from robustbench_lift.engine.options import ModelOptions
from robustbench_lift.errors import UsageError
from robustbench_lift.models.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from robustbench_lift.models.sources import resolve_model
from robustbench_lift.models.weights import file_sha256


@dataclass
class PreparedModel:
    """A model ready for evaluation and what identifies it in the store (`name`, `weights_sha256`); `mean`, `std`
    normalise its inputs; `preprocess` is its native preprocessing when a name was resolved (input size, resize,
    interpolation: the size `evaluate` reads and generates images at), None for a module."""

    module: nn.Module
    name: str
    weights_sha256: str
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    preprocess: Preprocess | None = None

    @property
    def sizes(self) -> tuple:
        """The native `(input_size, resize, interpolation, crop_mode, border_fill)` `suites.options.at_model_size`
        takes after the options; `()` (ImageNet's protocol) for a module."""
        native = self.preprocess
        return () if native is None else (native.input_size, native.resize, native.interpolation,
                                          native.crop_mode, native.border_fill)


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

    A name goes through `robustbench_lift.models.resolve_model(model, weights, model_args, pool, num_classes,
    seed)`: a zoo name, `torchvision:<name>`, `timm:<name>`, `file.py:factory` or `package.module:factory`.
    It is stored under its canonical name (`cifar_resnet10s` and `cifar_resnet10s-max` are one model), classes
    and preprocessing come from the model's metadata unless `options` give them. Identity (`weights_sha256`):
    the sha256 of the weights file when `weights` is a file (what `sha256sum` prints), else of the state dict
    (a weights tag or URL, a seeded random initialisation, or a module). A module is named `name` (default: its
    class name); its classes default to its last `nn.Linear`'s outputs, its normalisation is ImageNet's (its
    inputs: the suites' ImageNet protocol, 256/224).
    """
    weights, num_classes, preprocess = options.weights, options.num_classes, None
    if isinstance(model, nn.Module):
        if weights is not None or options.pool is not None or options.model_args:
            raise UsageError("weights=, pool= and model_args= go with a model name; for a module, load its state "
                             "dict or call models.swap_pooling(module, pool) yourself")
        if options.test_size:
            raise UsageError("test_size= goes with a timm model name (its pretrained config's test size)")
        module, name, mean, std = model, type(model).__name__, IMAGENET_MEAN, IMAGENET_STD
        num_classes = num_classes or _output_classes(model)
        if num_classes is None:
            raise UsageError(f"cannot tell how many classes {type(model).__name__} predicts: pass num_classes")
    else:
        module, meta = resolve_model(model, weights=weights, model_args=options.model_args, pool=options.pool,
                                     num_classes=num_classes, seed=seed, test_size=options.test_size)
        name, num_classes, preprocess = meta["model"], meta["num_classes"], Preprocess.from_meta(meta)
        mean, std = preprocess.mean, preprocess.std
    identity = file_sha256(weights) if weights is not None and Path(weights).is_file() else state_dict_sha256(module)
    return PreparedModel(module, options.name or name, identity, int(num_classes), tuple(options.mean or mean),
                         tuple(options.std or std), preprocess)
