"""Segmentation training data: the demo set with masks, and crop+flip applied to images and masks alike.

The loop (`training/loop.py`) trains a segmentation model when the labels are masks `(N, H, W)`: cross-entropy
per pixel with `ignore_index` 255 (`metrics.segmentation.IGNORE_INDEX`), the train accuracy the mean per-image
pixel accuracy and the test accuracy the pixel accuracy of the test split.
"""

import torch
from torch import Tensor

from robustbench_lift.metrics.segmentation import IGNORE_INDEX
from robustbench_lift.training.data import Split, TrainSet, crop_flip

DEMO_SEG = "demo-seg"
"""`--data demo-seg`: the demo set's images with their masks (`data.demo.demo_segmentation`), 11 classes."""
DEMO_SEG_TRAIN, DEMO_SEG_TEST = 1280, 256
"""Images of the demo train and test splits `demo-seg` uses (the first ones): a small SegNet learns the shapes'
masks from these in minutes on a CPU."""


def demo_seg_train_set() -> TrainSet:
    """The demo train and test splits with masks (background 0, the 10 shapes 1..10), their first images."""
    from robustbench_lift.data.demo import CLASSES, MEAN, STD, demo_segmentation

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
