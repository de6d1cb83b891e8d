"""Native resolution: clean images read at the model's own size, corruptions generated at that size, the
severity-scaling rule, and the size and rule recorded in every on-the-fly cell."""

import json
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from corruptions.seeding import corrupt_indexed
from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.errors import UsageError
from robustbench_lift.suites.corruption import CorruptionSuite
from robustbench_lift.suites.options import CorruptionOptions
from robustbench_lift.suites.scaling import PIXEL_CORRUPTIONS, reference_size

SEED = 3
NAMES = ("coffee", "chelsea", "rocket")  # landscape photographs of three sizes: resize and crop both matter


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`<root>/<class>/<photo>.png`: three scikit-image photographs at their own (non-square) sizes."""
    from skimage import data

    root = tmp_path_factory.mktemp("native") / "clean"
    for index, name in enumerate(NAMES):
        (root / f"c{index}").mkdir(parents=True)
        Image.fromarray(getattr(data, name)()[..., :3]).save(root / f"c{index}" / f"{name}.png")
    return root


def _resized(folder: Path, resize: int, crop: int, interpolation: str = "bilinear") -> torch.Tensor:
    """Independent transcription of Resize(shorter side) + CenterCrop with Pillow: uint8 (N, 3, crop, crop)."""
    resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[interpolation]
    images = []
    for path in sorted(folder.glob("*/*.png")):
        image = Image.open(path).convert("RGB")
        w, h = image.size
        size = (resize, int(resize * h / w)) if w <= h else (int(resize * w / h), resize)
        image = image.resize(size, resample)
        left, top = int(round((size[0] - crop) / 2.0)), int(round((size[1] - crop) / 2.0))
        array = np.asarray(image)[top:top + crop, left:left + crop]
        images.append(torch.from_numpy(array.copy()).permute(2, 0, 1))
    return torch.stack(images)


def _cell_inputs(folder: Path, cells: list[tuple[str, int]], **options) -> dict[tuple[str, int], torch.Tensor]:
    """What the model sees for each cell of an on-the-fly `c` suite, from the suite's own views of the data."""
    suite = CorruptionSuite(folder, CorruptionOptions(corruptions=sorted({c for c, _ in cells}),
                                                      severities=sorted({s for _, s in cells}), backend="torch",
                                                      **options), seed=SEED)
    (group,) = suite.groups()
    dataset, inputs = group.prepare(group.cells)
    items = [dataset[i] for i in range(len(dataset))]
    batch, indices = torch.stack([item[1] for item in items]), torch.tensor([item[0] for item in items])
    return {cell: inputs(batch, indices, cell) for cell in cells}


@pytest.mark.parametrize(("size", "interpolation"), [(160, "bilinear"), (288, "bicubic")])
def test_on_the_fly_cells_equal_corrupting_the_resized_images(folder: Path, size: int, interpolation: str) -> None:
    cells = [("defocus_blur", 2), ("gaussian_noise", 1)]
    resize = round(size / 0.875)
    seen = _cell_inputs(folder, cells, resize=resize, crop=size, interpolation=interpolation)
    clean = _resized(folder, resize, size, interpolation)
    assert clean.shape[-2:] == (size, size)
    for cell in cells:
        expected = corrupt_indexed(clean, [0, 1, 2], *cell, SEED, "torch")
        torch.testing.assert_close(seen[cell], expected, atol=0, rtol=0)


