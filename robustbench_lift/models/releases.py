"""Weights the authors of the published poolings released, and where: none has a stable download URL (Google
Drive, Box and Baidu folders), so `weights="DEFAULT"` reads the file from where the user put it and otherwise
raises a `UsageError` naming the page, the file and where to put it. Table with the authors' reported numbers:
docs/models.md ("Published weights of the other poolings"); file formats: `models/weights.py`.
"""

from dataclasses import dataclass
from pathlib import Path

import torch

from robustbench_lift.errors import UsageError

RELEASE_TAG = "authors"
"""The weights tag of an author-released file (`weights="DEFAULT"` picks it)."""


@dataclass(frozen=True)
class Release:
    """One released checkpoint: `paper`, `page` (where it is downloaded by hand), the `file` as the page names
    it, its format (`suffix`), and the clean top-1 / consistency (%) the authors' README reports (None: not
    reported there)."""

    paper: str
    page: str
    file: str
    suffix: str = ".pth"
    top1: float | None = None
    consistency: float | None = None


_PASA = "Zou et al., BMVC 2020 (MaureenZOU/Adaptive-anti-Aliasing README, Model Zoo)"
_LPS = "Rojas-Gomez et al., NeurIPS 2022 (raymondyeh07/learnable_polyphase_sampling README, scripts/eval_*.sh)"
_LPS_BOX = "https://uofi.box.com/s/pql7u3c7x8zifp0m46xhe2uduwwazcad"
_WAVECNET = "Li et al., CVPR 2020 (LiQiufu/WaveCNet README: Baidu folder, password auc9)"
_WAVECNET_PAN = "https://pan.baidu.com/s/1T8vrOd0Zq8jv9fT5b7jdcQ"

RELEASES: dict[str, Release] = {
    "resnet101-pasa3": Release(_PASA, "https://drive.google.com/file/d/1oky8pbqHiINit9-0Ybu-JZQdZkEIUxry/view",
                               "resnet101_k3_pasa_group8_softmax", top1=79.0, consistency=91.8),
    "resnet101-pasa5": Release(_PASA, "https://drive.google.com/file/d/1rfZ2-W7NM0CfmxkMIxrMAhIgWGBNDMwI/view",
                               "resnet101_k5_pasa_group8_softmax", top1=78.6, consistency=92.2),
    "resnet18-lps_circular": Release(_LPS, _LPS_BOX, "ResNet18_LPS_circular_basic.ckpt", ".ckpt"),
    "resnet50-lps3": Release(_LPS, _LPS_BOX, "ResNet50_LPS_LPF3_zero_randomresized.ckpt", ".ckpt"),
    "resnet101-lps3": Release(_LPS, _LPS_BOX, "ResNet101_LPS_LPF3_zero_randomresized.ckpt", ".ckpt"),
    **{f"{arch}-dwt_haar": Release(_WAVECNET, _WAVECNET_PAN, f"the {arch}_dwt haar weights")
       for arch in ("resnet18", "resnet34", "resnet50", "resnet101")},
}


def release_path(name: str) -> Path:
    """Where `weights="DEFAULT"` looks for zoo model `name`'s released file: `<torch hub dir>/checkpoints/
    published/<name><suffix>`."""
    return Path(torch.hub.get_dir()) / "checkpoints" / "published" / f"{name}{RELEASES[name].suffix}"


def release_weights(name: str) -> tuple[dict[str, str], str | None]:
    """`({tag: path}, default tag)` of zoo model `name`'s released weights; `({}, None)` if none."""
    return ({RELEASE_TAG: str(release_path(name))}, RELEASE_TAG) if name in RELEASES else ({}, None)


def require_release(name: str) -> Path:
    """The placed file of `name`'s release; a `UsageError` naming the page, the file and where to put it."""
    path, release = release_path(name), RELEASES[name]
    if not path.is_file():
        raise UsageError(f"{name}'s weights are published by hand only ({release.paper}): download "
                         f"{release.file} from {release.page} and pass it as --weights PATH (weights=PATH), or "
                         f"save it as {path} for weights='DEFAULT'")
    return path
