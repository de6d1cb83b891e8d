"""Pretrained weights and checkpoints: where they come from, how they are read, checked, loaded and written.

Sources of known weights (no code of either project is used, only the published file addresses):
- `-max` ImageNet models: torchvision's weights enums (`ResNet50_Weights.IMAGENET1K_V2`, ...), downloaded by
  torch.hub into `<torch hub dir>/checkpoints/`.
- `-blur` ImageNet models: the checkpoints published by antialiased-cnns (Zhang 2019), addresses from
  `antialiased_cnns` 0.3 (`model_urls` in its resnet.py, vgg.py, densenet.py, mobilenet.py). Files whose name ends in
  `_finetune` were fine-tuned from the torchvision weights (the package's default for filter size 4); the others
  were trained from scratch. Files hold `{"state_dict": ...}`.
Without network, place the file named in the error message into the cache directory it names.

Every weights file from outside is read here, as data: `read_checkpoint` (`torch.load(weights_only=True)`, or
safetensors for `.safetensors` files): a bare state dict, or `{"state_dict": ..., "meta": {...}}` as
`save_checkpoint` writes; a `module.` (DataParallel / DDP) or `_orig_mod.` (torch.compile) prefix is stripped. A
file that needs any other global (a pickled object, a payload) is refused before anything in it runs, except a
PyTorch Lightning `.ckpt` (LPS's published weights): its pickled hyper-parameters become inert placeholders
(`models/lightning.py`), nothing in it is imported or run.
torchvision and antialiased-cnns publish only an 8-hex sha256 prefix (in the file name, checked by `download`),
which a 2^32 search can match: the reader, not the prefix, is what keeps a planted file from running code.
"""

import hashlib
import json
import os
import re
import tempfile
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
import torchvision
from torch import Tensor, nn

from robustbench_lift import __version__
from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.models.lightning import read_inert

_ANTIALIASED_BASE = "https://antialiased-cnns.s3.us-east-2.amazonaws.com/weights_v0.1/"
ANTIALIASED_HASHES: dict[str, dict[str, str]] = {
    "resnet18": {"lpf2": "6e2ee76f", "lpf3": "449351b9", "lpf4": "8c77af40", "lpf5": "c1eed0a1",
                 "lpf4_finetune": "8cc58f59"},
    "resnet34": {"lpf2": "4707aed9", "lpf3": "16aa6c48", "lpf4": "55747267", "lpf5": "85283561",
                 "lpf4_finetune": "db622952"},
    "resnet50": {"lpf2": "f0f7589d", "lpf3": "a4e868d2", "lpf4": "994b528f", "lpf5": "9953c9ad",
                 "lpf4_finetune": "cad66808"},
    "resnet101": {"lpf2": "3d00941d", "lpf3": "928f1444", "lpf4": "f8a116ff", "lpf5": "1f3745af",
                  "lpf4_finetune": "9280acb0"},
    "resnet152": {"lpf4_finetune": "7f67d9ae"},
    "resnext50_32x4d": {"lpf4_finetune": "9106e549"},
    "resnext101_32x8d": {"lpf4_finetune": "8f13a25d"},
    "wide_resnet50_2": {"lpf4_finetune": "02a183f7"},
    "wide_resnet101_2": {"lpf4_finetune": "da4eae04"},
    "densenet121": {"lpf2": "7da7d4cd", "lpf3": "0f267ad8", "lpf4": "edeaab00", "lpf5": "ebc7880c",
                    "lpf4_finetune": "eceaa619"},
    "densenet161": {"lpf4_finetune": "a5e0f328"},
    "densenet169": {"lpf4_finetune": "992131e6"},
    "densenet201": {"lpf4_finetune": "736979b2"},
    "vgg11": {"lpf4_finetune": "35eab449"},
    "vgg11_bn": {"lpf4_finetune": "5d60b5e4"},
    "vgg13": {"lpf4_finetune": "d8ff02c4"},
    "vgg13_bn": {"lpf4_finetune": "45e2a72f"},
    "vgg16": {"lpf2": "60268e0c", "lpf3": "e9b0ce42", "lpf4": "de9267ac", "lpf5": "1391f70c",
              "lpf4_finetune": "79c9dff7"},
    "vgg16_bn": {"lpf2": "2c2052a8", "lpf3": "1782878a", "lpf4": "a1c3559b", "lpf5": "c500b52f",
                 "lpf4_finetune": "1dd798d1"},
    "vgg19": {"lpf4_finetune": "7ab2cf45"},
    "vgg19_bn": {"lpf4_finetune": "d0114293"},
    "mobilenet_v2": {"lpf2": "f4379012", "lpf3": "23b2e2ee", "lpf4": "2e0b9cb9", "lpf5": "ab8fe968",
                     "lpf4_finetune": "7eed94b1"},
}
"""Published antialiased-cnns checkpoints: arch -> tag `lpf<filter size>[_finetune]` -> the sha256 prefix in the
file name `<arch>_<tag>-<prefix>.pth` (torch.hub checks it)."""

