"""Training data by name: the demo sets, CIFAR pickles, segmentation folders (`training/segmentation.py`) and
ImageFolder trees, as a `TrainSet` (`training/sets.py`).
An image folder's RandomResizedCrop is drawn in the loader workers from the seed `(seed, epoch, image)`, never
from hidden global state (see `training/sets.py` for in-memory sets).
"""

from pathlib import Path

import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from torch import Tensor

from corruptions.seeding import derive_seed
from robustbench_lift.data import DEMO
from robustbench_lift.data.cifar import CIFAR_MEAN, CIFAR_STD, cifar_train_files, load_cifar_train
from robustbench_lift.data.cifar_c import load_cifar_test
from robustbench_lift.data.demo import MEAN, STD, demo_dataset
from robustbench_lift.data.imagefolder import ImageFolder, subfolders
from robustbench_lift.data.segmentation import is_segmentation_data
from robustbench_lift.errors import UsageError
from robustbench_lift.models import IMAGENET_MEAN, IMAGENET_STD
from robustbench_lift.training.recipe import Recipe
from robustbench_lift.training.segmentation import DEMO_SEG, demo_seg_train_set, segmentation_train_set
from robustbench_lift.training.sets import Split, TrainSet


class FolderTrain(ImageFolder):
    """`<root>/<class>/<image>` for training: item `i` is `(i, uint8 (3, size, size), label)`, a RandomResizedCrop
    (scale 0.08-1, ratio 3/4-4/3, bilinear, torchvision's reference) and a horizontal flip with probability 1/2,
    drawn from the seed `(seed, epoch, i)`; `set_epoch` sets the epoch and the recipe (seed, crop size) before each
    epoch's loader."""

    def __init__(self, root: str | Path) -> None:
        super().__init__(root, resize=None, crop=None)
        self.expected_size = None  # training images keep their own sizes until cropped
        self.seed, self.epoch, self.size = 0, 0, 224

    def set_epoch(self, epoch: int, recipe: Recipe) -> None:
        self.seed, self.epoch, self.size = recipe.seed, epoch, recipe.crop_size

    def __getitem__(self, index: int) -> tuple[int, Tensor, int]:
        image = self._read(index)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(self.seed, self.epoch, index))
            top, left, height, width = T.RandomResizedCrop.get_params(image, (0.08, 1.0), (3 / 4, 4 / 3))
            flip = bool(torch.rand(()) < 0.5)
        image = TF.resized_crop(image, top, left, height, width, [self.size, self.size], antialias=True)
        return index, TF.hflip(image) if flip else image, self.samples[index][1]


def open_train_set(source: "str | Path | TrainSet") -> TrainSet:
    """`"demo"` (the procedural set, `data/demo.py`), `"demo-seg"` (it with masks, `training/segmentation.py`),
    a CIFAR pickle folder, a segmentation folder (`training.segmentation.segmentation_train_set`), an ImageFolder
    train tree (its test split: a sibling `val` folder of a folder named `train`, Resize 256 and CenterCrop 224),
    or a `TrainSet`."""
    if isinstance(source, TrainSet):
        return source
    if str(source) == DEMO_SEG:
        return demo_seg_train_set()
    if str(source) == DEMO:
        return TrainSet(DEMO, "demo", Split(*demo_dataset("train")), Split(*demo_dataset("test")), 10, MEAN, STD)
    root = Path(source)
    if not root.is_dir():
        raise UsageError(f"training data {str(source)!r} not found: expected 'demo', 'demo-seg', a CIFAR pickle "
                         "folder (data_batch_1..5 or train), a segmentation folder (VOC, Cityscapes, images/ + "
                         "masks/) or an image folder <class>/<image>")
    if cifar_train_files(root) is not None:
        images, labels, classes = load_cifar_train(root)
        test_set = load_cifar_test(root)
        test = Split(torch.stack([test_set[i][1] for i in range(len(test_set))]), test_set.labels)
        return TrainSet(f"cifar{classes}", "cifar", Split(images, labels), test, classes, CIFAR_MEAN[classes],
                        CIFAR_STD[classes])
    if is_segmentation_data(root):
        return segmentation_train_set(root)
    if not subfolders(root):
        raise UsageError(f"{root}: neither CIFAR training pickles (data_batch_1..5 or train) nor class folders "
                         "<class>/<image>")
    train = FolderTrain(root)
    val = root.with_name("val")
    test = None
    if root.name == "train" and val.is_dir():
        val_set = ImageFolder(val, train.class_to_idx)
        test = Split(val_set, val_set.labels)
    return TrainSet(root.name if root.name != "train" else root.parent.name, "imagenet", Split(train, train.labels),
                    test, len(train.class_to_idx), IMAGENET_MEAN, IMAGENET_STD)
