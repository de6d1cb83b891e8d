"""Segmentation data: PASCAL VOC 2012, Cityscapes and generic `images/` + `masks/` folders.

Items are `(index, uint8 image (3, H, W), uint8 mask (H, W))`, masks holding class indices and `IGNORE_INDEX`
(255) for pixels no metric counts. Layouts (`segmentation_layout` tells which one a folder has):

- `voc`: PASCAL VOC 2012 (`VOCdevkit/VOC2012` or a parent of it): `JPEGImages/<id>.jpg`,
  `SegmentationClass/<id>.png` (palette PNGs whose indices are the 21 classes, 255 the void border) and the ids
  of `ImageSets/Segmentation/<split>.txt` (val: 1,449 images); split `train_aug` reads its masks from
  `SegmentationClassAug/` (`VOC_AUGMENTED`);
- `cityscapes`: `leftImg8bit/<split>/<city>/<name>_leftImg8bit.png` with
  `gtFine/<split>/<city>/<name>_gtFine_labelIds.png`, the 34 label ids mapped to the 19 training ids
  (`CITYSCAPES_TRAIN_IDS`), every other id to 255;
- `ade20k`: ADE20K SceneParsing (`ADEChallengeData2016` or its parent): `images/<split>/<stem>.jpg` with
  `annotations/<split>/<stem>.png`, splits `training` and `validation` (20,210 and 2,000 images; `train` and
  `val` name them too); the 150 classes 1..150 become 0..149 and 0 ("other objects") is ignored, as in the
  SceneParsing benchmark (mmsegmentation's `reduce_zero_label`);
- `masks`: `images/<stem>.<ext>` paired with `masks/<stem>.png` by file stem (single-channel or palette PNGs of
  class indices), the layout `liftbench render` writes per corruption cell.
Images of a set may differ in size (VOC, ADE20K): `sizes` lists each one's `(H, W)` so batches can group them.
"""

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.functional as TF
from torch import Tensor
from torch.utils.data import Dataset

from robustbench_lift.data.checks import content_digest
from robustbench_lift.data.decode import image_size, open_labels, open_rgb
from robustbench_lift.data.imagefolder import IMAGE_EXTENSIONS
from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.metrics.segmentation import IGNORE_INDEX

CITYSCAPES_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
                        26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
"""Cityscapes label id -> training id of the 19 evaluated classes (road, sidewalk, building, wall, fence, pole,
traffic light, traffic sign, vegetation, terrain, sky, person, rider, car, truck, bus, train, motorcycle,
bicycle); `cityscapesscripts/helpers/labels.py` of the Cityscapes scripts. Every other id is ignored."""
CITYSCAPES_CLASSES = 19
VOC_CLASSES = 21
"""PASCAL VOC 2012: 20 object classes and background."""
VOC_AUGMENTED = "train_aug"
"""The VOC split of the 10,582 training images with SBD's masks (Hariharan et al., ICCV 2011), in the
convention of the DeepLab re-implementations: `ImageSets/Segmentation/train_aug.txt` listing them and
`SegmentationClassAug/<id>.png` holding their class-index masks."""
ADE20K_CLASSES = 150
"""ADE20K SceneParsing: the 150 evaluated classes (label 0, "other objects", is ignored)."""
ADE20K_SPLITS = {"train": "training", "val": "validation"}
LABEL_MAPS = {"cityscapes": CITYSCAPES_TRAIN_IDS, "ade20k": {k: k - 1 for k in range(1, ADE20K_CLASSES + 1)}}
"""Layout -> stored label -> class index of the layouts whose masks are not class indices (others ignored)."""
LAYOUTS = {
    "voc": "JPEGImages/, SegmentationClass/ (SegmentationClassAug/ for train_aug) and "
           "ImageSets/Segmentation/<split>.txt (PASCAL VOC 2012)",
    "cityscapes": "leftImg8bit/<split>/<city>/ and gtFine/<split>/<city>/ (Cityscapes)",
    "ade20k": "images/<split>/ and annotations/<split>/ with split training or validation (ADE20K SceneParsing)",
    "masks": "images/<stem>.<ext> and masks/<stem>.png",
}
"""Layout name -> what it expects, for error messages."""


def voc_root(root: Path) -> Path:
    """`root` itself, or its `VOC2012` / `VOCdevkit/VOC2012` sub-folder if that is where the VOC folders are."""
    for candidate in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (candidate / "SegmentationClass").is_dir():
            return candidate
    return root


def voc_listing(root: Path, split: str) -> Path:
    """The file listing the image ids of a VOC `split`: `ImageSets/Segmentation/<split>.txt`."""
    return voc_root(root) / "ImageSets" / "Segmentation" / f"{split}.txt"


def ade20k_root(root: Path) -> Path:
    """`root` itself, or its `ADEChallengeData2016` sub-folder if that holds `annotations/`."""
    nested = root / "ADEChallengeData2016"
    return nested if (nested / "annotations").is_dir() else root


