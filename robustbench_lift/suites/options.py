"""Typed options of the suites: one frozen dataclass per suite, sharing the data options of `SuiteOptions`.

    >>> from robustbench_lift.engine import RunOptions, evaluate
    >>> cells = evaluate("demo-lift", CorruptionOptions(corruptions=["fog"], severities=[1, 3], preset="cifar"),
    ...                  "demo", run=RunOptions(limit=100, progress=False))
    >>> cells[["corruption", "severity", "n"]].values.tolist()
    [['clean', 0, 100], ['fog', 1, 100], ['fog', 3, 100]]

`None` means the suite's default (documented per field). `options_for(suite, **flat)` builds a suite's options
from keyword arguments, refusing a keyword the suite does not take.
"""

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from robustbench_lift.errors import UsageError

MODEL = "model"
"""`resize` / `crop` value meaning "the model's own" (`at_model_size`)."""


@dataclass(frozen=True)
class SuiteOptions:
    """Options every suite takes: how clean images are read and what the data set is called in the store.

    `dataset`: store name (default: the data folder's name, `-otf` added for on-the-fly corruption);
    `class_map`: JSON/text file or dict class folder -> index, or "16-class" (model-vs-human's categories of a
    1000-class ImageNet model, `data.sixteen_class`); `resize`/`crop`: clean images' shorter side and
    centre crop (`None`: keep; `MODEL`, the default: the model's own preprocessing, `at_model_size`: the zoo's
    ImageNet models 256/224, a timm model its pretrained config, e.g. 329/288) and the resize's `interpolation`
    ("bilinear", "bicubic", ...; `MODEL`: the model's), timm's `crop_mode` ("center", "squash", "border";
    `models.preprocess.CROP_MODES`; `MODEL`: the model's, else center) and the `border_fill` (uint8 RGB) of
    "border" (default: the model's `round(255 * mean)`). Generated inputs (corruptions, perturbations, shifts) are
    made from these images, so at the model's size.
    """

    dataset: str | None = None
    class_map: str | Path | dict[str, int] | None = None
    resize: int | str | None = MODEL
    crop: int | str | None = MODEL
    interpolation: str = MODEL
    crop_mode: str = MODEL
    border_fill: Sequence[int] | None = None


@dataclass(frozen=True)
class CleanOptions(SuiteOptions):
    """Suite `clean`: top-1/top-5 error on clean images."""


@dataclass(frozen=True)
class CorruptionFields(SuiteOptions):
    """The corruption options of suites `c` and `seg`: `corruptions` (names or subsets, default the 15 common),
    `severities` (default 1-5), the `clean` counterpart of a pre-rendered tree, the on-the-fly `backend` and
    severity `preset` ("imagenet" or "cifar"), and the `jpeg_quality` (1-95) each on-the-fly corrupted image is
    saved at and read back, as the released ImageNet-C's were at 85 (None, the default: not saved)."""

    clean: str | Path | None = None
    corruptions: Sequence[str] | None = None
    severities: Sequence[int] | None = None
    backend: str = "auto"
    preset: str | None = None
    jpeg_quality: int | None = None


@dataclass(frozen=True)
class CorruptionOptions(CorruptionFields):
    """Suite `c`: the `CorruptionFields`, the `severity_scaling` of pixel constants at other sizes than the
    preset's ("none", the default, or "area"; `suites.scaling`), and the `clean_protocol` of a released tree's
    clean counterpart ("model", the default: the model's own preprocessing, e.g. Resize 232 for torchvision's V2
    weights; "release": ImageNet-C's test.py, Resize 256 + CenterCrop 224 bilinear, whose clean error relative
    mCE was published with)."""

    severity_scaling: str | None = None
    clean_protocol: str | None = None


@dataclass(frozen=True)
class PerturbationOptions(SuiteOptions):
    """Suite `p`: `perturbations` (default the 10 test ones; with preset "cifar" the 10 of cifar-p-eval.py,
    subset "cifar"), `difficulties` (default 1; 1-3 for every perturbation, as ImageNet-P/test.py), the FR/T5D
    `p_baseline` (a CSV or a results store of one model's p cells) and the on-the-fly `preset` ("imagenet":
    make_imagenet_p.py; "cifar": make_cifar_p.py; default: the data set's own, `suites.protocol`: cifar for the
    demo and CIFAR pickles, else imagenet)."""

    perturbations: Sequence[str] | None = None
    difficulties: Sequence[int] | None = None
    p_baseline: Any = None
    preset: str | None = None


