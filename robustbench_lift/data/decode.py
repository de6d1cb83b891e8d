"""Decode one image file to 8-bit RGB, or fail with an error naming the file.

Pillow opens 16-bit grayscale PNGs as mode `I;16`, and `convert("RGB")` clips those values to 255: every pixel
above 255 of 65535 turns white. They are scaled to 8 bits here as Pillow scales 16-bit RGB PNGs (the high
byte, `v >> 8`). 32-bit integer and float images have no agreed 8-bit scale and are refused. Images larger than
Pillow's decompression-bomb limit (`PIL.Image.MAX_IMAGE_PIXELS`) and damaged files are errors naming the file.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from robustbench_lift.errors import LiftbenchError

SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


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
    try:
        with Image.open(path) as opened:
            return to_rgb8(opened, path)
    except Image.DecompressionBombError as exc:
        raise LiftbenchError(f"image {path} is too large to decode safely ({exc}); if it is genuine, raise "
                             "PIL.Image.MAX_IMAGE_PIXELS, else replace the file") from None
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow reports damaged files with any of these
        raise LiftbenchError(f"cannot decode image {path}: {exc}") from exc
