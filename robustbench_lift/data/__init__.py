"""Data sources of the benchmark. Every data set yields items `(index, uint8 image (3, H, W), label)`.

- `ImageFolder`: clean `<root>/<class>/<image>` (Resize 256, CenterCrop 224 by default);
- `ImageNetC`: pre-rendered `<root>/<corruption>/<severity>/<class>/<image>` (ImageNet-C, Tiny-ImageNet-C);
- `ImageNetP`: the released videos `<root>/<perturbation>[_<difficulty>]/<class>/<video>.mp4` (items
  `(index, uint8 (T, 3, H, W), label)`, decoded with the optional PyAV);
- `CifarC`: `<root>/<corruption>.npy` + `labels.npy`; `load_cifar_test`: the clean CIFAR test pickles;
- `ArrayImages`: any uint8 `(N, H, W, 3)` array, e.g. the procedural `demo` set (`open_clean("demo")`).
"""

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from robustbench_lift.data.cifar_c import ArrayImages, CifarC, load_cifar_test
from robustbench_lift.data.imagefolder import CLEAN_CROP, CLEAN_RESIZE, ImageFolder, read_class_map, subfolders
from robustbench_lift.data.imagenet_c import LAYOUT as IMAGENET_C_LAYOUT
from robustbench_lift.data.imagenet_c import ImageNetC, is_corruption_tree
from robustbench_lift.data.imagenet_p import ImageNetP, is_perturbation_tree
from robustbench_lift.errors import UsageError

DEMO = "demo"
"""`--data demo`: the built-in procedural test split (`robustbench_lift.data.demo`, 2,000 images of 32x32)."""

__all__ = ["ArrayImages", "CifarC", "DEMO", "ImageFolder", "ImageNetC", "ImageNetP", "detect_layout",
           "evenly_spaced", "load_cifar_test", "open_clean", "read_class_map"]


def detect_layout(path: str | Path) -> str:
    """`"imagenet-c"` (pre-rendered tree), `"imagenet-p"` (released videos), `"cifar-c"` (npy arrays),
    `"cifar-test"` (clean CIFAR pickles), `"folder"` (clean image folder) or `"demo"`; a `UsageError` naming
    the expected layouts otherwise."""
    if str(path) == DEMO:
        return DEMO
    root = Path(path)
    if not root.is_dir():
        raise UsageError(f"data folder {root} not found")
    if (root / "labels.npy").is_file():
        return "cifar-c"
    if any((root / name).is_file() for name in ("test_batch", "test")) or \
            any((root / name).is_dir() for name in ("cifar-10-batches-py", "cifar-100-python")):
        return "cifar-test"
    if not subfolders(root):
        raise UsageError(f"{root}: no sub-folders and no labels.npy; expected an ImageNet-C tree "
                         "(<corruption>/<severity>/<class>/<image>), a CIFAR-C folder (<corruption>.npy, "
                         "labels.npy) or a clean image folder (<class>/<image>)")
    if all(name.isdigit() for name in subfolders(root)):
        raise UsageError(f"{root} holds only severity folders {', '.join(subfolders(root))}: it looks like one "
                         f"corruption of a tree; pass its parent folder ({IMAGENET_C_LAYOUT})")
    if is_corruption_tree(root):
        return "imagenet-c"
    return "imagenet-p" if is_perturbation_tree(root) else "folder"


def open_clean(path: str | Path, class_map: dict[str, int] | None = None, resize: int | None = CLEAN_RESIZE,
               crop: int | None = CLEAN_CROP, interpolation: str = "bilinear", crop_mode: str = "center",
               fill: tuple[int, int, int] = (0, 0, 0)) -> Dataset:
    """The clean data set at `path`: an image folder (resized with `interpolation` in `crop_mode`, `ImageFolder`),
    CIFAR test pickles, or `"demo"` (arrays: used as they are)."""
    layout = detect_layout(path)
    if layout == DEMO:
        from robustbench_lift.data.demo import demo_dataset

        images, labels = demo_dataset("test")
        return ArrayImages(images.permute(0, 2, 3, 1).contiguous().numpy(), labels.numpy())
    if layout == "cifar-test":
        return load_cifar_test(path)
    if layout != "folder":
        raise UsageError(f"{path} is a {layout} corruption or perturbation set, expected clean images "
                         "(<class>/<image>, CIFAR test pickles or demo)")
    return ImageFolder(path, class_map, resize, crop, interpolation, crop_mode, fill)


def evenly_spaced(total: int, limit: int | None) -> np.ndarray:
    """Indices of `limit` items spread evenly over `total` sorted items (all when `limit` is None or larger).

    Sorted folders are grouped by class, so evenly spaced (not first) items keep the classes represented; the
    same positions are taken in every cell, so image i stays the same photograph across corruptions.
    """
    if limit is None or limit >= total:
        return np.arange(total)
    if limit < 1:
        raise UsageError(f"--limit must be >= 1, got {limit}")
    return (np.arange(limit) * total) // limit
