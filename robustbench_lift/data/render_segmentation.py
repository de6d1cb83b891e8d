"""Render corrupted segmentation trees: `<out>/<corruption>/<severity>/images/<stem>.png` + `masks/<stem>.png`.

Each image of a segmentation set (`data.segmentation`: VOC, Cityscapes, `images/` + `masks/`, or `"demo"`) is
corrupted at its own size with the per-image seeds of suite `seg` on the fly (`corruptions.seeding`,
`derive_seed(seed, corruption, severity, index)`), with the same backend resolution and severity preset, and
written as PNG: lossless, so a rendered tree evaluates to exactly the numbers of the on-the-fly cells. Masks are
written unchanged as single-channel PNGs of their class indices (VOC's palette indices; Cityscapes' label ids
already mapped to the 19 train ids), so every cell is a `masks` layout on its own. Resumable: existing files are
kept, each file is written to a temporary name and renamed.
"""

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from corruptions.names import SEVERITIES, expand_corruptions
from corruptions.seeding import corrupt_indexed
from robustbench_lift.data.render import RenderSummary, _check_severities
from robustbench_lift.data.segmentation import open_segmentation, size_batches


def _write_png(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    Image.fromarray(array).save(temporary, format="PNG")
    os.replace(temporary, path)


def render_segmentation(data: str | Path, out: str | Path, *, corruptions: Sequence[str] | str | None = None,
                        severities: Sequence[int] = SEVERITIES, backend: str = "auto", preset: str = "imagenet",
                        split: str = "val", batch_size: int = 32, seed: int = 0,
                        device: str | torch.device | None = None) -> RenderSummary:
    """Write the corrupted tree of segmentation set `data` under `out`; returns what was written/skipped.

    `corruptions`: names or subsets (default the 15 common ones); `severities` among 1..5; `backend`, `preset`:
    as suite `seg` (`"auto"` resolved per corruption for `device`, default CUDA when available).
    """
    from corruptions.presets import check_preset
    from corruptions.registry import resolve_backend

    names, severities = expand_corruptions(corruptions), _check_severities(severities)
    source, out = open_segmentation(data, split), Path(out)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    preset = check_preset(preset)
    backends = {name: resolve_backend(backend, name, device, preset) for name in names}
    stems, written, skipped = source.stems, 0, 0
    for batch in size_batches(source.sizes, batch_size):
        items = [source[i] for i in batch]
        images = torch.stack([image for _, image, _ in items]).to(device)
        for name in names:
            for severity in severities:
                cell = out / name / str(severity)
                todo = [row for row, i in enumerate(batch) if not (cell / "images" / f"{stems[i]}.png").exists()]
                skipped += len(batch) - len(todo)
                if not todo:
                    continue
                corrupted = corrupt_indexed(images[todo], [batch[row] for row in todo], name, severity, seed,
                                            backends[name], preset)
                for row, array in zip(todo, corrupted.permute(0, 2, 3, 1).cpu().numpy()):
                    _write_png(items[row][2].numpy(), cell / "masks" / f"{stems[batch[row]]}.png")
                    _write_png(array, cell / "images" / f"{stems[batch[row]]}.png")
                written += len(todo)
    return RenderSummary(written=written, skipped=skipped, out=out)
