"""Segmentation training data: the demo set with masks (crop + flip of images and masks alike, batched on the
device) and segmentation folders (VOC, Cityscapes, images/ + masks/: random scale, crop and flip per image in the
loader workers, `SegmentationTrain`).

The loop (`training/loop.py`) trains a segmentation model when the labels are masks: cross-entropy per pixel with
`ignore_index` 255 (`metrics.segmentation.IGNORE_INDEX`), the train accuracy the mean per-image pixel accuracy and
the test accuracy the pixel accuracy of the test split (a folder's images batched by size).
"""

from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.functional as TF
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms import InterpolationMode

from corruptions.seeding import derive_seed
from robustbench_lift.data.demo import CLASSES, MEAN, STD, demo_segmentation
from robustbench_lift.data.segmentation import (
    ADE20K_CLASSES,
    CITYSCAPES_CLASSES,
    VOC_AUGMENTED,
    VOC_CLASSES,
    SegmentationFolder,
    ade20k_root,
    read_mask,
    segmentation_layout,
    voc_listing,
)
from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.segmentation import IGNORE_INDEX
from robustbench_lift.models import IMAGENET_MEAN, IMAGENET_STD
from robustbench_lift.training.recipe import Recipe
from robustbench_lift.training.sets import Split, TrainSet, crop_flip

DEMO_SEG = "demo-seg"
"""`--data demo-seg`: the demo set's images with their masks (`data.demo.demo_segmentation`), 11 classes."""
DEMO_SEG_TRAIN, DEMO_SEG_TEST = 1280, 256
"""Images of the demo train and test splits `demo-seg` uses (the first ones): a small SegNet learns the shapes'
masks from these in minutes on a CPU."""


def demo_seg_train_set() -> TrainSet:
    """The demo train and test splits with masks (background 0, the 10 shapes 1..10), their first images."""
    train, test = demo_segmentation("train", limit=DEMO_SEG_TRAIN), demo_segmentation("test", limit=DEMO_SEG_TEST)
    return TrainSet(DEMO_SEG, "demo_seg", Split(train[0], train[1].long()), Split(test[0], test[1].long()),
                    len(CLASSES) + 1, MEAN, STD)


def crop_flip_masks(images: Tensor, masks: Tensor, generator: torch.Generator, padding: int = 4,
                    ) -> tuple[Tensor, Tensor]:
    """`crop_flip` of images `(B, 3, H, W)` and, with the same offsets and flips, of masks `(B, H, W)`, whose
    padding reads as `IGNORE_INDEX` (no loss on pixels outside the image)."""
    state = generator.get_state()
    images = crop_flip(images, generator, padding)
    generator.set_state(state)
    shifted = crop_flip((masks.long() + 1)[:, None], generator, padding)[:, 0] - 1  # zeros outside -> -1
    return images, torch.where(shifted < 0, IGNORE_INDEX, shifted)


class SegmentationTrain(Dataset):
    """Training items of a segmentation folder: `(i, uint8 (3, c, c), int64 (c, c))` with c the recipe's
    `crop_size`. Image and mask are scaled by a factor uniform in [`min_scale`, `max_scale`] (bilinear with
    antialiasing, nearest), padded at the bottom and right to at least c (the image with the `fill` colour, the
    normalisation mean, which the model sees as 0; the mask with `IGNORE_INDEX`), cropped at a uniform position
    and flipped with probability 1/2 (DeepLab's augmentation). Every draw comes from the seed `(seed, epoch, i)`,
    set with `set_epoch` before each epoch's loader."""

    def __init__(self, folder: SegmentationFolder, fill: tuple[float, float, float]) -> None:
        self.folder, self.fill = folder, torch.tensor([round(255 * v) for v in fill], dtype=torch.uint8)
        self.epoch, self.recipe = 0, Recipe(augment="scale_crop_flip")

    def set_epoch(self, epoch: int, recipe: Recipe) -> None:
        self.epoch, self.recipe = epoch, recipe

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, index: int) -> tuple[int, Tensor, Tensor]:
        _, image, mask = self.folder[index]
        recipe, size = self.recipe, self.recipe.crop_size
        generator = torch.Generator().manual_seed(derive_seed(recipe.seed, self.epoch, index))
        scale = recipe.min_scale + (recipe.max_scale - recipe.min_scale) * float(torch.rand((), generator=generator))
        height, width = (max(1, round(side * scale)) for side in image.shape[1:])
        image = TF.resize(image, [height, width], InterpolationMode.BILINEAR, antialias=True)
        mask = TF.resize(mask[None], [height, width], InterpolationMode.NEAREST)[0]
        padded_height, padded_width = max(height, size), max(width, size)
        canvas = self.fill.view(3, 1, 1).repeat(1, padded_height, padded_width)
        canvas[:, :height, :width] = image
        labels = torch.full((padded_height, padded_width), IGNORE_INDEX, dtype=torch.int64)
        labels[:height, :width] = mask
        top = int(torch.randint(0, padded_height - size + 1, (), generator=generator))
        left = int(torch.randint(0, padded_width - size + 1, (), generator=generator))
        canvas, labels = canvas[:, top:top + size, left:left + size], labels[top:top + size, left:left + size]
        if torch.rand((), generator=generator) < 0.5:
            canvas, labels = canvas.flip(-1), labels.flip(-1)
        return index, canvas.contiguous(), labels.contiguous()


