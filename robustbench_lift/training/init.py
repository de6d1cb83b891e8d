"""The model a training run starts from: seeded, published weights, or a checkpoint transferred by name.

A checkpoint file is loaded with `models.transfer_weights` into the model as built (e.g. an original torchvision
ResNet-50's ImageNet weights into `torchvision:resnet50` with `pool="lift"`): every tensor whose name and shape
match is loaded, the new pools keep their identity-like initialisation (LiftPool: zero 1x1 weights), a head of
another size stays initialised; the `TransferReport` says which is which. Published weights (`DEFAULT`, a tag)
load as `models.create_model` loads them.
"""

from dataclasses import asdict
from pathlib import Path
from typing import Any

from torch import nn

from robustbench_lift.errors import UsageError
from robustbench_lift.models import create_model
from robustbench_lift.models.transfer import TransferReport, transfer_weights


def initial_model(model: str, weights: str | Path | None, num_classes: int, *, seed: int, pool: str | None,
                  options: dict[str, Any]) -> tuple[nn.Module, TransferReport | None]:
    """`(module, transfer report or None)` of `model` (any `create_model` source) with `num_classes` outputs;
    `options` are its pooling options (zoo) or builder arguments (other sources). `UsageError` when nothing of a
    checkpoint fits the model."""
    if weights is None or not Path(weights).is_file():
        return create_model(model, weights=weights, num_classes=num_classes, seed=seed, pool=pool, **options), None
    module = create_model(model, num_classes=num_classes, seed=seed, pool=pool, **options)
    report = transfer_weights(module, weights)
    if not report.loaded:
        raise UsageError(f"nothing of {weights} fits {module.liftbench_meta['model']} (no tensor of the same name "
                         f"and shape):\n{report.format()}")
    module.liftbench_meta = {**module.liftbench_meta, "weights": report.source,
                             "transfer": {key: len(value) for key, value in asdict(report).items()
                                          if key != "source"}}
    return module, report
