"""The model a training run starts from: seeded, published weights, or a checkpoint transferred by name.

A checkpoint file is loaded with `models.transfer_weights` into the model as built (e.g. an original torchvision
ResNet-50's ImageNet weights into `torchvision:resnet50` with `pool="lift"`): every tensor whose name and shape
match is loaded, the new pools keep their identity-like initialisation (LiftPool: zero 1x1 weights), a head of
another size stays initialised; the `TransferReport` says which is which. Published weights (`DEFAULT`, a tag)
load as `models.create_model` loads them. A segmentation model's encoder can start from a classification
checkpoint instead (`encoder_weights`: torchvision's VGG-16-BN for SegNet, a ResNet of the same pooling for
DeepLabV3+), loaded strictly by the model's `load_encoder`.
"""

from dataclasses import asdict
from pathlib import Path
from typing import Any

from torch import nn

from robustbench_lift.errors import UsageError
from robustbench_lift.models import create_model, read_checkpoint
from robustbench_lift.models.transfer import TransferReport, transfer_weights


def initial_model(model: str, weights: str | Path | None, num_classes: int, *, seed: int, pool: str | None,
                  options: dict[str, Any], encoder_weights: str | Path | None = None,
                  ) -> tuple[nn.Module, TransferReport | None]:
    """`(module, transfer report or None)` of `model` (any `create_model` source) with `num_classes` outputs;
    `options` are its pooling options (zoo) or builder arguments (other sources). `UsageError` when nothing of a
    checkpoint fits the model, or the encoder checkpoint does not fit the encoder."""
    if encoder_weights is not None:
        if weights is not None:
            raise UsageError("give --weights (the whole model) or --encoder-weights (its encoder), not both")
        module = create_model(model, num_classes=num_classes, seed=seed, pool=pool, **options)
        if not hasattr(module, "load_encoder"):
            raise UsageError(f"--encoder-weights is for segmentation models with a classification encoder "
                             f"(segnet_*, deeplabv3plus_*); {module.liftbench_meta['model']} has none: use --weights")
        module.load_encoder(read_checkpoint(encoder_weights)[0])
        module.liftbench_meta = {**module.liftbench_meta, "encoder_weights": Path(encoder_weights).name}
        return module, None
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
