"""Severity presets: the per-severity constants a corruption uses.

- `"imagenet"` (default): those of imagecorruptions, i.e. of `make_imagenet_c.py` (hendrycks/robustness), for
  ImageNet-sized images.
- `"cifar"`: those of `make_cifar_c.py`, which generated CIFAR-10-C (and CIFAR-100-C): milder, for 32 x 32 images.
  It also keeps that script's operations where they differ from imagecorruptions': pixelate upsamples with BOX,
  frost crops a picture scaled by 0.2 (for 32 px images), elastic_transform is an affine warp followed by an
  elastic one. Torch backend only (imagecorruptions has the ImageNet constants alone).

Numbers from either preset, generated on the fly, are "ImageNet-C style" / "CIFAR-10-C style", not the released
data sets.
"""

from robustbench_lift.errors import UsageError

PRESETS = ("imagenet", "cifar")
# make_cifar_c.py writes 32 x 32 images; its size-dependent constants are scaled from this side.
CIFAR_SIDE = 32


def check_preset(preset: str) -> str:
    """Return `preset` if it is one of `PRESETS`, else raise UsageError."""
    if preset not in PRESETS:
        raise UsageError(f"unknown severity preset {preset!r}: expected one of {', '.join(PRESETS)} "
                         "(imagenet: ImageNet-C constants; cifar: CIFAR-10-C constants, for 32 px images)")
    return preset