@dataclass(frozen=True)
class ShiftOptions(SuiteOptions):
    """Suite `shift`: `shift_mode` ("crop" or "circular", default crop), crop `pairs` per image (default 5) and
    `max_shift` (default input // 8)."""

    shift_mode: str | None = None
    pairs: int | None = None
    max_shift: int | None = None


@dataclass(frozen=True)
class OODOptions(SuiteOptions):
    """Suite `ood`: the natural-shift set's `ood_set` (`data.ood.OOD_SETS`; default: recognised from its folders),
    an ObjectNet-style `ood_class_map` (JSON `{folder: [ImageNet-1k indices]}`, set "mapped") and the ImageNet
    validation folder `clean` whose cell is the in-distribution accuracy of effective robustness."""

    ood_set: str | None = None
    ood_class_map: str | Path | None = None
    clean: str | Path | None = None


@dataclass(frozen=True)
class FreqOptions(SuiteOptions):
    """Suite `freq` (Fourier heat map, Yin et al. 2019): the perturbation's l2 norm `eps` per channel, images in
    [0, 1] (default 4 for inputs of at most 32 px, the paper's CIFAR-10 value, else 15.7, its ImageNet one), the
    side `freq_window` of the central square of frequencies (default the whole spectrum up to 63 px, the central
    63 x 63 above), `freq_step` (keep offsets that are multiples of it: a coarser grid; default 1) and `sites`:
    after the cells, also measure the per-site sensitivity into the store's `freq_sites` table
    (`engine.freq_sites.measure_sites`; default off)."""

    eps: float | None = None
    freq_window: int | None = None
    freq_step: int | None = None
    sites: bool = False


@dataclass(frozen=True)
class SegmentationOptions(CorruptionFields):
    """Suite `seg`: the `CorruptionFields` of suite `c` (its images keep their own size, so neither
    `severity_scaling` nor `resize`/`crop` apply), the data set's `split` (VOC's
    `ImageSets/Segmentation/<split>.txt`, Cityscapes' folder; default val) and the mCD `seg_baseline` (a results
    store of one model's seg cells, `<store>#<model>` if it holds several)."""

    split: str | None = None
    seg_baseline: str | Path | None = None


def field_names(cls: type) -> set[str]:
    """The field names of a dataclass."""
    return {f.name for f in fields(cls)}


def options_for(cls: type[SuiteOptions], suite: str, **flat: Any) -> SuiteOptions:
    """`cls(**flat)`; a keyword `cls` does not take is a `UsageError` naming `suite`, unless its value is `None`
    (an option left unset, e.g. by the CLI)."""
    given = {k: v for k, v in flat.items() if v is not None or k in field_names(cls)}
    unknown = sorted(set(given) - field_names(cls))
    if unknown:
        raise UsageError(f"suite {suite!r} does not take {', '.join(unknown)}")
    return cls(**given)


def at_model_size(options: SuiteOptions, input_size: int | None = None, resize: int | None = None,
                  interpolation: str | None = None, crop_mode: str | None = None,
                  border_fill: Sequence[int] | None = None) -> SuiteOptions:
    """`options` with each `MODEL` value replaced by the model's (`models.Preprocess`): `crop` by `input_size`,
    `resize` by `resize`, `interpolation` by `interpolation`, `crop_mode` by `crop_mode`, and an unset
    `border_fill` by `border_fill`; without a model's (an `nn.Module`), ImageNet's protocol: 256/224, bilinear,
    center (border fill: ImageNet's mean)."""
    from robustbench_lift.data.imagefolder import CLEAN_CROP, CLEAN_RESIZE
    from robustbench_lift.models.preprocess import border_fill as mean_fill
    from robustbench_lift.models.spec import IMAGENET_MEAN

    sizes = {"resize": resize or CLEAN_RESIZE, "crop": input_size or CLEAN_CROP,
             "interpolation": interpolation or "bilinear", "crop_mode": crop_mode or "center"}
    fill = options.border_fill or border_fill or mean_fill(IMAGENET_MEAN)
    return replace(options, border_fill=tuple(fill),
                   **{k: v for k, v in sizes.items() if getattr(options, k) == MODEL})


def reading(options: SuiteOptions) -> dict[str, Any]:
    """The keywords of `data.open_clean` besides the sizes: `interpolation`, `crop_mode`, `fill` (resolved
    `options`, `at_model_size`)."""
    return {"interpolation": options.interpolation, "crop_mode": options.crop_mode,
            "fill": tuple(options.border_fill or (0, 0, 0))}
