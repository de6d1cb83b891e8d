"""Pre-rendered ImageNet-C and Tiny-ImageNet-C trees: `<root>/<corruption>/<severity>/<class>/<image>`.

The released JPEGs (ImageNet-C: 224x224, Tiny-ImageNet-C: 64x64; Hendrycks & Dietterich, ICLR 2019) are
evaluated as they are: no resize, no crop (resizing them first is a known bug of downstream scripts). Each
`(corruption, severity)` folder is an `ImageFolder` whose class folders are indexed by one class map shared by
the whole tree (and by its clean counterpart).
"""

import difflib
from pathlib import Path

from corruptions.names import severities_of
from robustbench_lift.data.checks import odd_cells
from robustbench_lift.data.imagefolder import ImageFolder, class_indices, image_files, subfolders
from robustbench_lift.errors import UsageError

LAYOUT = "<root>/<corruption>/<severity 1-5>/<class>/<image>"


def count_images(folder: Path) -> int:
    """Image files in the class folders of `folder` (what `ImageFolder` would list)."""
    return sum(len(image_files(folder / name)) for name in subfolders(folder))


def is_corruption_tree(root: Path) -> bool:
    """True when some sub-folder of `root` holds numbered severity folders (the ImageNet-C layout)."""
    return any(any(name.isdigit() for name in subfolders(root / c)) for c in subfolders(root))


class ImageNetC:
    """A pre-rendered corruption tree; `cell(corruption, severity)` is the `ImageFolder` of one cell.

    Class indices: `class_map` when given, else the sorted class folders of the first cell found (identical in
    every cell of a complete tree).
    """

    def __init__(self, root: str | Path, class_map: dict[str, int] | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise UsageError(f"ImageNet-C tree {self.root} not found: expected {LAYOUT}")
        self.severities = {c: sorted(int(s) for s in subfolders(self.root / c) if s.isdigit())
                           for c in subfolders(self.root)}
        self.severities = {c: s for c, s in self.severities.items() if s}
        if not self.severities:
            raise UsageError(f"{self.root}: expected {LAYOUT}, found no <corruption>/<severity> folders "
                             f"(sub-folders: {', '.join(subfolders(self.root)[:8]) or 'none'})")
        first = next(iter(self.severities))
        self.class_map = class_map or class_indices(self.root / first / str(self.severities[first][0]))

    @property
    def corruptions(self) -> list[str]:
        """Corruption folders found, sorted."""
        return sorted(self.severities)

    def check(self, corruptions: list[str], severities: list[int]) -> None:
        """Raise a `UsageError` naming what is missing when any requested cell has no folder, or when the cells
        hold different numbers of images (a partial download or render)."""
        absent = [c for c in corruptions if c not in self.severities]
        if absent:
            close = difflib.get_close_matches(absent[0], self.corruptions, n=3)
            raise UsageError(f"{self.root}: no corruption folder(s) {', '.join(a + '/' for a in absent)} (expected "
                             f"{LAYOUT}; found {', '.join(self.corruptions)}"
                             + (f"; closest to {absent[0]}: {', '.join(close)})" if close else ")"))
        for corruption in corruptions:
            missing = [s for s in severities if s not in self.severities[corruption] and s in severities_of(corruption)]
            if missing:
                raise UsageError(f"{self.root / corruption}: no severity folder(s) {', '.join(map(str, missing))} "
                                 f"(found {', '.join(map(str, self.severities[corruption]))}; expected {LAYOUT})")
        cells = [(c, s) for c in corruptions for s in severities if s in severities_of(c)]
        odd = odd_cells({cell: count_images(self.root / cell[0] / str(cell[1])) for cell in cells}) \
            if len(cells) > 1 else []
        if odd:
            raise UsageError(f"{self.root}: incomplete cells: {'; '.join(odd)}; download or render them again "
                             f"(`liftbench validate-data {self.root}` lists every problem)")

    def cell(self, corruption: str, severity: int) -> ImageFolder:
        """The images of one cell, read as they are (no resize, no crop), labelled with the tree's class map."""
        self.check([corruption], [severity])
        return ImageFolder(self.root / corruption / str(severity), self.class_map, resize=None, crop=None)
