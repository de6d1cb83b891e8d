"""Training recipes: SGD with momentum, a per-step cosine or poly schedule after a linear warm-up, label smoothing,
augmentation and the LiftPool constraint weights, with defaults per data set (sources: `docs/protocols.md`).

    >>> from robustbench_lift.training.recipe import recipe_for
    >>> recipe = recipe_for("demo").override(epochs=5)
    >>> recipe.epochs, recipe.lr, recipe.schedule
    (5, 0.1, 'cosine')
"""

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from robustbench_lift.errors import UsageError
from robustbench_lift.pooling.constraints import DEFAULT_LAMBDA_P, DEFAULT_LAMBDA_U

AUGMENTATIONS = ("crop_flip", "resized_crop_flip", "scale_crop_flip", "none")
"""`crop_flip`: random 32x32-style crops of the image zero-padded by `crop_padding`, and horizontal flips (CIFAR,
batched on the device; masks with their images); `resized_crop_flip`: torchvision's RandomResizedCrop(224) and
flips (ImageNet, per image in the loader workers); `scale_crop_flip`: segmentation folders, image and mask scaled by
a factor in [`min_scale`, `max_scale`], padded to and cropped at `crop_size`, flipped (DeepLab's, per image in the
loader workers, `training.segmentation.SegmentationTrain`); `none`."""
SCHEDULES = ("cosine", "poly")
"""After the warm-up, per step: `cosine` decay to zero, or `poly`: `(1 - t) ** poly_power` of the fraction `t` of
the remaining steps done (DeepLab's, and torchvision's segmentation reference)."""


