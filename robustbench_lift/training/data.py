"""Training data: in-memory uint8 image sets (demo, CIFAR pickles, your own tensors) and ImageFolder trees.

Every random choice is drawn from a generator seeded by `(seed, epoch, step, rank)` (batched crops and flips on
the device) or `(seed, epoch, image)` (RandomResizedCrop in the loader workers), never from hidden global state,
so a run resumed mid-epoch sees exactly the batches of an uninterrupted run.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from corruptions.seeding import derive_seed
from corruptions.shift import windows
from robustbench_lift.data import DEMO
from robustbench_lift.data.cifar import CIFAR_MEAN, CIFAR_STD, cifar_train_files, load_cifar_train
from robustbench_lift.data.cifar_c import load_cifar_test
from robustbench_lift.data.imagefolder import ImageFolder, subfolders
from robustbench_lift.data.segmentation import is_segmentation_data
from robustbench_lift.errors import UsageError
from robustbench_lift.models import IMAGENET_MEAN, IMAGENET_STD
from robustbench_lift.training.recipe import Recipe


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


@dataclass
class Split:
    """One split: uint8 `(N, 3, H, W)` images in memory, or a `Dataset` of `(index, uint8 image, label)`; and
    int64 labels, `(N,)` classes or `(N, H, W)` masks, or None when the `Dataset` reads masks of its own
    (segmentation folders)."""

    images: Tensor | Dataset
    labels: Tensor | None

    def __len__(self) -> int:
        return len(self.images) if self.labels is None else len(self.labels)

    def batches(self, index_batches: list[Tensor], device: torch.device, workers: int = 0,
                ) -> Iterator[tuple[Tensor, Tensor]]:
        """uint8 images and int64 labels on `device`, one pair per index batch, in order."""
        if isinstance(self.images, Tensor):
            images, labels = self.images.to(device), self.labels.to(device)
            for batch in index_batches:
                index = batch.to(device)
                yield images[index], labels[index]
            return
        loader = DataLoader(self.images, batch_sampler=[b.tolist() for b in index_batches], num_workers=workers,
                            pin_memory=device.type == "cuda")
        for _, images, labels in loader:
            yield images.to(device, non_blocking=True), labels.to(device, non_blocking=True)


@dataclass
class TrainSet:
    """A training set, its test split (None: no test accuracy), classes, the input normalisation models trained
    on it use, its kind (`demo`, `cifar`, `imagenet`: picks the default recipe) and name (recorded)."""

    name: str
    kind: str
    train: Split
    test: Split | None
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self) -> None:
        for split_name, split in (("train", self.train), ("test", self.test)):
            if split is None or split.labels is None or not len(split):
                continue
            if isinstance(split.images, Tensor) and (split.images.dtype != torch.uint8 or split.images.ndim != 4
                                                     or len(split.images) != len(split.labels)):
                raise UsageError(f"{self.name} {split_name}: expected uint8 (N, 3, H, W) images and (N,) labels, "
                                 f"got {split.images.dtype} {tuple(split.images.shape)} and {len(split.labels)}")
            if int(split.labels.min()) < 0 or int(split.labels.max()) >= self.num_classes:
                raise UsageError(f"{self.name} {split_name}: labels must be in 0..{self.num_classes - 1}, found "
                                 f"{int(split.labels.min())}..{int(split.labels.max())}")

    @property
    def dense(self) -> bool:
        """Whether the labels are masks (segmentation): `(N, H, W)` in memory, or read by a segmentation folder."""
        return self.train.labels is None or self.train.labels.ndim == 3

    @property
    def in_memory(self) -> bool:
        return isinstance(self.train.images, Tensor)

    @property
    def image_size(self) -> int | None:
        return self.train.images.shape[-1] if self.in_memory else None


def open_train_set(source: "str | Path | TrainSet") -> TrainSet:
    """`"demo"` (the procedural set, `data/demo.py`), `"demo-seg"` (it with masks, `training/segmentation.py`),
    a CIFAR pickle folder, a segmentation folder (`training.segmentation.segmentation_train_set`), an ImageFolder
    train tree (its test split: a sibling `val` folder of a folder named `train`, Resize 256 and CenterCrop 224),
    or a `TrainSet`."""
    if isinstance(source, TrainSet):
        return source
    if str(source) == "demo-seg":
        from robustbench_lift.training.segmentation import demo_seg_train_set

        return demo_seg_train_set()
    if str(source) == DEMO:
        from robustbench_lift.data.demo import MEAN, STD, demo_dataset

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
        from robustbench_lift.training.segmentation import segmentation_train_set

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


def crop_flip(images: Tensor, generator: torch.Generator, padding: int = 4) -> Tensor:
    """Random crops of the zero-padded images and horizontal flips with probability 1/2, as one batched op.

    `images` `(B, C, H, W)` of any dtype and device -> the same shape; crop offsets in `0..2*padding` and flips are
    drawn from `generator` (a CPU generator). Equals torchvision's `RandomCrop(H, padding)` + `RandomHorizontalFlip`
    applied per image with those offsets and flips.
    """
    count, _, height, width = images.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, count), generator=generator).to(images.device) - padding
    flips = (torch.rand(count, generator=generator) < 0.5).to(images.device)
    crops = windows(images, offsets[0], offsets[1], height, width)  # zeros outside: the padding
    return torch.where(flips.view(-1, 1, 1, 1), crops.flip(3), crops)
