"""Image folders `<root>/<class>/<image>`: the clean ImageNet val layout and every cell of an ImageNet-C tree.

Images are decoded with Pillow, converted to RGB and, for clean validation data, resized so the shorter side is
256 (bilinear, Pillow's antialiasing) and center-cropped to 224: torchvision's `Resize(256)`, `CenterCrop(224)`
on PIL images, the protocol of the published ImageNet numbers. Pre-rendered corruption cells are read as they
are (`resize=None, crop=None`) and must all have one size.

Class indices come from the sorted folder names (torchvision's `ImageFolder`; for the 1000 ImageNet wnids this
is the standard index order) or from a class-map file: JSON `{"<folder>": index}` or `["<folder>", ...]`, or
text with one folder name per line as the first token (line order = index; ImageNet's
`LOC_synset_mapping.txt` works as it is). Distinct folders of the data must get distinct indices.
"""

import difflib
import hashlib
import json
from pathlib import Path

import torch
import torchvision.transforms.functional as TF
from torch import Tensor
from torch.utils.data import Dataset

from robustbench_lift.data.checks import content_digest
from robustbench_lift.data.decode import image_size, open_rgb
from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.memory import check_memory

IMAGE_EXTENSIONS = frozenset({".jpeg", ".jpg", ".png", ".ppm", ".pgm", ".bmp", ".webp", ".tif", ".tiff"})
"""File endings read as images (any Pillow can decode; greyscale is converted to RGB)."""
CLEAN_RESIZE = 256
CLEAN_CROP = 224
"""ImageNet evaluation preprocessing (torchvision reference scripts; Hendrycks & Dietterich's clean images)."""
MAX_CLASS_INDEX = 2 ** 31 - 1
"""Largest class index a label may hold: the store keeps labels as int16 or int32 (`store.compact_indices`)."""


def subfolders(root: Path) -> list[str]:
    """Sorted names of the non-hidden sub-folders of `root`."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def image_files(folder: Path) -> list[Path]:
    """Sorted image files of `folder` (by extension, hidden files skipped)."""
    return sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith("."))


def read_class_map(path: str | Path) -> dict[str, int]:
    """`{folder name: class index}` from a class-map file (JSON object or list, or text one name per line)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"class map {path} not found: expected a JSON or text file naming the class folders")
    try:
        text = path.read_text()
        loaded = json.loads(text) if path.suffix == ".json" else None
    except (UnicodeDecodeError, ValueError) as exc:
        kind = "JSON" if path.suffix == ".json" else "text"
        raise UsageError(f"class map {path} is not valid {kind}: {exc}") from exc
    if path.suffix == ".json":
        mapping = {name: i for i, name in enumerate(loaded)} if isinstance(loaded, list) else loaded
        if not isinstance(mapping, dict) or not all(type(v) is int and v >= 0 for v in mapping.values()):
            raise UsageError(f"class map {path}: expected {{folder: integer index >= 0}} or a list of folder names")
        name, index = max(mapping.items(), key=lambda item: item[1], default=("", 0))
        if index > MAX_CLASS_INDEX:
            raise UsageError(f"class map {path}: index {index} of {name!r} is over {MAX_CLASS_INDEX}, the largest "
                             "class index; give each folder the index of its class in the model's output")
        return {str(k): int(v) for k, v in mapping.items()}
    names = [line.split()[0] for line in text.splitlines() if line.strip()]
    return {name: i for i, name in enumerate(names)}


def class_indices(root: Path, class_map: dict[str, int] | None = None) -> dict[str, int]:
    """`{class folder: index}` for the class folders of `root` (sorted order, or looked up in `class_map`)."""
    folders = subfolders(root)
    if not folders:
        found = sorted(p.name for p in root.iterdir())[:5]
        raise UsageError(f"{root}: expected class folders <class>/<image>, found no sub-folders "
                         f"(entries: {', '.join(found) or 'none'})")
    if class_map is None:
        return {name: i for i, name in enumerate(folders)}
    unknown = [name for name in folders if name not in class_map]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(class_map), n=3)
        raise UsageError(f"{root}: class folder(s) {', '.join(unknown[:5])} are not in the class map"
                         + (f" (closest: {', '.join(close)})" if close else ""))
    shared: dict[int, list[str]] = {}
    for name in folders:
        shared.setdefault(class_map[name], []).append(name)
    # Two folders on one index would score a model for confusing them as right (every folder on 0: any model
    # that always answers 0 is perfect); no benchmark needs it, so pooling classes means pooling their folders.
    collapsed = [(index, names) for index, names in shared.items() if len(names) > 1]
    if collapsed:
        index, names = collapsed[0]
        raise UsageError(f"{root}: the class map sends class folders {', '.join(names[:5])} to index {index}"
                         + (f" ({len(collapsed) - 1} more shared indices)" if len(collapsed) > 1 else "")
                         + "; each class folder needs its own index (to pool classes, put their images in one folder)")
    return {name: class_map[name] for name in folders}


def resized_size(height: int, width: int, resize: int, crop_mode: str = "center") -> tuple[int, int]:
    """(height, width) of a `height` x `width` image resized to `resize` in `crop_mode`: "center" the shorter side
    (torchvision's `Resize(n)`: longer `int(n * long / short)`), "squash" both, "border" the longer one (timm's
    `ResizeKeepRatio(longest=1)`: each side `round(side / ratio)`, ratio = longer side / `resize`)."""
    if crop_mode == "squash":
        return resize, resize
    if crop_mode == "border":
        ratio = max(height, width) / resize
        return round(height / ratio), round(width / ratio)
    short, long = sorted((width, height))
    scaled = (resize, int(resize * long / short))
    return scaled[::-1] if width <= height else scaled


