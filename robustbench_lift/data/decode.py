"""The one guarded reader of image and mask files: decode to 8-bit RGB or to label values, or fail with an error
naming the file.

Pillow opens 16-bit grayscale PNGs as mode `I;16`, and `convert("RGB")` clips those values to 255: every pixel
above 255 of 65535 turns white. They are scaled to 8 bits here as Pillow scales 16-bit RGB PNGs (the high
byte, `v >> 8`). 32-bit integer and float images have no agreed 8-bit scale and are refused. Images larger than
Pillow's decompression-bomb limit (`PIL.Image.MAX_IMAGE_PIXELS`) and damaged files are errors naming the file.
Masks (`open_labels`) keep their values, 8 or 16 bits, for the caller to check against its classes.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from robustbench_lift.errors import LiftbenchError, UsageError

SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
LABEL_MODES = frozenset({"P", "L", "I"}) | SIXTEEN_BIT_MODES
"""Pillow modes of single-channel (palette, 8-, 16- or 32-bit) images: what a mask of label values may be."""


@contextmanager
def open_image(path: str | Path, what: str = "image") -> Iterator[Image.Image]:
    """`PIL.Image.open(path)` in which an oversized or damaged file (while opening or decoding in the block) is a
    `LiftbenchError` naming `what` and the file; errors of this package raised in the block pass unchanged."""
    try:
        with Image.open(path) as opened:
            yield opened
    except LiftbenchError:
        raise
    except Image.DecompressionBombError as exc:
        raise LiftbenchError(f"{what} {path} is too large to decode safely ({exc}); if it is genuine, raise "
                             "PIL.Image.MAX_IMAGE_PIXELS, else replace the file") from None
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow reports damaged files with any of these
        raise LiftbenchError(f"cannot decode {what} {path}: {exc}") from exc


def image_size(path: str | Path) -> tuple[int, int]:
    """`(height, width)` of an image file from its header (`open_image`'s guards)."""
    with open_image(path) as opened:
        return opened.height, opened.width


def to_rgb8(image: Image.Image, path: str | Path) -> Image.Image:
    """`image` as 8-bit RGB: 16-bit grayscale scaled by 1/256, other modes by Pillow's `convert("RGB")`."""
    if image.mode in SIXTEEN_BIT_MODES:
        return Image.fromarray((np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8), "L").convert("RGB")
    if image.mode in ("I", "F"):
        raise LiftbenchError(f"image {path} is a 32-bit {'integer' if image.mode == 'I' else 'float'} image "
                             f"(Pillow mode {image.mode}), which has no standard 8-bit scale: convert it to an 8-bit "
                             "RGB (or 16-bit PNG) file")
    return image.convert("RGB")


def open_rgb(path: str | Path) -> Image.Image:
    """The image file `path` decoded to an 8-bit RGB `PIL.Image` (see the module docstring)."""
    with open_image(path) as opened:
        return to_rgb8(opened, path)


def open_labels(path: str | Path) -> np.ndarray:
    """The values of a single-channel mask file `path` (`LABEL_MODES`), `(H, W)` of its own integer dtype (uint8,
    uint16 or int32); a `UsageError` for any other mode (an RGB mask)."""
    with open_image(path, "mask") as opened:
        if opened.mode not in LABEL_MODES:
            raise UsageError(f"mask {path} is a {opened.mode} image: expected a palette or single-channel PNG of "
                             "class indices")
        return np.asarray(opened)
