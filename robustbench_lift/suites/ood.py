"""Suite `ood`: natural distribution shifts (ImageNet-V2, -R, -A, -Sketch, mapped sets), one clean-only cell each.

    >>> from robustbench_lift.suites import make_suite
    >>> suite = make_suite("ood", "imagenet-r", OODOptions(clean="imagenet/val"))   # doctest: +SKIP
    >>> [group.cells for group in suite.groups()]                                   # doctest: +SKIP
    [[('clean', 0)], [('imagenet-r', 0)]]

The shifted set's cell is `(<set name>, 0)`, its images read like clean ones (the model's resize and crop); with
`clean`, the ImageNet validation folder gives the `("clean", 0)` cell, restricted to the same classes (the x axis
of effective robustness, `metrics.effective_robustness`). Labels and the outputs ranked come from `data.ood`.
"""

import hashlib
import json
from pathlib import Path

import torch

from robustbench_lift.data.imagefolder import ImageFolder
from robustbench_lift.data.ood import clean_counterpart, shift_set
from robustbench_lift.suites.base import CLEAN, CellGroup, Suite, read_as
from robustbench_lift.suites.options import OODOptions, at_model_size, reading


class OODSuite(Suite):
    """Suite `ood` over a natural-shift folder `data` (`data.ood.shift_set`), plus its ImageNet `clean` cell."""

    name = "ood"

    def __init__(self, data: str | Path, options: OODOptions = OODOptions(), *, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        options = at_model_size(options)
        self.shift = shift_set(data, options.ood_set, options.ood_class_map)
        super().__init__(options.dataset or Path(data).name)
        sizes = {"resize": options.resize, "crop": options.crop, **reading(options)}
        self.images = ImageFolder(data, self.shift.class_map, **sizes)
        self.clean = None if options.clean is None else clean_counterpart(options.clean, self.shift, **sizes)
        self.read_as = read_as(self.images)

    def _group(self, dataset: ImageFolder, cell: tuple[str, int], source: str) -> CellGroup:
        fingerprint = {"data": dataset.fingerprint(), "images": len(dataset), "source": source,
                       "ood_set": self.shift.name}
        if self.shift.valid_labels is not None:  # which outputs compete, and for which label
            listed = json.dumps(sorted(self.shift.valid_labels.items()))
            fingerprint["valid_labels"] = hashlib.sha256(listed.encode()).hexdigest()
        return CellGroup(dataset, {cell: fingerprint}, valid_labels=self.shift.valid_labels)

    def groups(self) -> list[CellGroup]:
        shifted = self._group(self.images, (self.shift.name, 0), "ood")
        return [shifted] if self.clean is None else [self._group(self.clean, CLEAN, "clean"), shifted]
