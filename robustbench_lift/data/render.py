"""Render corrupted data sets to disk: ImageNet-C style JPEG trees and CIFAR-C style `.npy` arrays.

`render_imagenet_c(data, out)` reads any ImageFolder (`<class>/<image>`), applies Resize(256) + CenterCrop(224)
as `make_imagenet_c.py` (hendrycks/robustness) did, corrupts with `corruptions.corrupt` and writes
`<out>/<corruption>/<severity>/<class>/<image stem>.JPEG` (PIL, quality 85, optimize, as the release). It is
resumable: files that exist are skipped, and every file is written to a temporary name and renamed, so an
interrupted run leaves no truncated JPEG. Each image's randomness comes from a seed derived from
`(seed, corruption, severity, image index)` (`corruptions.seeding`), so the output does not depend on batch
size, workers or which files a resumed run still had to write. The images are "ImageNet-C style" (corrupted by
this package), not the released ImageNet-C.

`render_cifar_c(images, labels, out_dir)` writes `<corruption>.npy` `(5 N, H, W, 3)` uint8 (severities 1..5
stacked in that order) and `labels.npy` `(5 N,)`, the CIFAR-10-C layout, with CIFAR-10-C's constants
(`make_cifar_c.py`, `preset="cifar"`) unless told otherwise.
"""

import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from corruptions.names import ALL_SEVERITIES, SEVERITIES, expand_corruptions, severities_of
from corruptions.registry import resolve_backend
from corruptions.seeding import corrupt_indexed
from robustbench_lift.data.imagefolder import IMAGE_EXTENSIONS
from robustbench_lift.errors import UsageError, worker_errors
from robustbench_lift.progress import progress as progress_counter

# make_imagenet_c.py: Resize(256) -> CenterCrop(224); PIL save quality=85, optimize=True.
RESIZE, CROP = 256, 224
JPEG_QUALITY = 85


@dataclass(frozen=True)
class RenderSummary:
    """What a render run did: files written and files that already existed."""

    written: int
    skipped: int
    out: Path


def _check_severities(severities: Sequence[int], allowed: Sequence[int] = SEVERITIES) -> list[int]:
    bad = [s for s in severities if s not in allowed]
    if bad or not severities:
        raise UsageError(f"severities must be a non-empty subset of 1..{allowed[-1]}, got {list(severities)}")
    return sorted(set(severities))


def list_image_folder(data: str | Path) -> list[tuple[Path, str]]:
    """`(path, class name)` of every image of an ImageFolder, sorted by class then file name."""
    root = Path(data)
    if not root.is_dir():
        raise UsageError(f"--data {str(root)!r} is not a directory: expected an ImageFolder (<class>/<image>)")
    items = [(path, cls.name) for cls in sorted(p for p in root.iterdir() if p.is_dir())
             for path in sorted(cls.iterdir()) if path.suffix.lower() in IMAGE_EXTENSIONS]
    if not items:
        raise UsageError(f"no images found in {str(root)!r}: expected <class>/<image> with extensions "
                         f"{', '.join(sorted(IMAGE_EXTENSIONS))}")
    counts = Counter(f"{cls}/{path.stem}" for path, cls in items)
    clashes = sorted(name for name, count in counts.items() if count > 1)
    if clashes:
        raise UsageError(f"images {', '.join(clashes[:5])} exist with several extensions: they would be "
                         f"written to the same <stem>.JPEG")
    return items


class _CroppedImages(torch.utils.data.Dataset):
    """Images of `paths` (selected by `indices`) as uint8 `(3, 224, 224)` after Resize(256) + CenterCrop(224)."""

    def __init__(self, paths: list[Path], indices: list[int]):
        self.paths, self.indices = paths, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> tuple[Tensor, int]:
        from torchvision.transforms import functional as TF

        from robustbench_lift.data.decode import open_rgb

        index = self.indices[item]
        image = TF.center_crop(TF.resize(open_rgb(self.paths[index]), RESIZE), CROP)
        return TF.pil_to_tensor(image), index


