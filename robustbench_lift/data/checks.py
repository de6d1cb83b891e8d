"""Checks of data against itself and against the model: content identity, partial cells, labels, image size.

- `content_digest`: identity of a set of files by content, cheaply: every file's size, the bytes of a few
  evenly spaced files, and every byte of each file of a fixed-size format. A copied tree keeps it
  (modification times would not survive `cp`); replaced files change it: a new JPEG, PNG or video almost
  never has the old size (a sampled file catches most of the rest), while a BMP, PPM or uncompressed TIFF of
  the same dimensions always has it, so those are hashed whole.
- `odd_cells`: cells whose image count differs from the most common count (a partial download or render).
- `check_labels`, `check_image_size`: what the engine checks before evaluating a data set with a model.
"""

import hashlib
import warnings
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from robustbench_lift.errors import UsageError

CONTENT_SAMPLE = 8
"""Files per set whose bytes enter `content_digest` (besides every file's size)."""
SAMPLED_FORMATS = frozenset({".jpeg", ".jpg", ".png", ".webp", ".mp4", ".mkv", ".webm"})
"""Entropy-coded formats, whose file size changes with the content: `content_digest` reads the bytes of a sample
of them only. Files of any other ending (BMP, PPM/PGM, TIFF, AVI, ...) are hashed whole."""
SIZE_ERROR_RATIO = 4
"""Images this many times larger than the model's input are an error (a 224 px tree given to a 32 px model);
any smaller mismatch is a warning (e.g. 64 px Tiny-ImageNet-C for a zoo model whose spec says 224)."""


def sample_positions(total: int, count: int = CONTENT_SAMPLE) -> list[int]:
    """`count` evenly spaced positions in `range(total)` (all when `total <= count`)."""
    return sorted({int(i) for i in np.linspace(0, total - 1, min(total, count))}) if total else []


def file_sha256(path: Path) -> bytes:
    """sha256 digest of a file's bytes, read in blocks (files may be large)."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").digest()


def content_digest(root: Path, relative_paths: Sequence[str]) -> str:
    """sha256 over `relative path, size` of every file, the bytes of `CONTENT_SAMPLE` evenly spaced files, then
    the bytes of every file outside `SAMPLED_FORMATS` (nothing more when all are JPEG/PNG: the digest of such a
    set is what it was before fixed-size formats were hashed whole, so stored cells stay valid)."""
    digest = hashlib.sha256()
    for relative in relative_paths:
        digest.update(f"{relative}\t{(root / relative).stat().st_size}\n".encode())
    for position in sample_positions(len(relative_paths)):
        digest.update(file_sha256(root / relative_paths[position]))
    for relative in relative_paths:
        if Path(relative).suffix.lower() not in SAMPLED_FORMATS:
            digest.update(file_sha256(root / relative))
    return digest.hexdigest()


def odd_cells(counts: Mapping[Hashable, int]) -> list[str]:
    """One message per cell whose count differs from the most common count of `counts` (`{cell: images}`)."""
    if len(counts) < 2:
        return []
    usual, cells = Counter(counts.values()).most_common(1)[0]
    return [f"{_name(cell)} has {count} images where {cells} other cell(s) have {usual}"
            for cell, count in counts.items() if count != usual]


def _name(cell: Hashable) -> str:
    return "/".join(map(str, cell)) if isinstance(cell, tuple) else str(cell)


def dataset_labels(dataset: Dataset) -> np.ndarray:
    """int64 `(N,)` labels of a data set of this package (`labels`, or the `(path, label)` `samples`)."""
    labels = getattr(dataset, "labels", None)
    if labels is None:
        labels = [label for _, label in getattr(dataset, "samples", [])]
    return np.asarray(labels, dtype=np.int64).reshape(-1)


def check_labels(dataset: Dataset, num_classes: int, where: str) -> None:
    """`UsageError` when a label of `dataset` is outside `0..num_classes - 1`, the classes of the model's head
    (the model would be scored wrong on every such image, silently)."""
    labels = dataset_labels(dataset)
    if not len(labels):
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        outside = int(((labels < 0) | (labels >= num_classes)).sum())
        raise UsageError(f"{where}: labels {low}..{high} ({outside} of {len(labels)} images outside the model's "
                         f"{num_classes} classes 0..{num_classes - 1}): the data's classes do not match the model; "
                         "give a --class-map that maps the class folders to the model's indices, or a model "
                         f"with {high + 1} classes (--num-classes)")


def check_image_size(images: Dataset | tuple[int, int], input_size: int | None, where: str) -> None:
    """Compare what the model sees, the first image of a data set (items `(index, uint8 ([T,] 3, H, W), label)`)
    or a `(height, width)` (e.g. the shift suite's crop window), with the model's square input side `input_size`
    (None: unknown, nothing checked): `UsageError` when the image is `SIZE_ERROR_RATIO` times larger or more, a
    `UserWarning` for any other difference."""
    if input_size is None or (not isinstance(images, tuple) and not len(images)):
        return
    height, width = images if isinstance(images, tuple) else (int(v) for v in images[0][1].shape[-2:])
    if (height, width) == (input_size, input_size):
        return
    message = (f"{where}: images are {height}x{width} but the model takes {input_size}x{input_size} inputs; "
               "evaluate data made at the model's size (clean folders: --resize/--crop)")
    if max(height, width) >= SIZE_ERROR_RATIO * input_size:
        raise UsageError(message)
    warnings.warn(message, UserWarning, stacklevel=2)
