"""`validate_data`: what is wrong with a corruption tree, a CIFAR-C folder or an image folder, before evaluating it.

    >>> from robustbench_lift.data.validate import validate_data
    >>> Path("Tiny-ImageNet-C/fog/1").mkdir(parents=True)      # a tree with one corruption at one severity
    >>> report = validate_data("Tiny-ImageNet-C")
    >>> report.ok
    False
    >>> print(report.format())
    ImageNet-C style tree Tiny-ImageNet-C
    ...
    problem: fog/: severities 2, 3, 4, 5 missing
    1 problem(s) found

Checked (every problem is listed, not only the first):
- ImageNet-C style trees `<root>/<corruption>/<severity>/<class>/<image>`: each corruption's severities present
  and nothing else (1..5; subset freq's own levels, 1..8, or 1..7 for phase_noise: `corruptions.names.
  severities_of`); the same class folders in every cell (the released Tiny-ImageNet-C once had a `frost` with
  1000 classes where the others have 200); the same number of images and the same file names in
  every cell; every image readable (its header, or a full decode with `decode=True`) and of the size most
  images have.
- CIFAR-C folders `<root>/<corruption>.npy` + `labels.npy`: readable arrays, uint8 `(5 * n, H, W, 3)` with one
  H x W, integer labels >= 0 repeated identically for the 5 severities.
- Image folders `<class>/<image>`: class folders with images, every image readable.
- Optionally a `sha256sum`-style list (`<hex>  <path relative to the root>`): files missing, differing, or
  present but not listed; a list naming a file outside the root (`..`, absolute, symlinked out) is refused.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from corruptions.names import severities_of
from robustbench_lift.data import detect_layout
from robustbench_lift.data.checks import file_sha256, odd_cells
from robustbench_lift.data.cifar_c import NUM_SEVERITIES, load_npy
from robustbench_lift.data.decode import SIXTEEN_BIT_MODES, open_image, open_rgb
from robustbench_lift.data.imagefolder import IMAGE_EXTENSIONS, image_files, subfolders
from robustbench_lift.errors import LiftbenchError, UsageError

EXAMPLES = 5
"""Names shown per problem (the count says how many there are)."""


@dataclass
class DataReport:
    """What `validate_data` found: `summary` lines, `problems` (anything wrong) and `notes` (worth knowing)."""

    path: Path
    layout: str
    summary: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        lines = [f"{self.layout} {self.path}", *(f"  {line}" for line in self.summary)]
        lines += [f"note: {note}" for note in self.notes]
        lines += [f"problem: {problem}" for problem in self.problems]
        lines.append(f"{len(self.problems)} problem(s) found" if self.problems else "no problems found")
        return "\n".join(lines)


def _examples(names: Iterable[str]) -> str:
    names = sorted(names)
    return ", ".join(names[:EXAMPLES]) + (f", ... ({len(names)} in all)" if len(names) > EXAMPLES else "")


def _read_images(report: DataReport, root: Path, files: list[Path], decode: bool, same_size: bool) -> None:
    """Open every file (header only, or a full decode); report unreadable files and, with `same_size`, sizes other
    than the most common one."""
    sizes: dict[Path, tuple[int, int]] = {}
    broken, deep = [], []
    for path in files:
        try:
            if decode:
                sizes[path] = open_rgb(path).size
            else:
                with open_image(path) as image:
                    sizes[path] = image.size
                    if image.mode in SIXTEEN_BIT_MODES:
                        deep.append(path)
        except LiftbenchError as exc:
            broken.append(f"{path.relative_to(root)} ({exc})")
    if broken:
        report.problems.append(f"{len(broken)} unreadable image(s): {_examples(broken)}")
    if deep:
        report.notes.append(f"{len(deep)} 16-bit grayscale image(s), read scaled to 8 bits: "
                            f"{_examples(str(p.relative_to(root)) for p in deep)}")
    if same_size and sizes:
        (usual, _), = Counter(sizes.values()).most_common(1)
        other = [f"{p.relative_to(root)} ({w}x{h})" for p, (w, h) in sizes.items() if (w, h) != usual]
        report.summary.append(f"images {usual[0]}x{usual[1]}")
        if other:
            report.problems.append(f"{len(other)} image(s) not {usual[0]}x{usual[1]} like the rest: {_examples(other)}")


def _check_tree(report: DataReport, root: Path, images: bool, decode: bool) -> None:
    cells: dict[tuple[str, int], dict[str, list[Path]]] = {}
    for corruption in subfolders(root):
        folders = subfolders(root / corruption)
        allowed = severities_of(corruption)  # 1..5; subset freq's own levels (1..7 or 1..8)
        stray = [f for f in folders if not (f.isdigit() and int(f) in allowed)]
        if stray:
            report.problems.append(f"{corruption}/: folder(s) {_examples(stray)} are not severities 1..{allowed[-1]}")
        found = sorted(int(f) for f in folders if f not in stray)
        missing = [s for s in allowed if s not in found]
        if missing:
            report.problems.append(f"{corruption}/: severities {', '.join(map(str, missing))} missing")
        for severity in found:
            folder = root / corruption / str(severity)
            cells[(corruption, severity)] = {c: image_files(folder / c) for c in subfolders(folder)}
    if not cells:
        report.problems.append("no <corruption>/<severity> cells")
        return
    corruptions = sorted({c for c, _ in cells})
    report.summary.append(f"{len(corruptions)} corruption(s): {', '.join(corruptions)}")
    class_sets = Counter(frozenset(classes) for classes in cells.values())
    usual = set(class_sets.most_common(1)[0][0])
    for (corruption, severity), classes in cells.items():
        if set(classes) != usual:
            extra, absent = set(classes) - usual, usual - set(classes)
            report.problems.append(
                f"{corruption}/{severity}: {len(classes)} classes where {class_sets[frozenset(usual)]} other "
                f"cell(s) have {len(usual)}" + (f"; extra: {_examples(extra)}" if extra else "")
                + (f"; missing: {_examples(absent)}" if absent else ""))
        empty = [c for c, files in classes.items() if not files]
        if empty:
            report.problems.append(f"{corruption}/{severity}: class folder(s) without images: {_examples(empty)}")
    counts = {cell: sum(map(len, classes.values())) for cell, classes in cells.items()}
    report.problems += odd_cells(counts)
    usual_count = Counter(counts.values()).most_common(1)[0][0]
    _other_files(report, {cell: {f"{c}/{f.name}" for c, files in classes.items() for f in files}
                          for cell, classes in cells.items() if set(classes) == usual and counts[cell] == usual_count})
    report.summary.append(f"{len(cells)} cell(s), {len(usual)} classes, {usual_count} images per cell")
    if images:
        files = [f for classes in cells.values() for folder in classes.values() for f in folder]
        _read_images(report, root, files, decode, same_size=True)


def _other_files(report: DataReport, names: dict[tuple[str, int], set[str]]) -> None:
    """Report the cells whose files (`<class>/<file>`; cells of the usual classes and count) are not the ones most
    cells have: image i of every cell is meant to be the same photograph, paired by sorted name."""
    if len(names) < 2:
        return
    (usual, cells), = Counter(frozenset(files) for files in names.values()).most_common(1)
    for (corruption, severity), files in names.items():
        if files != usual:
            report.problems.append(f"{corruption}/{severity}: files {_examples(files - usual)} where {cells} other "
                                   f"cell(s) have {_examples(usual - files)}")


def _check_folder(report: DataReport, root: Path, images: bool, decode: bool) -> None:
    classes = {c: image_files(root / c) for c in subfolders(root)}
    report.summary.append(f"{len(classes)} classes, {sum(map(len, classes.values()))} images")
    empty = [c for c, files in classes.items() if not files]
    if empty:
        report.problems.append(f"class folder(s) without images: {_examples(empty)}")
    if images:
        _read_images(report, root, [f for files in classes.values() for f in files], decode, same_size=False)


def _load(report: DataReport, path: Path) -> np.ndarray | None:
    try:
        return load_npy(path, mmap=True)
    except UsageError as exc:
        report.problems.append(str(exc))
        return None


def _check_cifar_c(report: DataReport, root: Path) -> None:
    labels = _load(report, root / "labels.npy")
    if labels is None:
        return
    if labels.ndim != 1 or not len(labels) or len(labels) % NUM_SEVERITIES or labels.dtype.kind not in "iu":
        report.problems.append(f"labels.npy: expected integers of shape (5*n,), found {labels.dtype} {labels.shape}")
        return
    n = len(labels) // NUM_SEVERITIES
    if labels.min() < 0:
        report.problems.append(f"labels.npy: negative labels (min {labels.min()})")
    if any(not np.array_equal(labels[:n], labels[k * n:(k + 1) * n]) for k in range(1, NUM_SEVERITIES)):
        report.problems.append("labels.npy: the labels of the 5 severities differ (expected n labels repeated 5 times)")
    corruptions = sorted(p.stem for p in root.glob("*.npy") if p.stem != "labels")
    report.summary.append(f"{len(corruptions)} corruption(s): {', '.join(corruptions)}")
    report.summary.append(f"{n} images per severity, {int(labels.max()) + 1} classes")
    shapes = {}
    for corruption in corruptions:
        array = _load(report, root / f"{corruption}.npy")
        if array is None:
            continue
        if array.dtype != np.uint8 or array.ndim != 4 or array.shape[3] != 3 or array.shape[0] != len(labels):
            report.problems.append(f"{corruption}.npy: expected uint8 ({len(labels)}, H, W, 3), found {array.dtype} "
                                   f"{array.shape}")
        else:
            shapes[corruption] = array.shape[1:3]
    if len(set(shapes.values())) > 1:
        (usual, _), = Counter(shapes.values()).most_common(1)
        odd = [f"{c} ({h}x{w})" for c, (h, w) in shapes.items() if (h, w) != usual]
        report.problems.append(f"array(s) not {usual[0]}x{usual[1]} like the rest: {_examples(odd)}")


def read_sha256_list(path: str | Path) -> dict[str, str]:
    """`{relative path: hex digest}` of a `sha256sum` output file (`<hex>  <path>` or `<hex> *<path>`)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"sha256 list {path} not found: expected the output of `sha256sum` (<hex>  <path>)")
    listed = {}
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        digest, _, name = line.strip().partition(" ")
        name = name.strip().lstrip("*")
        if len(digest) != 64 or not name or "\0" in name or any(c not in "0123456789abcdefABCDEF" for c in digest):
            raise UsageError(f"sha256 list {path}, line {number}: expected '<64 hex digits>  <path>', got {line!r}")
        listed[name.removeprefix("./")] = digest.lower()
    return listed