def _test_folder(root: Path, layout: str) -> SegmentationFolder | None:
    """The validation split next to a training split: VOC's `val.txt`, Cityscapes' `val`, ADE20K's `validation`,
    or an images/ + masks/ folder `val` beside one named `train`; None if there is none."""
    present = {"voc": voc_listing(root, "val").is_file(),
               "cityscapes": (root / "leftImg8bit" / "val").is_dir(),
               "ade20k": (ade20k_root(root) / "images" / "validation").is_dir(),
               "masks": root.name == "train" and root.with_name("val").is_dir()}[layout]
    if not present:
        return None
    return SegmentationFolder(root.with_name("val") if layout == "masks" else root, "val")


def _mask_classes(folders: list[SegmentationFolder]) -> int:
    """1 + the largest class index (not `IGNORE_INDEX`) in the masks of `folders` (one pass over the files)."""
    largest = max(int(np.max(mask, initial=0, where=mask != IGNORE_INDEX))
                  for folder in folders for _, path in folder.pairs for mask in [read_mask(path, folder.lookup)])
    return largest + 1


def segmentation_train_set(root: str | Path) -> TrainSet:
    """A segmentation folder's training split (VOC `train_aug.txt` if present, else `train.txt`; Cityscapes
    `train`, ADE20K `training`, or an images/ + masks/ folder) with `scale_crop_flip` items, its validation
    split (`_test_folder`) as the test split, ImageNet normalisation and the data set's classes (images/ +
    masks/: 1 + the largest index in its masks). Its kind (`voc`, `cityscapes`, `ade20k`, `segmentation`)
    picks the recipe."""
    root = Path(root)
    layout = segmentation_layout(root)
    augmented = layout == "voc" and voc_listing(root, VOC_AUGMENTED).is_file()
    train = SegmentationFolder(root, VOC_AUGMENTED if augmented else "train")
    test = _test_folder(root, layout)
    if not len(train):
        raise UsageError(f"{root} ({layout}) lists no training images")
    shared = sorted({image for image, _ in train.pairs} & {image for image, _ in test.pairs} if test else set())
    if shared:
        raise UsageError(f"{len(shared)} validation images of {root} are also training images (first: {shared[0]}); "
                         "training on them would inflate every validation number: remove them from the training "
                         "split")
    kind, name, classes = {"voc": ("voc", "voc2012", VOC_CLASSES),
                           "cityscapes": ("cityscapes", "cityscapes", CITYSCAPES_CLASSES),
                           "ade20k": ("ade20k", "ade20k", ADE20K_CLASSES),
                           "masks": ("segmentation", root.parent.name if root.name == "train" else root.name,
                                     None)}[layout]
    classes = classes or _mask_classes([train] + ([test] if test is not None else []))
    return TrainSet(name, kind, Split(SegmentationTrain(train, IMAGENET_MEAN), None),
                    None if test is None else Split(test, None), classes, IMAGENET_MEAN, IMAGENET_STD)
