"""The model a training run starts from: seeded, published weights, or a checkpoint transferred by name.

A checkpoint file is loaded with `models.transfer_weights` into the model as built (e.g. an original torchvision
ResNet-50's ImageNet weights into `torchvision:resnet50` with `pool="lift"`): every tensor whose name and shape
match is loaded, the new pools keep their identity-like initialisation (LiftPool: zero 1x1 weights), a head of
another size stays initialised; the `TransferReport` says which is which. Published weights (`DEFAULT`, a tag)
load as `models.create_model` loads them. A segmentation model's encoder can start from a classification
checkpoint instead (`encoder_weights`: torchvision's VGG-16-BN for SegNet, a ResNet of the same pooling for
DeepLabV3+), loaded strictly by the model's `load_encoder`.
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from robustbench_lift.errors import UsageError
from robustbench_lift.models import create_model, read_checkpoint
from robustbench_lift.models.transfer import TransferReport, transfer_weights


@dataclass(frozen=True)
class ModelStart:
    """What a training run starts from: `model` (any `models.create_model` source), its pooling swap `pool`,
    `options` (pooling options of a zoo model, a builder's keyword arguments for other sources), and at most one
    of `weights` (the whole model: a tag, or a checkpoint transferred by name) and `encoder_weights` (a
    classification checkpoint for a segmentation model's encoder)."""

    model: str
    weights: str | Path | None = None
    encoder_weights: str | Path | None = None
    pool: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def initial_model(start: ModelStart, num_classes: int, seed: int) -> tuple[nn.Module, TransferReport | None]:
    """`(module, transfer report or None)` of `start` with `num_classes` outputs, seeded by `seed`. `UsageError`
    when nothing of a checkpoint fits the model, or the encoder checkpoint does not fit the encoder."""
    model, weights, encoder_weights = start.model, start.weights, start.encoder_weights
    build = dict(num_classes=num_classes, seed=seed, pool=start.pool, **start.options)
    if encoder_weights is not None:
        if weights is not None:
            raise UsageError("give --weights (the whole model) or --encoder-weights (its encoder), not both")
        module = create_model(model, **build)
        if not hasattr(module, "load_encoder"):
            raise UsageError(f"--encoder-weights is for segmentation models with a classification encoder "
                             f"(segnet_*, deeplabv3plus_*); {module.liftbench_meta['model']} has none: use --weights")
        module.load_encoder(read_checkpoint(encoder_weights)[0])
        module.liftbench_meta = {**module.liftbench_meta, "encoder_weights": Path(encoder_weights).name}
        return module, None
    if weights is None or not Path(weights).is_file():
        return create_model(model, weights=weights, **build), None
    module = create_model(model, **build)
    report = transfer_weights(module, weights)
    if not report.loaded:
        raise UsageError(f"nothing of {weights} fits {module.liftbench_meta['model']} (no tensor of the same name "
                         f"and shape):\n{report.format()}")
    module.liftbench_meta = {**module.liftbench_meta, "weights": report.source,
                             "transfer": {key: len(value) for key, value in asdict(report).items()
                                          if key != "source"}}
    return module, report