REQUIRED_META = ("model", "pool_kwargs", "num_classes", "mean", "std", "recipe", "dataset")
"""Metadata every checkpoint written by `save_checkpoint` carries (plus `version`, the project version)."""

_PREFIXES = ("module.", "_orig_mod.")
_MAX_LISTED = 8


def torchvision_weights(arch: str) -> tuple[dict[str, str], str | None]:
    """`({tag: url}, default tag)` of torchvision's ImageNet weights for `arch`; `({}, None)` if it has none."""
    try:
        enum = torchvision.models.get_model_weights(arch)
    except ValueError:
        return {}, None
    return {member.name: member.url for member in enum}, enum.DEFAULT.name


def antialiased_weights(arch: str, filter_size: int) -> tuple[dict[str, str], str | None]:
    """`({tag: url}, default tag)` of antialiased-cnns' published weights for `arch` with `filter_size`.

    The default is the fine-tuned file where one exists (antialiased-cnns' own default), else from scratch.
    """
    files = {tag: f"{_ANTIALIASED_BASE}{arch}_{tag}-{digest}.pth"
             for tag, digest in ANTIALIASED_HASHES.get(arch, {}).items() if tag.split("_")[0] == f"lpf{filter_size}"}
    default = next((tag for tag in files if tag.endswith("_finetune")), next(iter(files), None))
    return files, default