def segmentation_layout(path: str | Path) -> str:
    """`"voc"`, `"cityscapes"` or `"masks"`; a `UsageError` naming the expected layouts and what was found."""
    root = Path(path)
    if not root.is_dir():
        raise UsageError(f"segmentation data folder {root} not found")
    if (voc_root(root) / "SegmentationClass").is_dir():
        return "voc"
    if (root / "leftImg8bit").is_dir() and (root / "gtFine").is_dir():
        return "cityscapes"
    if (ade20k_root(root) / "annotations").is_dir() and (ade20k_root(root) / "images").is_dir():
        return "ade20k"
    if (root / "images").is_dir() and (root / "masks").is_dir():
        return "masks"
    found = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))[:8]
    raise UsageError(f"{root} is no segmentation data set: expected one of {'; '.join(LAYOUTS.values())}; found "
                     f"{', '.join(found) or 'nothing'}")


def is_segmentation_data(path: str | Path) -> bool:
    """Whether `path` is `"demo"`'s segmentation form or a folder of one of the `LAYOUTS`."""
    try:
        return str(path) == "demo" or segmentation_layout(path) is not None
    except UsageError:
        return False


def _voc_ids(listing: Path) -> list[str]:
    """The image ids of a VOC split listing, one per line; a `UsageError` naming the line of an id that is not a
    plain file name (`../x`, `a/b`: it would read files outside `JPEGImages/`)."""
    ids = []
    for number, line in enumerate(listing.read_text(errors="replace").splitlines(), 1):
        if line.strip():
            ids.append(line.split()[0])
            if ids[-1] in (".", "..") or any(c in ids[-1] for c in "/\\\0"):
                raise UsageError(f"{listing}, line {number}: image id {ids[-1]!r} is not a file name (it would "
                                 "read outside JPEGImages/); VOC ids are names like 2007_000032")
    return ids


def _voc_pairs(root: Path, split: str) -> list[tuple[Path, Path]]:
    root, listing = voc_root(root), voc_listing(root, split)
    if not listing.is_file():
        raise UsageError(f"{root}: no {listing.relative_to(root)}; expected {LAYOUTS['voc']}")
    ids = _voc_ids(listing)
    masks = root / ("SegmentationClassAug" if split == VOC_AUGMENTED else "SegmentationClass")
    return [(root / "JPEGImages" / f"{i}.jpg", masks / f"{i}.png") for i in ids]


def _cityscapes_pairs(root: Path, split: str) -> list[tuple[Path, Path]]:
    images = sorted((root / "leftImg8bit" / split).glob("*/*_leftImg8bit.png"))
    if not images:
        raise UsageError(f"{root}: no leftImg8bit/{split}/<city>/*_leftImg8bit.png; expected {LAYOUTS['cityscapes']}")
    return [(p, root / "gtFine" / split / p.parent.name / p.name.replace("_leftImg8bit", "_gtFine_labelIds"))
            for p in images]


