"""Suite `c`: ImageNet-C, Tiny-ImageNet-C and CIFAR-C as released, or any clean data corrupted on the fly."""

from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from corruptions.jpeg import jpeg_roundtrip
from corruptions.names import expand_corruptions, severities_of
from corruptions.registry import Corruption, resolve_corruption
from robustbench_lift.data import CifarC, ImageNetC, detect_layout, open_clean
from robustbench_lift.errors import UsageError
from robustbench_lift.suites.base import CLEAN, CellGroup, InputFn, Suite, clean_protocol, read_as, static_group
from robustbench_lift.suites.options import CorruptionOptions, at_model_size, reading
from robustbench_lift.suites.protocol import resolve_preset, warn_far_size
from robustbench_lift.suites.scaling import check_scaling, corrupt_scaled


def jpeg_setting(quality: int | None, on_the_fly: bool, data: str | Path) -> tuple[dict[str, int], str]:
    """The fingerprint entry and data set name suffix of `--jpeg-quality` (`corruptions.jpeg`): `{"jpeg_quality": q}`
    and `-jpeg<q>`, or nothing without it (fingerprints as before the option). A `UsageError` for a quality outside
    1-95 or for a pre-rendered tree, whose images are saved already."""
    if quality is None:
        return {}, ""
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 95:
        raise UsageError(f"jpeg quality must be an integer in 1..95 (Pillow's scale; the release used 85), got "
                         f"{quality!r}")
    if not on_the_fly:
        raise UsageError(f"--jpeg-quality applies to corruption on the fly; {data} holds rendered images, saved as "
                         "they are: drop it")
    return {"jpeg_quality": quality}, f"-jpeg{quality}"


def saved_as_jpeg(inputs: InputFn, jpeg: dict[str, int]) -> InputFn:
    """`inputs` whose corrupted cells' images are saved as JPEG and read back (`corruptions.jpeg`); `jpeg`: the
    entry of `jpeg_setting` (empty: `inputs` as it is). The clean cell is not re-saved, as the release's was not."""
    if not jpeg:
        return inputs

    def saved(batch: Tensor, indices: Tensor, cell: tuple[str, int]) -> Tensor:
        images = inputs(batch, indices, cell)
        return images if cell == CLEAN else jpeg_roundtrip(images, jpeg["jpeg_quality"])
    return saved


class _CleanAndReference(Dataset):
    """Item `(index, uint8 (1 + R, 3, H, W), label)`: the clean image, decoded once, and its corruptions for the
    R cells that use the reference backend, computed here, i.e. in the loader workers."""

    def __init__(self, dataset: Dataset, cells: list[Corruption], seed: int, scaling: str) -> None:
        self.dataset, self.cells, self.seed, self.scaling = dataset, cells, seed, scaling

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[int, Tensor, int]:
        index, image, label = self.dataset[index]
        views = [corrupt_scaled(image[None], [index], cell, self.seed, self.scaling)[0] for cell in self.cells]
        return index, torch.stack([image, *views]), label


