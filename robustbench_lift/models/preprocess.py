"""How images reach a model: resize, centre crop, interpolation, normalisation, read from the model's own config.

Sources of each config:
- zoo models: the benchmark protocol of ImageNet-C (Hendrycks & Dietterich 2019): resize the shorter side to 256,
  centre-crop 224, bilinear; CIFAR forms take their 32 px images as they are. Mean and std from the weights.
- torchvision: the weights enum's `transforms()` (`ImageClassification`: `resize_size`, `crop_size`,
  `interpolation`, `mean`, `std`), of the weights used, or of the architecture's DEFAULT weights for a random or
  file-loaded model (the size the architecture was trained at).
- timm: `timm.data.resolve_model_data_config(model)` (the pretrained config: `input_size`, `crop_pct`,
  `crop_mode`, `interpolation`, `mean`, `std`); the resize is `floor(input_size / crop_pct)`, as timm's eval
  transform computes it (`timm.data.transforms_factory.transforms_imagenet_eval`), and so are the crop modes
  (`CROP_MODES`; 131 of timm 1.0.31's pretrained configs squash, e.g. every `convnext*_384` fine-tune, 6 border).
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from robustbench_lift.errors import UsageError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Input normalisation of torchvision's and antialiased-cnns' ImageNet weights (torchvision `ImageClassification`)."""
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos")
CROP_MODES = ("center", "squash", "border")
"""timm's eval crop modes: "center" resizes the shorter side to `resize` and centre-crops; "squash" resizes both
sides to `resize` (aspect ratio not kept) and centre-crops; "border" resizes the longer side to `resize` and
centre-crops or pads with the mean colour (`Preprocess.border_fill`) to `input_size`."""
IMAGENET_RESIZE = 256
"""Shorter side before the 224 centre crop in ImageNet-C's protocol (crop fraction 0.875)."""


@dataclass(frozen=True)
class Preprocess:
    """Resize the shorter side to `resize` (`interpolation`; other `crop_mode`s: `CROP_MODES`), centre-crop
    `input_size` x `input_size`, scale to [0, 1] and normalise with `mean`, `std` (RGB).

    `crop_fraction` is `input_size / resize` (timm's `crop_pct`).
    """

    input_size: int
    resize: int
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    crop_mode: str = "center"

    def __post_init__(self) -> None:
        if not 0 < self.input_size <= self.resize:
            raise UsageError(f"preprocessing needs 0 < input_size <= resize, got {self.input_size}, {self.resize}")
        if self.interpolation not in INTERPOLATIONS:
            raise UsageError(f"interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise UsageError(f"mean and std need 3 values each, std > 0; got {self.mean}, {self.std}")
        if self.crop_mode not in CROP_MODES:
            raise UsageError(f"crop mode must be one of {CROP_MODES}, got {self.crop_mode!r}")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @property
    def crop_fraction(self) -> float:
        return self.input_size / self.resize

    @property
    def border_fill(self) -> tuple[int, int, int]:
        """uint8 RGB pad colour of crop mode "border": `round(255 * mean)`, timm's."""
        return border_fill(self.mean)

    def as_meta(self) -> dict[str, Any]:
        """Plain fields plus `crop_fraction`, for a model's metadata."""
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std), "crop_fraction": self.crop_fraction}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> "Preprocess":
        """The preprocessing `as_meta` (or `resolve_model`'s meta) records."""
        return cls(int(meta["input_size"]), int(meta["resize"]), meta["interpolation"], tuple(meta["mean"]),
                   tuple(meta["std"]), meta.get("crop_mode", "center"))  # metadata written before crop modes: center


def border_fill(mean: Sequence[float]) -> tuple[int, int, int]:
    """uint8 RGB pad colour of crop mode "border" for normalisation `mean`: `round(255 * mean)` (timm's
    `transforms_imagenet_eval`)."""
    return tuple(round(255 * v) for v in mean)


def default_resize(input_size: int) -> int:
    """ImageNet-C's resize scaled to `input_size`: `round(input_size * 256 / 224)` (crop fraction 0.875; 256 at
    224, 329 at 288); 32 px CIFAR images unresized."""
    return input_size if input_size <= 32 else round(input_size * IMAGENET_RESIZE / 224)


def for_size(input_size: int, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> Preprocess:
    """ImageNet-C's protocol scaled to `input_size` (`default_resize`); ImageNet normalisation unless given."""
    return Preprocess(input_size, default_resize(input_size), "bilinear", tuple(mean or IMAGENET_MEAN),
                      tuple(std or IMAGENET_STD))


def from_torchvision(weights: Any) -> Preprocess:
    """The preprocessing of a torchvision weights enum member (`ResNet50_Weights.IMAGENET1K_V2`)."""
    transform = weights.transforms()
    return Preprocess(transform.crop_size[0], transform.resize_size[0], transform.interpolation.value,
                      tuple(transform.mean), tuple(transform.std))


def from_timm(model: nn.Module, test_size: bool = False) -> Preprocess:
    """The preprocessing of a timm model's pretrained config (square inputs only); with `test_size`, the config's
    `test_input_size` and `test_crop_pct` where it has them: what timm's `validate.py` evaluates by default
    (`use_test_size`), so what its published accuracy tables report."""
    import timm.data

    config = timm.data.resolve_model_data_config(model, use_test_size=test_size)
    _, height, width = config["input_size"]
    if height != width:
        raise UsageError(f"{type(model).__name__} expects a {height}x{width} input: only square inputs are supported")
    return Preprocess(height, math.floor(height / config["crop_pct"]), config["interpolation"],
                      tuple(config["mean"]), tuple(config["std"]), config.get("crop_mode") or "center")