def _write_jpeg(image_hwc: np.ndarray, path: Path) -> None:
    """Save as JPEG via a temporary file and an atomic rename."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    Image.fromarray(image_hwc).save(temporary, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    os.replace(temporary, path)


def render_imagenet_c(data: str | Path, out: str | Path, *, corruptions: Sequence[str] | str | None = None,
                      severities: Sequence[int] | None = None, backend: str = "auto", workers: int = 0,
                      batch_size: int = 32, seed: int = 0, device: str | torch.device | None = None,
                      progress: bool = True) -> RenderSummary:
    """Write an ImageNet-C style tree of `data` (an ImageFolder) under `out`; returns what was written/skipped.

    `corruptions`: names or subsets (default the 15 common ones); `severities`: those of each corruption's it has
    (default all: 1..5, subset "freq" 1..8, `corruptions.names.severities_of`); `backend` as
    `corruptions.corrupt`; `workers`: DataLoader processes decoding images and threads encoding JPEGs;
    `device`: where corruption runs (default CUDA when available).
    """
    names = expand_corruptions(corruptions)
    severities = _check_severities(severities or ALL_SEVERITIES, ALL_SEVERITIES)
    items = list_image_folder(data)
    out = Path(out)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    for name in names:  # a backend or preset a corruption lacks fails before any file is written
        resolve_backend(backend, name, device)
    cells = [(name, severity) for name in names for severity in severities if severity in severities_of(name)]
    targets = [[out / name / str(severity) / cls / f"{path.stem}.JPEG" for path, cls in items]
               for name, severity in cells]
    listings: dict[Path, set[str]] = {}  # one directory listing instead of a stat per file (ImageNet: 3.75M)

    def exists(path: Path) -> bool:
        if path.parent not in listings:
            listings[path.parent] = set(os.listdir(path.parent)) if path.parent.is_dir() else set()
        return path.name in listings[path.parent]

    missing = [[not exists(target) for target in cell_targets] for cell_targets in targets]
    todo = sum(map(sum, missing))
    skipped = len(cells) * len(items) - todo
    needed = [i for i in range(len(items)) if any(cell[i] for cell in missing)]
    loader = torch.utils.data.DataLoader(_CroppedImages([path for path, _ in items], needed), batch_size=batch_size,
                                         num_workers=workers, shuffle=False)
    bar = progress_counter(todo, "render", "img", enabled=progress)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for images, indices in worker_errors(loader):
            images, indices = images.to(device), indices.tolist()
            for cell, (name, severity) in enumerate(cells):
                rows = [row for row, index in enumerate(indices) if missing[cell][index]]
                if not rows:
                    continue
                corrupted = corrupt_indexed(images[rows], [indices[row] for row in rows], name, severity, seed,
                                            backend)
                arrays = corrupted.permute(0, 2, 3, 1).cpu().numpy()
                jobs = [pool.submit(_write_jpeg, array, targets[cell][indices[row]])
                        for array, row in zip(arrays, rows)]
                for job in jobs:
                    job.result()
                bar.update(len(rows))
    bar.close()
    return RenderSummary(written=todo, skipped=skipped, out=out)


def render_cifar_c(images: np.ndarray | Tensor, labels: np.ndarray | Tensor, out_dir: str | Path, *,
                   corruptions: Sequence[str] | str | None = None, preset: str = "cifar", backend: str = "auto",
                   batch_size: int = 256, seed: int = 0, device: str | torch.device | None = None,
                   progress: bool = True) -> RenderSummary:
    """Write CIFAR-C style arrays: `<corruption>.npy` `(5 N, H, W, 3)` uint8 and `labels.npy` `(5 N,)`.

    `images`: uint8 `(N, H, W, 3)` (H, W >= 32), `labels` `(N,)`. Row `(s - 1) * N + i` is image `i` at severity
    `s`. Existing `.npy` files are skipped; each is written to a temporary name and renamed. Image `i` is
    corrupted with `derive_seed(seed, corruption, severity, i)` (`corrupt_indexed`), as on-the-fly evaluation does.
    `preset`: the severity constants, `"cifar"` (CIFAR-10-C's; torch backend) or `"imagenet"`.
    """
    from corruptions.presets import check_preset

    names = expand_corruptions(corruptions)
    check_preset(preset)
    images = torch.as_tensor(np.asarray(images))
    labels = np.asarray(labels)
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3 or len(labels) != len(images):
        raise UsageError(f"expected uint8 images (N, H, W, 3) and N labels, got {tuple(images.shape)} "
                         f"{images.dtype} and {len(labels)} labels")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    for name in names:
        resolve_backend(backend, name, device, preset)
    nchw = images.permute(0, 3, 1, 2)
    todo = [name for name in names if not (out_dir / f"{name}.npy").exists()]
    bar = progress_counter(len(todo) * len(SEVERITIES) * len(images), "render", "img", enabled=progress)
    for name in todo:
        stacked = np.empty((len(SEVERITIES) * len(images), *images.shape[1:]), dtype=np.uint8)
        for severity in SEVERITIES:
            for start in range(0, len(images), batch_size):
                batch = nchw[start:start + batch_size].to(device)
                indices = range(start, start + len(batch))
                corrupted = corrupt_indexed(batch, indices, name, severity, seed, backend, preset)
                offset = (severity - 1) * len(images) + start
                stacked[offset:offset + len(batch)] = corrupted.permute(0, 2, 3, 1).cpu().numpy()
                bar.update(len(batch))
        _save_npy(stacked, out_dir / f"{name}.npy")
    bar.close()
    if not (out_dir / "labels.npy").exists():
        _save_npy(np.tile(labels, len(SEVERITIES)), out_dir / "labels.npy")
    return RenderSummary(written=len(todo), skipped=len(names) - len(todo), out=out_dir)


def _save_npy(array: np.ndarray, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        np.save(handle, array)
    os.replace(temporary, path)
