"""The released ImageNet-P videos: `<root>/<perturbation>[_<difficulty>]/<class>/<val file>.mp4`.

Hendrycks & Dietterich, ICLR 2019 (`ImageNet-P/test.py`, `video_loader.py`): one H.264 video per validation
image and perturbation, 224x224 RGB at 1 fps, 31 frames (translate 41); noise difficulties 2 and 3 are the
folders `gaussian_noise_2`, `gaussian_noise_3`, ... Frames are decoded with PyAV (the optional extra
`pip install 'robustbench-lift[video]'`) to uint8 RGB and evaluated as they are (ToTensor + Normalize only).
"""

import difflib
import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from robustbench_lift.data.checks import content_digest
from robustbench_lift.data.imagefolder import class_indices, subfolders
from robustbench_lift.errors import LiftbenchError, UsageError

LAYOUT = "<root>/<perturbation>[_2|_3]/<class>/<video>.mp4"
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".webm"})
MISSING_AV = ("decoding ImageNet-P videos needs PyAV, which is not installed: pip install 'robustbench-lift[video]' "
              "(or pip install av), or generate the sequences on the fly from clean images (--data <val folder>)")


def parse_folder(name: str) -> tuple[str, int]:
    """`"gaussian_noise_2"` -> `("gaussian_noise", 2)`; a folder without a difficulty suffix is difficulty 1."""
    stem, _, suffix = name.rpartition("_")
    return (stem, int(suffix)) if stem and suffix in ("2", "3") else (name, 1)


def folder_name(perturbation: str, difficulty: int) -> str:
    """The release folder of `(perturbation, difficulty)`: `name` for difficulty 1, else `name_<difficulty>`."""
    return perturbation if difficulty == 1 else f"{perturbation}_{difficulty}"


def _videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith("."))


def is_perturbation_tree(root: Path) -> bool:
    """True when some `<root>/<folder>/<class>/` holds video files (the ImageNet-P layout)."""
    for folder in subfolders(root):
        for name in subfolders(root / folder)[:3]:
            if _videos(root / folder / name):
                return True
    return False


def decode_video(path: Path) -> Tensor:
    """Every frame of a video as uint8 RGB `(T, 3, H, W)`; a `UsageError` naming the extra when PyAV is absent."""
    try:
        import av
    except ImportError as exc:
        raise UsageError(MISSING_AV) from exc
    try:
        with av.open(str(path)) as container:
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    except (av.error.FFmpegError, OSError) as exc:
        raise LiftbenchError(f"cannot decode video {path}: {exc}") from exc
    if not frames:
        raise LiftbenchError(f"video {path} has no frames")
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()


class VideoFolder(Dataset):
    """Videos of `<root>/<class>/<video>`; item `i` is `(i, uint8 (T, 3, H, W), label)` in sorted (class, file)
    order. Every video must have the frame count and size of the first one (checked per item)."""

    def __init__(self, root: Path, class_map: dict[str, int]) -> None:
        self.root = root
        self.samples = [(f"{name}/{path.name}", label) for name, label in class_indices(root, class_map).items()
                        for path in _videos(root / name)]
        if not self.samples:
            raise UsageError(f"{root}: no videos in its class folders (expected {LAYOUT})")
        self.expected_shape: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return len(self.samples)

    def fingerprint(self) -> str:
        """sha256 of the sorted relative file names and labels, and of the videos' content
        (`checks.content_digest`: every size, a sample of bytes), as `ImageFolder.fingerprint`."""
        listing = "\n".join(f"{rel}\t{label}" for rel, label in self.samples)
        content = content_digest(self.root, [rel for rel, _ in self.samples])
        return hashlib.sha256(f"{listing}\n{content}".encode()).hexdigest()

    def __getitem__(self, index: int) -> tuple[int, Tensor, int]:
        relative, label = self.samples[index]
        frames = decode_video(self.root / relative)
        self.expected_shape = self.expected_shape or tuple(frames.shape)
        if tuple(frames.shape) != self.expected_shape:
            raise LiftbenchError(f"video {self.root / relative} has frames {tuple(frames.shape)}, expected "
                                 f"{self.expected_shape} like the first video of {self.root}")
        return index, frames, label


class ImageNetP:
    """A released ImageNet-P tree; `cell(perturbation, difficulty)` is the `VideoFolder` of one folder.

    Class indices: `class_map` when given, else the sorted class folders of the first perturbation folder.
    """

    def __init__(self, root: str | Path, class_map: dict[str, int] | None = None) -> None:
        self.root = Path(root)
        self.folders = {parse_folder(name): name for name in subfolders(self.root)}
        if not self.folders:
            raise UsageError(f"{self.root}: expected {LAYOUT}, found no perturbation folders")
        self.class_map = class_map or class_indices(self.root / next(iter(self.folders.values())))

    def check(self, cells: list[tuple[str, int]]) -> None:
        """Raise a `UsageError` naming the first requested `(perturbation, difficulty)` without a folder."""
        for cell in cells:
            if cell not in self.folders:
                found = sorted(self.folders.values())
                close = difflib.get_close_matches(folder_name(*cell), found, n=3)
                raise UsageError(f"{self.root}: no folder {folder_name(*cell)}/ (expected {LAYOUT}; found "
                                 f"{', '.join(found)}" + (f"; closest: {', '.join(close)})" if close else ")"))

    def cell(self, perturbation: str, difficulty: int) -> VideoFolder:
        self.check([(perturbation, difficulty)])
        return VideoFolder(self.root / self.folders[(perturbation, difficulty)], self.class_map)