def _pixels(size: int | tuple[int, int] | None) -> int:
    """Pixels of a square side `size`, of an `(h, w)` window, or 0 for None (kept as it is)."""
    if not size:
        return 0
    return size * size if isinstance(size, int) else size[0] * size[1]


class ImageFolder(Dataset):
    """Images of `<root>/<class>/<image>`; item `i` is `(i, uint8 (3, H, W), label)` in sorted (class, file) order.

    `resize`: shorter side after resizing (None: keep) with `interpolation` (a torchvision `InterpolationMode`
    value: "bilinear", "bicubic", ...; Pillow's antialiased filters); `crop`: center-crop side (None: keep).
    `crop_mode`: timm's eval crop modes (`models.preprocess.CROP_MODES`, `resized_size`): "squash" resizes both
    sides to `resize`, "border" the longer one and pads to `crop` with `fill` (uint8 RGB) before cropping.
    Without both, every image must have the size of the first one (checked per image, naming the file that
    differs).
    """

    def __init__(self, root: str | Path, class_map: dict[str, int] | None = None,
                 resize: int | None = CLEAN_RESIZE, crop: int | None = CLEAN_CROP,
                 interpolation: str = "bilinear", crop_mode: str = "center",
                 fill: tuple[int, int, int] = (0, 0, 0)) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise UsageError(f"image folder {self.root} not found: expected <root>/<class>/<image> files")
        self.class_to_idx = class_indices(self.root, class_map)
        self.samples = [(f"{name}/{file.name}", label) for name, label in self.class_to_idx.items()
                        for file in image_files(self.root / name)]
        if not self.samples:
            raise UsageError(f"{self.root}: class folders {', '.join(list(self.class_to_idx)[:5])} hold no images "
                             f"(expected files ending in {', '.join(sorted(IMAGE_EXTENSIONS))})")
        # One image resized (uint8) and as the model's float input, before any is read
        check_memory(3 * _pixels(resize) + 4 * 3 * _pixels(crop), f"--resize {resize} --crop {crop}",
                     "pass the input size the model expects (e.g. --resize 256 --crop 224)")
        self.resize, self.crop, self.interpolation = resize, crop, TF.InterpolationMode(interpolation)
        self.crop_mode, self.fill = crop_mode, tuple(fill)
        self._sizes: dict[int, tuple[int, int]] = {}  # resized_sizes: headers read once
        self.expected_size = None if resize or crop else tuple(self._read(0).shape[1:])

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> Tensor:
        """int64 `(N,)` class index of every item."""
        return torch.tensor([label for _, label in self.samples], dtype=torch.int64)

    def fingerprint(self) -> str:
        """sha256 of the sorted relative file names and labels, and of the files' content (`checks.content_digest`:
        every size, a sample of bytes): the identity of this set of images, which replaced images change."""
        listing = "\n".join(f"{rel}\t{label}" for rel, label in self.samples)
        content = content_digest(self.root, [rel for rel, _ in self.samples])
        return hashlib.sha256(f"{listing}\n{content}".encode()).hexdigest()

    def _read(self, index: int) -> Tensor:
        image = open_rgb(self.root / self.samples[index][0])
        if self.resize:
            size = self.resize if self.crop_mode == "center" else \
                list(resized_size(image.height, image.width, self.resize, self.crop_mode))
            image = TF.resize(image, size, interpolation=self.interpolation)
        if self.crop and self.crop_mode == "border":  # timm's CenterCropOrPad: pad with the mean colour first
            pad_w, pad_h = max(self.crop - image.width, 0), max(self.crop - image.height, 0)
            image = TF.pad(image, [pad_w // 2, pad_h // 2, (pad_w + 1) // 2, (pad_h + 1) // 2], fill=self.fill)
        if self.crop:
            image = TF.center_crop(image, self.crop)
        return TF.pil_to_tensor(image)

    def resized_sizes(self, indices: Tensor) -> Tensor:
        """int64 `(B, 2)`: (height, width) of items `indices` `(B,)` after `resize`, before `crop`, read from the
        file headers (torchvision's `Resize(n)`: shorter side `n`, longer `int(n * long / short)`). With
        `crop=(S, S)` the items are `CenterCrop` canvases of those whole images, what
        `corruptions.perturbation_sequence(..., sizes=)` takes."""
        for index in indices.tolist():
            if index not in self._sizes:
                height, width = image_size(self.root / self.samples[index][0])
                if self.resize:
                    height, width = resized_size(height, width, self.resize, self.crop_mode)
                self._sizes[index] = (height, width)
        return torch.tensor([self._sizes[i] for i in indices.tolist()], dtype=torch.int64).view(-1, 2)

    def __getitem__(self, index: int) -> tuple[int, Tensor, int]:
        image = self._read(index)
        if self.expected_size and tuple(image.shape[1:]) != self.expected_size:
            height, width = self.expected_size
            raise LiftbenchError(f"image {self.root / self.samples[index][0]} is {image.shape[1]}x{image.shape[2]}, "
                                 f"expected {height}x{width} like the rest of {self.root}")
        return index, image, self.samples[index][1]