def cache_path(url: str) -> Path:
    """Where torch.hub keeps (and looks for) the download of `url`: `<torch hub dir>/checkpoints/<file name>`."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def download(url: str) -> Path:
    """The cached file of `url`, downloaded through torch.hub if absent.

    If the file name carries a hash prefix (`name-<hex>.pth`, torch.hub's convention) the file's sha256 must start
    with it, also for a file placed into the cache by hand. Failing to download raises `LiftbenchError` naming the
    file to place.
    """
    target = cache_path(url)
    match = re.search(torch.hub.HASH_REGEX, target.name)
    prefix = match.group(1) if match else None
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(target), hash_prefix=prefix, progress=False)
        except Exception as exc:  # any failure (no network, HTTP error, hash mismatch) gets the same remedy
            raise LiftbenchError(
                f"could not download {url} ({type(exc).__name__}: {exc}); offline, fetch that file elsewhere and "
                f"place it at {target} (it is read as data, with torch.load(weights_only=True))") from exc
    elif prefix and not file_sha256(target).startswith(prefix):
        raise UsageError(f"cached file {target} does not match {url}: its sha256 does not start with {prefix}; "
                         "delete it and place the right file there")
    return target


def read_published(url: str, sha256: str | None = None) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """`read_checkpoint` of `url`'s cached download (`download`), checked against `sha256` where the full digest
    is published. Without it only the name's prefix was checked (torchvision, antialiased-cnns): a refused file
    is named for deletion."""
    path = download(url)
    try:
        return read_checkpoint(path, sha256)
    except UsageError as exc:
        if sha256:
            raise
        raise UsageError(f"{exc}; no full sha256 is published for {url} (at most the 8-hex prefix in its name): "
                         f"delete {path} and fetch the file again") from exc


def _strip_prefixes(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The state dict without wrapper prefixes, keeping its `_metadata` (module versions that load hooks read,
    e.g. MNASNet's) under the stripped names."""
    metadata = getattr(state_dict, "_metadata", None)
    for prefix in _PREFIXES:
        if state_dict and all(key.startswith(prefix) for key in state_dict):
            state_dict = {key[len(prefix):]: value for key, value in state_dict.items()}
            if metadata is not None:
                metadata = {("" if key == prefix[:-1] else key.removeprefix(prefix)): value
                            for key, value in metadata.items() if key == prefix[:-1] or key.startswith(prefix)}
    stripped = OrderedDict(state_dict)
    if metadata is not None:
        stripped._metadata = metadata  # type: ignore[attr-defined]
    return stripped


def load_data(path: str | Path, what: str = "a checkpoint",
              remedy: str = "liftbench reads weights as data only and never runs code from a file") -> Any:
    """The content of a torch or safetensors file, built from data only (the one reader of weights files: no
    `weights_only=False` anywhere); a one-line `UsageError` saying it is not `what`, then `remedy`, otherwise."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":  # a JSON header and raw tensors: no code by design
            from safetensors.torch import load_file

            return load_file(path, device="cpu")
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling garbage raises nearly anything (IndexError, KeyError, UnicodeError, ...)
        if (content := _lightning(path)) is not None:
            return content
        # torch's own message spans lines and suggests weights_only=False: keep only what names the refused global
        refused = re.search(r"WeightsUnpickler error: ([^\n]*?)(?: Please use|\n|$)", str(exc))
        first = next(iter(str(exc).strip().splitlines()), "")
        reason = refused.group(1) if refused else f"{type(exc).__name__}: {first}"
        raise UsageError(f"{path} is not {what} loadable with torch.load(weights_only=True) ({reason}); "
                         f"{remedy}") from exc


def _lightning(path: Path) -> Mapping[str, Any] | None:
    """The content of `path` read by `read_inert` if it is a PyTorch Lightning checkpoint, else None: the one
    kind of file whose pickled objects (hyper-parameters) become inert placeholders rather than a refusal."""
    try:
        content = read_inert(path) if zipfile.is_zipfile(path) else None
    except UsageError:
        return None
    lightning = isinstance(content, Mapping) and {"pytorch-lightning_version", "state_dict"} <= content.keys()
    return content if lightning else None


def read_checkpoint(path: str | Path, sha256: str | None = None) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """`(state_dict, meta)` of a checkpoint file (meta is `{}` for a bare state dict), on the CPU.

    Checks the file's sha256 against `sha256` when given. Raises `UsageError` if the path is not a file, the hash
    differs, or the file is not a state dict loadable with `weights_only=True` (a `.safetensors` file: safetensors).
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint {str(path)!r} is not a file")
    if sha256 is not None and (actual := file_sha256(path)) != sha256.lower():
        raise UsageError(f"checkpoint {path} has sha256 {actual}, expected {sha256}")
    content = load_data(path)
    meta: dict[str, Any] = {}
    if isinstance(content, Mapping) and isinstance(content.get("state_dict"), Mapping):
        meta = dict(content.get("meta") or {})
        content = content["state_dict"]
    if not isinstance(content, Mapping) or not all(isinstance(v, Tensor) for v in content.values()):
        raise UsageError(f"{path} holds neither a state dict nor {{'state_dict': ..., 'meta': ...}}")
    return _strip_prefixes(content), meta


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    return shown + (f" and {len(keys) - _MAX_LISTED} more" if len(keys) > _MAX_LISTED else "")


def load_weights(model: nn.Module, state_dict: Mapping[str, Tensor], source: str = "state dict") -> None:
    """Load `state_dict` into `model` strictly (after stripping `module.` / `_orig_mod.` prefixes).

    A mismatch raises `UsageError` naming the missing and unexpected keys and the tensors whose shapes differ.
    Shapes are checked before anything is copied; on a key mismatch the model is left partially loaded.
    """
    state_dict = _strip_prefixes(state_dict)
    expected = model.state_dict()
    shapes = [f"{key} {tuple(value.shape)} in {source} vs {tuple(expected[key].shape)} in the model"
              for key, value in state_dict.items() if key in expected and value.shape != expected[key].shape]
    if shapes:
        missing, unexpected = sorted(expected.keys() - state_dict.keys()), sorted(state_dict.keys() - expected.keys())
    else:  # load_state_dict runs the model's own load hooks (e.g. MobileNetV2's head alias) before comparing keys
        missing, unexpected = map(sorted, model.load_state_dict(state_dict, strict=False))
        if not missing and not unexpected:
            return
    found = {"missing keys": missing, "unexpected keys": unexpected, "shapes differ": shapes}
    problems = [f"{label} ({len(items)}): {_listing(items)}" for label, items in found.items() if items]
    raise UsageError(f"{source} does not fit {type(model).__name__}: " + "; ".join(problems))


def _unwrap(model: nn.Module) -> nn.Module:
    """The module inside DataParallel / DDP (`.module`) and torch.compile (`._orig_mod`) wrappers."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif isinstance(dict(model.named_children()).get("_orig_mod"), nn.Module):
            model = model._orig_mod
        else:
            return model


def save_checkpoint(model: nn.Module, path: str | Path, meta: Mapping[str, Any]) -> Path:
    """Write `{"state_dict": ..., "meta": ...}` to `path` (atomically, tensors on the CPU) and return the path.

    The meta is the model's own (`model.liftbench_meta` of a `create_model` model: model name, pool_kwargs,
    num_classes, mean, std) updated with `meta`, plus `version`. It must hold every key of `REQUIRED_META`:
    model, pool_kwargs, num_classes, mean and std (the input normalisation), recipe (the training recipe) and
    dataset, and be JSON-serialisable so that it loads with `weights_only=True`.
    """
    model = _unwrap(model)
    own = {key: value for key, value in getattr(model, "liftbench_meta", {}).items() if key in REQUIRED_META}
    merged = {**own, **meta, "version": __version__}
    missing = [key for key in REQUIRED_META if merged.get(key) is None]
    if missing:
        raise UsageError(f"checkpoint metadata lacks {missing}; pass them in meta (required: {list(REQUIRED_META)})")
    try:
        json.dumps(merged)
    except TypeError as exc:
        raise UsageError(f"checkpoint metadata must be plain data (str, numbers, lists, dicts): {exc}") from exc
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    return save_atomically({"state_dict": state, "meta": merged}, path)


def save_atomically(obj: Any, path: str | Path) -> Path:
    """`torch.save(obj)` to `path` through a temporary file in the same folder and `os.replace`, so a crash
    never leaves a truncated file; the file gets the usual permissions (0666 less the umask), not the
    temporary file's 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, suffix=".tmp", delete=False) as tmp:
        torch.save(obj, tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp.name, 0o666 & ~umask)
    os.replace(tmp.name, path)
    return path
