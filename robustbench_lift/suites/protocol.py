"""The data set's own protocol: the severity constants (`corruptions.presets`) of its on-the-fly cells.

A data set made for a benchmark's constants declares them: the demo set, CIFAR's test pickles and the CIFAR-C
arrays are 32 px CIFAR-style images (`PRESET` of `data.demo`, `data.cifar`), so their cells default to CIFAR-10-C's
(CIFAR-10-P's for suite `p`) constants; image folders and segmentation sets declare none and default to
ImageNet-C's. An explicit `preset` always wins. The resolved preset is what suites record (the `preset` entry of
on-the-fly fingerprints, absent for "imagenet" as before, and the data set name's `-otf-<preset>`), so
`--data demo` alone gives the cells of `--data demo --preset cifar`. Images far from the size the constants were
set for (`FAR_SIZE_RATIO`) are evaluated as asked, with one warning naming the options that fit them.
"""

import math
import warnings

from corruptions.presets import check_preset
from robustbench_lift.data import cifar, demo
from robustbench_lift.suites.scaling import REFERENCE_SIDE

DEFAULT_PRESET = "imagenet"
"""The preset of data sets that declare none (ImageNet-C's constants, for 224 px images)."""
DECLARED = {"demo": demo.PRESET, "cifar-test": cifar.PRESET, "cifar-c": cifar.PRESET}
"""`data.detect_layout` result -> the preset its data set declares."""
FAR_SIZE_RATIO = 2
"""Images whose side differs from the preset's `REFERENCE_SIDE` by more than this factor (either way) get the
warning: 32 px demo images under ImageNet constants (7x) do, a 288 px timm crop (1.3x) or a 375 x 500 VOC image
(1.9x) do not."""


def resolve_preset(explicit: str | None, layout: str | None) -> str:
    """`explicit` if given, else the preset the data set of `layout` declares, else `DEFAULT_PRESET`."""
    return check_preset(explicit or DECLARED.get(layout or "") or DEFAULT_PRESET)


def warn_far_size(where: str, side: int, preset: str, scaling: str | None = "none") -> None:
    """One `UserWarning` line when `side` px images get `preset`'s constants at a far size unscaled, naming what
    fits them: the other preset if its size is nearer, `--severity-scaling area` unless `scaling` is None (suites
    without severity scaling). Nothing to name (e.g. 1024 px images in suite `p`): no warning."""
    reference = REFERENCE_SIDE[preset]
    if scaling not in (None, "none") or max(side / reference, reference / side) <= FAR_SIZE_RATIO:
        return
    other = next(name for name in REFERENCE_SIDE if name != preset)
    fixes = [f"--preset {other} ({REFERENCE_SIDE[other]} px)"] if \
        abs(math.log(side / REFERENCE_SIDE[other])) < abs(math.log(side / reference)) else []
    fixes += [] if scaling is None else ["--severity-scaling area"]
    if fixes:
        warnings.warn(f"{where}: {side} px images with the {preset} preset's constants, set for {reference} px "
                      f"images, unscaled: the severities are not {preset}'s; pass {' or '.join(fixes)}",
                      UserWarning, stacklevel=3)
