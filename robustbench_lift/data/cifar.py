"""The CIFAR-10/100 training set from torchvision's python pickles (no md5 checks, no downloads).

Layouts: `cifar-10-batches-py/data_batch_1..5` (CIFAR-10, 50,000 images, `labels`) or `cifar-100-python/train`
(CIFAR-100, `fine_labels`), in `root` itself or in that sub-folder of it. The test pickles are read by
`cifar_c.load_cifar_test`.
"""

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from robustbench_lift.data.imagefolder import MAX_CLASS_INDEX
from robustbench_lift.data.safe_pickle import load_pickle
from robustbench_lift.errors import UsageError

CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR100_FILE = "train"
SUBFOLDERS = ("", "cifar-10-batches-py", "cifar-100-python")
CIFAR_MEAN = {10: (0.4914, 0.4822, 0.4465), 100: (0.5071, 0.4865, 0.4409)}
CIFAR_STD = {10: (0.2470, 0.2435, 0.2616), 100: (0.2673, 0.2564, 0.2762)}
"""Per-channel mean and std of the training images in [0, 1] (computed over the 50,000 images of each set)."""
PRESET = "cifar"
"""The protocol of CIFAR's 32 px images (its pickles and the CIFAR-C arrays): CIFAR-10-C's / -P's severity constants
(`corruptions.presets`), which on-the-fly cells of these data sets use unless a preset is given
(`suites.protocol`)."""


def cifar_train_files(root: str | Path) -> tuple[list[Path], int] | None:
    """`(pickle files, classes)` of the CIFAR training set under `root`, or None if there is none."""
    for sub in SUBFOLDERS:
        folder = Path(root) / sub
        if (folder / CIFAR100_FILE).is_file():
            return [folder / CIFAR100_FILE], 100
        batches = [folder / name for name in CIFAR10_FILES if (folder / name).is_file()]
        if batches:
            return batches, 10
    return None


def read_cifar_batch(path: Path) -> tuple[Tensor, Tensor]:
    """uint8 `(N, 3, 32, 32)` images and int64 `(N,)` labels (`labels`, or CIFAR-100's `fine_labels`) of one pickle."""
    batch = load_pickle(path)  # data only: a pickle naming any other global is refused before it runs
    labels = batch.get("labels", batch.get("fine_labels")) if isinstance(batch, dict) else None
    if labels is None or "data" not in batch:
        raise UsageError(f"{path}: not a CIFAR pickle (expected keys data and labels or fine_labels)")
    data = np.asarray(batch["data"])
    if data.dtype != np.uint8 or data.size % 3072 or data.size // 3072 != len(labels):
        raise UsageError(f"{path}: expected uint8 data of N rows of 3x32x32 bytes and N labels, found "
                         f"{data.dtype} {data.shape} and {len(labels)} labels")
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu" or labels.ndim != 1 or (labels.size and not (
            0 <= labels.min() and labels.max() <= MAX_CLASS_INDEX)):
        raise UsageError(f"{path}: labels must be class indices (integers 0..{MAX_CLASS_INDEX}), found "
                         f"{labels.dtype} {labels[:3].tolist()}...; is this a CIFAR pickle?")
    images = data.reshape(-1, 3, 32, 32)
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def load_cifar_train(root: str | Path) -> tuple[Tensor, Tensor, int]:
    """The CIFAR-10 or CIFAR-100 training set under `root`: uint8 `(N, 3, 32, 32)`, int64 `(N,)`, classes."""
    found = cifar_train_files(root)
    if found is None:
        raise UsageError(f"{root}: no CIFAR training pickles (expected data_batch_1..5 or train, optionally in "
                         f"cifar-10-batches-py/ or cifar-100-python/, as torchvision downloads them)")
    files, classes = found
    parts = [read_cifar_batch(path) for path in files]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]), classes