def _inside(root: Path, listing: dict[str, str], source: str | Path) -> dict[str, str]:
    """`listing` with its names relative to `root` (a list made in the parent folder names `<root>/...`); a
    `UsageError` for a name resolving outside `root` (`../x`, an absolute path, a symlink pointing out): hashing
    it would read a file that is not the data and tell whether it matches the listed digest."""
    if listing and all(name.startswith(f"{root.name}/") for name in listing):
        listing = {name.removeprefix(f"{root.name}/"): digest for name, digest in listing.items()}
    base = root.resolve()
    for name in listing:
        target = (root / name).resolve()
        if not target.is_relative_to(base):
            raise UsageError(f"sha256 list {source}: {name} resolves to {target}, outside {root}; list only files "
                             "inside the data folder, by paths relative to it (symlinks must point inside it)")
    return listing


def _check_sha256(report: DataReport, root: Path, listing: dict[str, str]) -> None:
    missing, differ = [], []
    for name, digest in listing.items():
        file = root / name
        if not file.is_file():
            missing.append(name)
        elif file_sha256(file).hex() != digest:
            differ.append(name)
    data = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
            and p.suffix.lower() in IMAGE_EXTENSIONS | {".npy"} and not p.name.startswith(".")}
    unlisted = data - set(listing)
    for what, names in (("listed but missing", missing), ("with another sha256 than listed", differ),
                        ("not in the sha256 list", unlisted)):
        if names:
            report.problems.append(f"{len(names)} file(s) {what}: {_examples(names)}")
    report.summary.append(f"sha256: {len(listing) - len(missing) - len(differ)} of {len(listing)} listed files match")


def validate_data(path: str | Path, sha256: str | Path | None = None, images: bool = True,
                  decode: bool = False) -> DataReport:
    """Check the data at `path` (module docstring); `images`: open every image file (header), `decode`: decode
    every image fully (slower; finds truncated files). A `UsageError` when `path` is none of these layouts."""
    root = Path(path)
    layout = detect_layout(root)
    names = {"imagenet-c": "ImageNet-C style tree", "cifar-c": "CIFAR-C folder", "folder": "image folder"}
    if layout not in names:
        raise UsageError(f"{root}: a {layout} layout; validate-data checks ImageNet-C style trees "
                         "(<corruption>/<severity>/<class>/<image>), CIFAR-C folders and image folders")
    listing = _inside(root, read_sha256_list(sha256), sha256) if sha256 is not None else None
    report = DataReport(root, names[layout])
    if layout == "imagenet-c":
        _check_tree(report, root, images, decode)
    elif layout == "cifar-c":
        _check_cifar_c(report, root)
    else:
        _check_folder(report, root, images, decode)
    if listing is not None:
        _check_sha256(report, root, listing)
    return report