def test_area_scaling_corrupts_pixel_constants_at_the_reference_area(folder: Path) -> None:
    """Under "area", a pixel-constant corruption is applied at 224 x 224 and resampled back (transcribed with
    `F.interpolate`); a per-pixel one is unchanged; at 224 px both rules agree."""
    assert "defocus_blur" in PIXEL_CORRUPTIONS and "gaussian_noise" not in PIXEL_CORRUPTIONS
    assert reference_size(288, 288) == (224, 224) and reference_size(200, 300) == (183, 274)
    cells = [("defocus_blur", 2), ("gaussian_noise", 1)]
    area = _cell_inputs(folder, cells, resize=320, crop=288, severity_scaling="area")
    clean = _resized(folder, 320, 288)

    def resample(x: torch.Tensor, side: int) -> torch.Tensor:
        out = F.interpolate(x.double(), size=(side, side), mode="bilinear", antialias=True, align_corners=False)
        return out.round().clamp(0, 255).to(torch.uint8)

    expected = resample(corrupt_indexed(resample(clean, 224), [0, 1, 2], "defocus_blur", 2, SEED, "torch"), 288)
    assert (area[("defocus_blur", 2)].int() - expected.int()).abs().max() <= 1  # float vs double rounding
    none = corrupt_indexed(clean, [0, 1, 2], "defocus_blur", 2, SEED, "torch")
    assert (area[("defocus_blur", 2)].float() - none.float()).abs().mean() > 1  # the rule changes the cell
    torch.testing.assert_close(area[("gaussian_noise", 1)], corrupt_indexed(clean, [0, 1, 2], "gaussian_noise", 1,
                                                                            SEED, "torch"), atol=0, rtol=0)
    at_224 = _cell_inputs(folder, cells[:1], resize=256, crop=224, severity_scaling="area")
    torch.testing.assert_close(at_224[cells[0]], corrupt_indexed(_resized(folder, 256, 224), [0, 1, 2], *cells[0],
                                                                 SEED, "torch"), atol=0, rtol=0)
    with pytest.raises(UsageError, match="unknown severity scaling 'linear'"):
        _cell_inputs(folder, cells, severity_scaling="linear")


FACTORY = """
import torch
from torch import nn

SEEN = []


class Net(nn.Module):
    def __init__(self, side):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.pretrained_cfg = {"input_size": (3, side, side), "crop_pct": side / (side + 32),
                               "interpolation": "bicubic", "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}

    def forward(self, x):
        if x.device.type != "meta":  # resolve_model traces the model once on the meta device
            SEEN.append(tuple(x.shape))
        return self.fc(x.mean((2, 3)))


def build(side=288):
    return Net(side)
"""


def test_evaluate_reads_and_corrupts_at_the_models_config_size(folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("timm")  # the factory's model carries a timm-style pretrained config
    (tmp_path / "net.py").write_text(textwrap.dedent(FACTORY))
    spec, out = f"{tmp_path / 'net.py'}:build", tmp_path / "r.db"
    blur = CorruptionOptions(corruptions=["defocus_blur"], severities=[1])
    run = RunOptions(progress=False, batch_size=8)
    frame = evaluate(spec, blur, folder, run=replace(run, out=out))
    module = next(m for name, m in sys.modules.items() if name.startswith("_liftbench_factory_")
                  and getattr(m, "__file__", None) == str(tmp_path / "net.py"))
    assert {shape[1:] for shape in module.SEEN} == {(3, 288, 288)}
    fingerprints = {(c, s): f for c, s, f in zip(frame["corruption"], frame["severity"], frame["fingerprint"])}
    assert fingerprints[("defocus_blur", 1)]["input_size"] == 288
    assert fingerprints[("defocus_blur", 1)]["severity_scaling"] == "none"
    assert fingerprints[("clean", 0)]["input_size"] == 288
    assert fingerprints[("clean", 0)]["interpolation"] == "bicubic"  # the model's config
    assert frame["model"].unique().tolist() == [f"{tmp_path.as_posix()}/net.py:build"]
    module.SEEN.clear()
    evaluate(spec, blur, folder, run=replace(run, out=tmp_path / "s.db"),
             options=ModelOptions(model_args={"side": 160}))
    assert {shape[1:] for shape in module.SEEN} == {(3, 160, 160)}
    module.SEEN.clear()
    frame = evaluate(spec, replace(blur, resize=200, crop=176), folder, run=replace(run, out=tmp_path / "t.db"))
    assert {shape[1:] for shape in module.SEEN} == {(3, 176, 176)}  # explicit sizes win over the model's config
    assert json.loads(json.dumps(frame["fingerprint"][0]))["input_size"] == 176


def test_paired_comparison_refuses_cells_of_other_sizes_or_scaling() -> None:
    from robustbench_lift.metrics.paired import CellData, check_pairing

    labels = np.arange(4)
    base = {"data": "x", "seed": 0, "input_size": 224, "severity_scaling": "none"}
    for key, value in (("input_size", 288), ("severity_scaling", "area")):
        with pytest.raises(UsageError, match=f"settings differ: {key}"):
            check_pairing({("c", "fog", 1): CellData(labels, base)},
                          {("c", "fog", 1): CellData(labels, {**base, key: value})})