class CorruptionSuite(Suite):
    """Suite `c`: every `(corruption, severity)` of a corruption set, plus the clean cell when available.

    `data`: a pre-rendered tree (ImageNet-C, Tiny-ImageNet-C), a CIFAR-C folder, or clean images (a folder,
    CIFAR test pickles, `"demo"`) corrupted on the fly with `corruptions.corrupt`, seeded per image from `seed`:
    cells whose backend (`"auto"` resolved per corruption for `device`) is `"torch"` are corrupted on the
    device from the decoded batch, `"reference"` ones in the loader workers. `preset`: the severity constants of
    on-the-fly corruption, `"imagenet"` or `"cifar"` (CIFAR-10-C's, for 32 px images; `corruptions.presets`);
    default: the data set's own (`suites.protocol`: CIFAR's for the demo set and CIFAR pickles, else
    ImageNet's). On-the-fly numbers are "ImageNet-C style" ("CIFAR-10-C style"), not comparable with the
    released images: the data set name gets `-otf` (`-otf-cifar`). Clean images are read at the model's size (`options.
    resize`/`crop`, `at_model_size`) and corrupted at that size, pixel constants scaled by `severity_scaling`
    (`suites.scaling`); both are in the on-the-fly cells' fingerprints (`input_size`, `severity_scaling`). With
    `jpeg_quality`, each corrupted image is saved as JPEG and read back (`corruptions.jpeg`), as the release's were
    (fingerprint `jpeg_quality`, data set name `-jpeg<q>`).
    """

    name = "c"

    def __init__(self, data: str | Path, options: CorruptionOptions = CorruptionOptions(), *, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        options = at_model_size(options)
        self.layout = detect_layout(data)
        on_the_fly = self.layout not in ("imagenet-c", "cifar-c")
        options = clean_protocol(options, not on_the_fly, data)
        if options.preset is not None and not on_the_fly:
            raise UsageError(f"preset {options.preset!r} applies to corruption on the fly; {data} is a pre-rendered "
                             f"{self.layout} tree, whose constants are fixed: drop the preset")
        self.preset = resolve_preset(options.preset, self.layout)
        self.scaling = check_scaling(options.severity_scaling or "none")
        if self.scaling != "none" and not on_the_fly:
            raise UsageError(f"severity scaling {self.scaling!r} applies to corruption on the fly; {data} is a "
                             f"pre-rendered {self.layout} tree: drop it")
        suffix = ("-otf" + ("" if self.preset == "imagenet" else f"-{self.preset}")) if on_the_fly else ""
        self.jpeg, jpeg_suffix = jpeg_setting(options.jpeg_quality, on_the_fly, data)
        super().__init__(options.dataset or Path(str(data)).name + suffix + jpeg_suffix)
        self.corruptions = expand_corruptions(options.corruptions, strict=on_the_fly)
        # subset "freq" has up to 8 levels; every corruption is evaluated at those of the requested it has
        levels = sorted({s for c in self.corruptions for s in severities_of(c)})
        self.severities = sorted(set(options.severities or levels))
        if not set(self.severities) <= set(levels):
            raise UsageError(f"severities must be in 1..{levels[-1]}, got {', '.join(map(str, self.severities))}")
        self.seed = seed
        class_map, clean = options.class_map, options.clean
        if self.layout == "imagenet-c":
            self.tree = ImageNetC(data, class_map)
            class_map = self.tree.class_map
        elif self.layout == "cifar-c":
            self.tree = CifarC(data)
        else:
            self.tree, clean = None, clean or data
            # each cell resolved (name, severity, backend for the device, preset) once for the whole suite
            self.resolved = {(c, s): resolve_corruption(c, s, backend=options.backend, device=device,
                                                        preset=self.preset)
                             for c in self.corruptions for s in self.severities if s in severities_of(c)}
        if self.tree is not None:
            self.tree.check(self.corruptions, self.severities)
        self.clean = None if clean is None else open_clean(clean, class_map, options.resize, options.crop,
                                                           **reading(options))
        if self.tree is None:
            self.read_as = read_as(self.clean)
            warn_far_size(f"suite c on {data}", self.read_as["input_size"], self.preset, self.scaling)

    def _views(self, dataset: Dataset, cells: list[tuple[str, int]]) -> tuple[Dataset, InputFn]:
        in_workers = [cell for cell in cells if cell != CLEAN and self.resolved[cell].backend == "reference"]

        def inputs(batch: Tensor, indices: Tensor, cell: tuple[str, int]) -> Tensor:
            if cell == CLEAN:
                return batch[:, 0]
            if cell in in_workers:
                return batch[:, 1 + in_workers.index(cell)]
            return corrupt_scaled(batch[:, 0], indices.tolist(), self.resolved[cell], self.seed, self.scaling)
        reference = [self.resolved[cell] for cell in in_workers]
        return _CleanAndReference(dataset, reference, self.seed, self.scaling), saved_as_jpeg(inputs, self.jpeg)

    def groups(self) -> list[CellGroup]:
        cells = [(c, s) for c in self.corruptions for s in self.severities if s in severities_of(c)]
        if self.tree is None:
            base = {"data": self.clean.fingerprint(), "images": len(self.clean), "source": "on-the-fly"}
            fingerprints = {CLEAN: {**base, "source": "clean"}}
            settings = {"seed": self.seed, "severity_scaling": self.scaling} | (
                {} if self.preset == "imagenet" else {"preset": self.preset}) | self.jpeg
            fingerprints.update({cell: {**base, **settings, "backend": self.resolved[cell].backend} for cell in cells})
            return [CellGroup(self.clean, fingerprints, self._views)]
        groups = [static_group(self.clean, CLEAN, "clean")] if self.clean else []
        return groups + [static_group(self.tree.cell(*cell), cell, self.layout) for cell in cells]
