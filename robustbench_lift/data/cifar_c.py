"""CIFAR-10-C / CIFAR-100-C arrays, the clean CIFAR test set, and in-memory image arrays.

Release layout (Hendrycks & Dietterich, ICLR 2019; zenodo 2535967 / 3555552): `<root>/<corruption>.npy`, uint8
`(5 * n, 32, 32, 3)` holding the n = 10,000 test images at severity 1, then 2, ..., 5, and `<root>/labels.npy`
`(5 * n,)` with the labels repeated for every severity. The clean test set is read from torchvision's python
pickles (`cifar-10-batches-py/test_batch` or `cifar-100-python/test`), without md5 checks or downloads.
"""

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from robustbench_lift.data.cifar import read_cifar_batch
from robustbench_lift.errors import UsageError

LAYOUT = "<root>/<corruption>.npy uint8 (5*n, H, W, 3) and <root>/labels.npy (5*n,)"
NUM_SEVERITIES = 5


class ArrayImages(Dataset):
    """Images of a uint8 `(N, H, W, 3)` array (or rows `start:stop` of an `.npy` file, memory-mapped lazily in each
    process); item `i` is `(i, uint8 (3, H, W), label)`."""

    def __init__(self, images: np.ndarray | str | Path, labels: np.ndarray, start: int = 0,
                 stop: int | None = None) -> None:
        self._path = None if isinstance(images, np.ndarray) else Path(images)
        self._images = images if isinstance(images, np.ndarray) else None
        self.start, self.stop = start, start + len(labels) if stop is None else stop
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)

    def _array(self) -> np.ndarray:
        if self._images is None:
            self._images = np.load(self._path, mmap_mode="r")
        return self._images

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_images": None if self._path else self._images}

    def __len__(self) -> int:
        return self.stop - self.start

    def fingerprint(self) -> str:
        """sha256 of the labels, of a file's name, shape and slice, and of every byte of the images' rows (a row
        replaced in place changes it; ~30 MB per CIFAR-C cell, a fraction of a second)."""
        digest = hashlib.sha256(self.labels.numpy().tobytes())
        if self._path is not None:
            digest.update(f"{self._path.name}:{self._array().shape}:{self.start}:{self.stop}".encode())
        digest.update(np.ascontiguousarray(self._array()[self.start:self.stop]).data)
        return digest.hexdigest()

    def __getitem__(self, index: int) -> tuple[int, Tensor, int]:
        image = torch.from_numpy(np.array(self._array()[self.start + index]))
        return index, image.permute(2, 0, 1).contiguous(), int(self.labels[index])


def load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """`np.load` of an `.npy` file (no pickles), a `UsageError` naming it when it is damaged."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None)
    except (ValueError, OSError, EOFError) as exc:
        raise UsageError(f"{path}: not a readable .npy array ({exc}); download it again") from None


def _check_images(path: Path, array: np.ndarray, count: int) -> None:
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[3] != 3 or array.shape[0] != count:
        raise UsageError(f"{path}: expected uint8 ({count}, H, W, 3) (n images at 5 severities stacked, like "
                         f"labels.npy), found {array.dtype} {tuple(array.shape)}")


class CifarC:
    """A CIFAR-C release folder; `cell(corruption, severity)` is the `ArrayImages` of one severity."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        labels_path = self.root / "labels.npy"
        if not labels_path.is_file():
            raise UsageError(f"{self.root}: no labels.npy (expected {LAYOUT})")
        self.labels = load_npy(labels_path)
        if self.labels.ndim != 1 or len(self.labels) % NUM_SEVERITIES or not len(self.labels):
            raise UsageError(f"{labels_path}: expected shape (5*n,), found {self.labels.shape}")
        self.n = len(self.labels) // NUM_SEVERITIES
        self.corruptions = sorted(p.stem for p in self.root.glob("*.npy") if p.stem != "labels")
        if not self.corruptions:
            raise UsageError(f"{self.root}: labels.npy but no <corruption>.npy (expected {LAYOUT})")

    def check(self, corruptions: list[str], severities: list[int]) -> None:
        """Raise a `UsageError` naming the file or severity that does not match the layout."""
        for corruption in corruptions:
            path = self.root / f"{corruption}.npy"
            if not path.is_file():
                raise UsageError(f"{self.root}: no {corruption}.npy (found {', '.join(self.corruptions)}; "
                                 f"expected {LAYOUT})")
            _check_images(path, load_npy(path, mmap=True), len(self.labels))
        bad = [s for s in severities if not 1 <= s <= NUM_SEVERITIES]
        if bad:
            raise UsageError(f"CIFAR-C has severities 1..5, got {', '.join(map(str, bad))}")

    def cell(self, corruption: str, severity: int) -> ArrayImages:
        """Rows `(severity - 1) * n : severity * n` of `<corruption>.npy` with their labels."""
        self.check([corruption], [severity])
        start = (severity - 1) * self.n
        return ArrayImages(self.root / f"{corruption}.npy", self.labels[start:start + self.n], start, start + self.n)


def load_cifar_test(root: str | Path) -> ArrayImages:
    """The clean CIFAR-10/100 test set from torchvision's pickles in `root` (or its `cifar-10-batches-py` /
    `cifar-100-python` sub-folder): uint8 `(10000, 32, 32, 3)` images in memory with their labels."""
    root = Path(root)
    for candidate in (root / "test_batch", root / "test", root / "cifar-10-batches-py" / "test_batch",
                      root / "cifar-100-python" / "test"):
        if candidate.is_file():
            images, labels = read_cifar_batch(candidate)
            return ArrayImages(images.permute(0, 2, 3, 1).contiguous().numpy(), labels.numpy())
    raise UsageError(f"{root}: no CIFAR test pickle (expected test_batch, test, cifar-10-batches-py/test_batch "
                     "or cifar-100-python/test, as torchvision downloads them)")