@dataclass(frozen=True)
class Recipe:
    """How to train: every value that changes the result (device and precision aside).

    `batch_size` is the global batch of one optimizer step, split evenly over the ranks of a distributed run, so a
    recipe means the same on any number of GPUs. `warmup_epochs` of linear warm-up (may be fractional), then the
    `schedule` (`SCHEDULES`), both per step. `lambda_u`, `lambda_p` weigh LiftPool's constraints
    (`pooling.lifting_loss`). Fields added later default to the behaviour before them, so `from_dict` reads the
    recipe of any earlier checkpoint.
    """

    epochs: int = 200
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    warmup_epochs: float = 0.0
    augment: str = "crop_flip"
    crop_padding: int = 4
    crop_size: int = 224
    lambda_u: float = DEFAULT_LAMBDA_U
    lambda_p: float = DEFAULT_LAMBDA_P
    seed: int = 0
    schedule: str = "cosine"
    poly_power: float = 0.9
    min_scale: float = 0.5
    max_scale: float = 2.0

    def __post_init__(self) -> None:
        checks = [("epochs", self.epochs >= 1, ">= 1"), ("batch_size", self.batch_size >= 1, ">= 1"),
                  ("lr", self.lr > 0, "> 0"), ("momentum", 0 <= self.momentum < 1, "in [0, 1)"),
                  ("weight_decay", self.weight_decay >= 0, ">= 0"),
                  ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
                  ("warmup_epochs", 0 <= self.warmup_epochs <= self.epochs, "in [0, epochs]"),
                  ("augment", self.augment in AUGMENTATIONS, f"one of {', '.join(AUGMENTATIONS)}"),
                  ("crop_padding", self.crop_padding >= 0, ">= 0"), ("crop_size", self.crop_size >= 1, ">= 1"),
                  ("lambda_u", self.lambda_u >= 0, ">= 0"), ("lambda_p", self.lambda_p >= 0, ">= 0"),
                  ("seed", self.seed >= 0, ">= 0"),
                  ("schedule", self.schedule in SCHEDULES, f"one of {', '.join(SCHEDULES)}"),
                  ("poly_power", self.poly_power > 0, "> 0"), ("min_scale", self.min_scale > 0, "> 0"),
                  ("max_scale", self.max_scale >= self.min_scale, ">= min_scale")]
        checks += [(f.name, math.isfinite(getattr(self, f.name)), "a finite number") for f in dataclasses.fields(self)
                   if isinstance(getattr(self, f.name), float)]
        for name, ok, expected in checks:
            if not ok:
                raise UsageError(f"recipe {name}={getattr(self, name)!r}: expected {expected}")

    def override(self, **values: Any) -> "Recipe":
        """A copy with the given fields replaced; None values keep the current one (unset CLI options)."""
        _check_fields(values)
        return dataclasses.replace(self, **{k: v for k, v in values.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Recipe":
        """The recipe `to_dict` wrote, also by an earlier version (its missing fields take their defaults)."""
        _check_fields(values, ": written by a newer liftbench?")
        return cls(**values)

    def lr_factor(self, step: int, steps_per_epoch: int) -> float:
        """Multiplier of `lr` for optimizer step `step` (0-based, counted over the whole run)."""
        warmup = round(self.warmup_epochs * steps_per_epoch)
        if step < warmup:
            return (step + 1) / warmup
        done = (step - warmup) / max(1, self.epochs * steps_per_epoch - warmup)
        if self.schedule == "poly":
            return max(0.0, 1 - done) ** self.poly_power
        return 0.5 * (1 + math.cos(math.pi * done))


def _check_fields(values: dict[str, Any], hint: str = "") -> None:
    """A `UsageError` naming the keys of `values` that are no `Recipe` field, followed by `hint`."""
    unknown = set(values) - {f.name for f in dataclasses.fields(Recipe)}
    if unknown:
        raise UsageError(f"unknown recipe field(s) {', '.join(sorted(unknown))}{hint}")


RECIPES = {
    # kuangliu/pytorch-cifar and most CIFAR ResNet papers: 200 epochs, no label smoothing.
    "cifar": Recipe(),
    # torchvision references/classification (ResNet: 90 epochs, 8 GPUs x 32 = 256 images per step, lr 0.1,
    # wd 1e-4), with the cosine schedule and label smoothing 0.1 of its later recipes instead of step decay.
    "imagenet": Recipe(epochs=90, batch_size=256, weight_decay=1e-4, label_smoothing=0.1,
                       augment="resized_crop_flip"),
    # A small 32x32 net to high accuracy on the procedural demo set in minutes on a CPU.
    "demo": Recipe(epochs=15, label_smoothing=0.1, warmup_epochs=1),
    # The demo SegNet on the demo masks: per-pixel cross-entropy, no label smoothing (the shipped weights' recipe).
    "demo_seg": Recipe(epochs=60, batch_size=32, lr=0.1, warmup_epochs=1),
    # DeepLabV3/V3+ on PASCAL VOC 2012: batch 16, lr 0.007, poly 0.9, random scale 0.5-2 then 513x513 crops and
    # flips; weight decay 1e-4 of torchvision's segmentation reference. 45 epochs: 30K steps on the 10,582
    # train_aug images.
    "voc": Recipe(epochs=45, batch_size=16, lr=0.007, weight_decay=1e-4, augment="scale_crop_flip", crop_size=513,
                  schedule="poly"),
    # Cityscapes (mmsegmentation's DeepLabV3+ schedule): batch 8, lr 0.01, wd 5e-4, poly 0.9, 80K steps (215
    # epochs of the 2,975 train images), scale 0.5-2, 768x768 crops (DeepLabV3 used 769).
    "cityscapes": Recipe(epochs=215, batch_size=8, lr=0.01, weight_decay=5e-4, augment="scale_crop_flip",
                         crop_size=768, schedule="poly"),
    # ADE20K (mmsegmentation's DeepLabV3+ 512x512 80K schedule): batch 16, lr 0.01, wd 5e-4, poly 0.9, 80K steps
    # (63 epochs of the 20,210 training images), scale 0.5-2, 512 x 512 crops.
    "ade20k": Recipe(epochs=63, batch_size=16, lr=0.01, weight_decay=5e-4, augment="scale_crop_flip", crop_size=512,
                     schedule="poly"),
    # Any images/ + masks/ folder: the VOC recipe.
    "segmentation": Recipe(epochs=45, batch_size=16, lr=0.007, weight_decay=1e-4, augment="scale_crop_flip",
                           crop_size=513, schedule="poly"),
}


def recipe_for(kind: str) -> Recipe:
    """The default recipe of a data set kind: `cifar`, `imagenet`, `demo`, `demo_seg`, `voc`, `cityscapes`,
    `ade20k` or `segmentation` (an images/ + masks/ folder)."""
    if kind not in RECIPES:
        raise UsageError(f"no recipe for data set kind {kind!r}: expected one of {', '.join(RECIPES)}")
    return RECIPES[kind]