def _ade20k_pairs(root: Path, split: str) -> list[tuple[Path, Path]]:
    root, split = ade20k_root(root), ADE20K_SPLITS.get(split, split)
    images = sorted(p for p in (root / "images" / split).glob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not images:
        raise UsageError(f"{root}: no images/{split}/*.jpg; expected {LAYOUTS['ade20k']}")
    return [(p, root / "annotations" / split / f"{p.stem}.png") for p in images]


def _folder_pairs(root: Path) -> list[tuple[Path, Path]]:
    images = {p.stem: p for p in sorted((root / "images").iterdir())
              if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")}
    masks = {p.stem: p for p in sorted((root / "masks").iterdir()) if p.suffix.lower() == ".png"}
    unpaired = sorted(set(images) ^ set(masks))
    if unpaired or not images:
        raise UsageError(f"{root}: images/ and masks/ must pair by stem ({LAYOUTS['masks']}); found "
                         f"{len(images)} images and {len(masks)} masks"
                         + (f", unpaired: {', '.join(unpaired[:5])}" if unpaired else ""))
    return [(images[stem], masks[stem]) for stem in sorted(images)]


def read_mask(path: Path, lookup: np.ndarray | None = None) -> np.ndarray:
    """Class indices uint8 `(H, W)` of a palette or single-channel PNG (`decode.open_labels`), its values 0..255
    mapped through `lookup` (256,) if given; a `UsageError` naming the file for values outside 0..255."""
    mask = open_labels(path)
    low, high = int(mask.min(initial=0)), int(mask.max(initial=0))
    if low < 0 or high > IGNORE_INDEX:
        expected = ("8-bit label ids 0..255 (a labelIds PNG, not e.g. Cityscapes' instanceIds)" if lookup is not None
                    else f"class indices and {IGNORE_INDEX}")
        raise UsageError(f"mask {path} holds values {low}..{high}: expected {expected}")
    mask = mask.astype(np.uint8)
    return mask if lookup is None else lookup[mask]


class SegmentationFolder(Dataset):
    """`(image, mask)` pairs of one layout; item `i` is `(i, uint8 (3, H, W), uint8 (H, W))` in listing order."""

    def __init__(self, root: str | Path, split: str = "val") -> None:
        self.root = Path(root)
        self.layout = segmentation_layout(self.root)
        self.pairs = {"voc": lambda: _voc_pairs(self.root, split), "masks": lambda: _folder_pairs(self.root),
                      "cityscapes": lambda: _cityscapes_pairs(self.root, split),
                      "ade20k": lambda: _ade20k_pairs(self.root, split)}[self.layout]()
        missing = [str(p) for pair in self.pairs for p in pair if not p.is_file()]
        if missing:
            raise UsageError(f"{self.root} ({self.layout}): {len(missing)} listed files are missing, first "
                             f"{missing[0]}; expected {LAYOUTS[self.layout]}")
        self.lookup = None
        if self.layout in LABEL_MAPS:  # stored label -> class index, every other label ignored
            self.lookup = np.full(256, IGNORE_INDEX, np.uint8)
            self.lookup[list(LABEL_MAPS[self.layout])] = list(LABEL_MAPS[self.layout].values())

    def __len__(self) -> int:
        return len(self.pairs)

    @functools.cached_property
    def sizes(self) -> list[tuple[int, int]]:
        """`(H, W)` of every image, from the file headers (read once)."""
        return [image_size(image) for image, _ in self.pairs]

    @property
    def stems(self) -> list[str]:
        """A unique file stem per item (the name it gets in a rendered tree)."""
        return [image.stem for image, _ in self.pairs]

    def fingerprint(self) -> str:
        """sha256 of the layout, the image and mask paths relative to the root, and the content of both
        (`checks.content_digest`: every size, a sample of bytes): the identity of the set, which replaced images
        or masks change."""
        paths = [path.relative_to(self.root).as_posix() for pair in self.pairs for path in pair]
        listing = "\n".join(f"{image}\t{mask}" for image, mask in zip(paths[::2], paths[1::2]))
        return hashlib.sha256(f"{self.layout}\n{listing}\n{content_digest(self.root, paths)}".encode()).hexdigest()

    def __getitem__(self, index: int) -> tuple[int, Tensor, Tensor]:
        image_path, mask_path = self.pairs[index]
        image = TF.pil_to_tensor(open_rgb(image_path))
        mask = torch.from_numpy(read_mask(mask_path, self.lookup))
        if tuple(mask.shape) != tuple(image.shape[1:]):
            raise LiftbenchError(f"mask {mask_path} is {mask.shape[0]}x{mask.shape[1]}, its image {image_path} "
                                 f"{image.shape[1]}x{image.shape[2]}")
        return index, image, mask


class ArraySegmentation(Dataset):
    """In-memory `(image, mask)` pairs, uint8 `(N, 3, H, W)` and `(N, H, W)`: the demo set (`open_segmentation`)."""

    def __init__(self, images: Tensor, masks: Tensor, name: str) -> None:
        if images.ndim != 4 or masks.shape != (images.shape[0], *images.shape[2:]):
            raise UsageError(f"expected images (N, 3, H, W) and masks (N, H, W), got {tuple(images.shape)} and "
                             f"{tuple(masks.shape)}")
        self.images, self.masks, self.name = images, masks, name
        self.sizes = [tuple(images.shape[2:])] * len(images)
        self.stems = [f"{i:05d}" for i in range(len(images))]

    def __len__(self) -> int:
        return len(self.images)

    def fingerprint(self) -> str:
        """sha256 of the name, images and masks."""
        digest = hashlib.sha256(self.name.encode())
        digest.update(self.images.numpy().tobytes())
        digest.update(self.masks.numpy().tobytes())
        return digest.hexdigest()

    def __getitem__(self, index: int) -> tuple[int, Tensor, Tensor]:
        return index, self.images[index], self.masks[index]


def open_segmentation(path: str | Path, split: str = "val") -> Dataset:
    """The segmentation set at `path` (`segmentation_layout`), or the demo test split with masks for `"demo"`."""
    if str(path) == "demo":
        from robustbench_lift.data.demo import demo_segmentation

        return ArraySegmentation(*demo_segmentation("test"), name="demo-test")
    return SegmentationFolder(path, split)


def size_batches(sizes: Sequence[tuple[int, int]], batch_size: int) -> list[list[int]]:
    """Positions `0..len(sizes) - 1` grouped into batches of at most `batch_size` images of one size, in order
    of each size's first appearance (positions keep their order within a size)."""
    groups: dict[tuple[int, int], list[int]] = {}
    for position, size in enumerate(sizes):
        groups.setdefault(tuple(size), []).append(position)
    return [members[i:i + batch_size] for members in groups.values()
            for i in range(0, len(members), max(1, batch_size))]
