"""Natural distribution shifts in their released folder layouts: what each class folder means to an ImageNet model.

- ImageNet-V2 (`imagenetv2-matched-frequency-format-val`, `-threshold0.7-`, `-top-images-`): class folders `0`..`999`
  named by their ImageNet-1k class *index*. Sorting them as strings (torchvision's `ImageFolder`) puts `10` before
  `2` and mislabels almost every class (modestyachts/ImageNetV2 issue 10), so the folder name is the label.
- ImageNet-R and ImageNet-A: 200 wnid folders each (`ood_classes/imagenet_r.txt`, `imagenet_a.txt`); labels are the
  wnids' ImageNet-1k indices and only those 200 outputs of the model are ranked (`ShiftSet.valid_labels`).
- ImageNet-Sketch: the 1000 wnid folders (`ood_classes/imagenet_1k.txt`).
- Any other set (ObjectNet-style): a JSON mapping `{folder: [ImageNet-1k indices]}`; a folder's label is its
  position among the sorted folders, and each listed output predicts its folder.

The wnid lists are data with their source in their headers (hendrycks' eval.py files); docs/ood.md has the rest.
"""

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from robustbench_lift.data.imagefolder import ImageFolder, subfolders
from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.effective_robustness import OOD_SETS

CLASS_LISTS = Path(__file__).with_name("ood_classes")
V2_VARIANTS = {"matched-frequency": "imagenet-v2-matched-frequency", "threshold0.7": "imagenet-v2-threshold0.7",
               "top-images": "imagenet-v2-top-images"}
"""Folder-name token of an ImageNet-V2 release (its tarball's name) -> set name."""
V2 = tuple(name for name in OOD_SETS if name.startswith("imagenet-v2"))
WNID_SETS = {"imagenet-r": "imagenet_r", "imagenet-a": "imagenet_a", "imagenet-sketch": "imagenet_1k"}
"""Set name -> its class list in `ood_classes`."""
MAPPED = "mapped"
EXAMPLES = 5


@cache
def wnids(name: str) -> tuple[str, ...]:
    """The wnids of `ood_classes/<name>.txt` (`imagenet_1k`, `imagenet_r`, `imagenet_a`), `#` lines skipped."""
    lines = (CLASS_LISTS / f"{name}.txt").read_text().splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def imagenet_index() -> dict[str, int]:
    """`{wnid: ImageNet-1k class index}` of the 1000 classes."""
    return {wnid: i for i, wnid in enumerate(wnids("imagenet_1k"))}


@dataclass(frozen=True)
class ShiftSet:
    """A natural-shift set's classes: `name` (one of `OOD_SETS`), `class_map` `{folder: label}` and
    `valid_labels` `{model output: label}` (None: all 1000 outputs, each its own label)."""

    name: str
    class_map: dict[str, int]
    valid_labels: dict[int, int] | None = None


def _examples(names: list[str] | set[str]) -> str:
    names = sorted(names)
    return ", ".join(names[:EXAMPLES]) + (f", ... ({len(names)} in all)" if len(names) > EXAMPLES else "")


def _looks_like(folders: list[str]) -> str:
    """What `folders` are, in words, with the `--ood-set` that fits them when one does."""
    found = set(folders)
    if all(re.fullmatch(r"\d+", name) for name in folders):
        return f"{len(folders)} numbered folders ({_examples(found)}): ImageNet-V2's layout, --ood-set imagenet-v2"
    for name, listed in WNID_SETS.items():
        if found == set(wnids(listed)):
            return f"the {len(folders)} wnid folders of {name}: --ood-set {name}"
    wnid_like = all(re.fullmatch(r"n\d{8}", name) for name in folders)
    return f"{len(folders)} {'wnid ' if wnid_like else ''}folders ({_examples(found)})"


def _v2(root: Path, folders: list[str], name: str | None) -> ShiftSet:
    expected = {str(i) for i in range(1000)}
    if set(folders) != expected:
        missing, other = expected - set(folders), set(folders) - expected
        found = _looks_like(folders) if other else f"{len(missing)} of them missing ({_examples(missing)})"
        raise UsageError(f"{root}: ImageNet-V2 needs class folders 0..999 (class indices); found {found}")
    lowered = root.name.lower().replace("_", "-")
    variant = next((v for token, v in V2_VARIANTS.items() if token in lowered or token.replace("-", "") in lowered),
                   "imagenet-v2")
    return ShiftSet(name or variant, {folder: int(folder) for folder in folders})


