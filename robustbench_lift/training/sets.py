"""What a training run reads: `Split` (images and labels, in memory or a `Dataset`), `TrainSet` (the splits and what
a model trained on them records) and `crop_flip`, the batched augmentation of in-memory images.

Every random choice is drawn from a generator seeded by `(seed, epoch, step, rank)` (batched crops and flips on
the device) or `(seed, epoch, image)` (RandomResizedCrop in the loader workers), never from hidden global state,
so a run resumed mid-epoch sees exactly the batches of an uninterrupted run.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from corruptions.shift import windows
from robustbench_lift.errors import UsageError, worker_errors


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
        for _, images, labels in worker_errors(loader):
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