def _wnid_set(root: Path, folders: list[str], name: str) -> ShiftSet:
    classes = wnids(WNID_SETS[name])
    if set(folders) != set(classes):
        missing, unknown = set(classes) - set(folders), set(folders) - set(classes)
        raise UsageError(f"{root}: {name} needs its {len(classes)} wnid class folders; found {_looks_like(folders)}"
                         + (f"; {len(unknown)} not {name}'s" if unknown else "")
                         + (f"; {len(missing)} missing ({_examples(missing)})" if missing else ""))
    index = imagenet_index()
    class_map = {wnid: index[wnid] for wnid in folders}
    restricted = None if len(classes) == len(index) else {index[w]: index[w] for w in classes}
    return ShiftSet(name, class_map, restricted)


def read_mapping(path: str | Path) -> dict[str, list[int]]:
    """`{folder: [ImageNet-1k indices]}` of an ObjectNet-style JSON mapping file."""
    path = Path(path)
    try:
        mapping = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"class mapping {path}: expected a JSON file {{folder: [ImageNet indices]}} ({exc})") from exc
    if not isinstance(mapping, dict) or not mapping or not all(
            isinstance(v, list) and v and all(type(i) is int and 0 <= i < 1000 for i in v) for v in mapping.values()):
        raise UsageError(f"class mapping {path}: expected {{folder: [ImageNet-1k indices 0..999, at least one]}}")
    return {str(k): v for k, v in mapping.items()}


def _mapped(root: Path, folders: list[str], mapping: dict[str, list[int]]) -> ShiftSet:
    if set(folders) != set(mapping):
        missing, unknown = set(mapping) - set(folders), set(folders) - set(mapping)
        raise UsageError(f"{root}: the class mapping names {len(mapping)} folders, found {len(folders)}"
                         + (f"; not in the mapping: {_examples(unknown)}" if unknown else "")
                         + (f"; missing: {_examples(missing)}" if missing else ""))
    labels = {folder: i for i, folder in enumerate(sorted(mapping))}
    valid: dict[int, int] = {}
    for folder, outputs in mapping.items():
        for output in outputs:
            if valid.setdefault(output, labels[folder]) != labels[folder]:
                raise UsageError(f"class mapping: ImageNet index {output} is listed under two folders (one is "
                                 f"{folder}); each model output can stand for one class only")
    return ShiftSet(MAPPED, labels, valid)


def shift_set(root: str | Path, name: str | None = None, mapping: str | Path | None = None) -> ShiftSet:
    """The classes of the natural-shift folder `root` as set `name` (one of `OOD_SETS`; None: recognised from the
    folders, `mapped` when a `mapping` file is given). A layout that is not the set's is a `UsageError` naming what
    was found (R's folders given as V2, missing classes, unknown wnids)."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"data folder {root} not found: expected a natural-shift set (<class>/<image>)")
    if name is not None and name not in OOD_SETS:
        raise UsageError(f"unknown --ood-set {name!r}: expected one of {', '.join(OOD_SETS)}")
    if (name == MAPPED and mapping is None) or (mapping is not None and name not in (None, MAPPED)):
        raise UsageError("--ood-set mapped needs --ood-class-map (JSON {folder: [ImageNet indices]}), and a class "
                         "mapping needs --ood-set mapped or none")
    folders = subfolders(root)
    if not folders:
        raise UsageError(f"{root}: no class folders; expected a natural-shift set (<class>/<image>)")
    if mapping is not None:
        return _mapped(root, folders, read_mapping(mapping))
    if name is None:
        numbered = all(re.fullmatch(r"\d+", folder) for folder in folders)
        name = next((n for n, listed in WNID_SETS.items() if set(folders) == set(wnids(listed))), None)
        if numbered:
            return _v2(root, folders, None)
        if name is None:
            raise UsageError(f"{root}: {_looks_like(folders)} match no natural-shift layout; pass --ood-set "
                             f"({', '.join(OOD_SETS)})")
    return _v2(root, folders, name) if name in V2 else _wnid_set(root, folders, name)


def clean_counterpart(root: str | Path, shift: ShiftSet, **reading: object) -> ImageFolder:
    """The ImageNet validation folder `root` (1000 wnid folders) as the in-distribution cell of `shift`: the images
    of the classes its model outputs stand for (`valid_labels`: ImageNet-R/-A's 200, as Taori et al.'s
    "val-on-imagenet-r-classes"), labelled as those outputs predict. `reading`: `ImageFolder`'s size keywords."""
    folder = ImageFolder(root, imagenet_index(), **reading)
    if shift.valid_labels is not None:
        folder.samples = [(rel, shift.valid_labels[label]) for rel, label in folder.samples
                          if label in shift.valid_labels]
        if not folder.samples:
            raise UsageError(f"{root}: no images of the {len(shift.valid_labels)} classes of {shift.name}")
    return folder
