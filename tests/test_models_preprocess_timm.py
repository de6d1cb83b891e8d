"""A timm model's clean images are read as timm's own eval transform reads them (issue 28.2): the three crop modes
("center", "squash", "border") of hand-built pretrained configs against `timm.data.create_transform`, on
non-square photographs (no download)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from evaluate_fixtures import evaluate_named
from PIL import Image
from torch import nn

from robustbench_lift.data.imagefolder import ImageFolder
from robustbench_lift.models.preprocess import from_timm

timm_data = pytest.importorskip("timm.data")

NAMES = ("coffee", "rocket", "astronaut")  # landscape, landscape, square
IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
HALF = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
CONFIGS = [
    dict(input_size=(3, 72, 72), crop_pct=0.875, crop_mode="center", interpolation="bicubic", **IMAGENET),
    dict(input_size=(3, 72, 72), crop_pct=1.0, crop_mode="squash", interpolation="bicubic", **HALF),
    dict(input_size=(3, 80, 80), crop_pct=0.9, crop_mode="squash", interpolation="bilinear", **IMAGENET),
    dict(input_size=(3, 72, 72), crop_pct=1.0, crop_mode="border", interpolation="bicubic", **HALF),
    dict(input_size=(3, 80, 80), crop_pct=0.95, crop_mode="border", interpolation="bilinear", **IMAGENET),
]


class Configured(nn.Module):
    """A module carrying a timm pretrained config, as `timm.create_model` sets it."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        self.pretrained_cfg = config


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skimage import data

    root = tmp_path_factory.mktemp("timm") / "clean"
    for index, name in enumerate(NAMES):
        (root / f"c{index}").mkdir(parents=True)
        Image.fromarray(getattr(data, name)()[..., :3]).save(root / f"c{index}" / f"{name}.png")
    return root


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c['crop_mode']}-{c['crop_pct']}")
def test_images_equal_timms_create_transform(folder: Path, config: dict) -> None:
    prep = from_timm(Configured(config))
    assert prep.crop_mode == config["crop_mode"]
    images = ImageFolder(folder, resize=prep.resize, crop=prep.input_size, interpolation=prep.interpolation,
                         crop_mode=prep.crop_mode, fill=prep.border_fill)
    transform = timm_data.create_transform(**timm_data.resolve_data_config(pretrained_cfg=config))
    mean, std = torch.tensor(prep.mean).view(3, 1, 1), torch.tensor(prep.std).view(3, 1, 1)
    for index, path in enumerate(sorted(folder.glob("*/*.png"))):
        expected = transform(Image.open(path).convert("RGB"))
        ours = (images[index][1].float() / 255 - mean) / std
        assert ours.shape == expected.shape == (3, *config["input_size"][1:])
        assert np.abs((ours - expected).numpy()).max() < 1e-5


FACTORY = """
import torch
from torch import nn

SEEN = []


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.pretrained_cfg = {CONFIG}

    def forward(self, x):
        if x.device.type != "meta":  # resolve_model traces the model once on the meta device
            SEEN.append(x.clone())
        return self.fc(x.mean((2, 3)))


def build():
    return Net()
"""


@pytest.mark.parametrize("config", CONFIGS[1::2], ids=lambda c: c["crop_mode"])
def test_evaluate_sees_timms_pixels_and_records_the_crop_mode(folder: Path, tmp_path: Path, config: dict) -> None:
    """A `file.py:factory` model with a timm config: its inputs are timm's eval transform's, its cells record the
    crop mode (and the border's pad colour)."""
    import sys

    (tmp_path / "net.py").write_text(FACTORY.replace("{CONFIG}", repr(config)))
    frame = evaluate_named(f"{tmp_path / 'net.py'}:build", "clean", folder, batch_size=8, progress=False)
    module = next(m for name, m in sys.modules.items() if name.startswith("_liftbench_factory_")
                  and getattr(m, "__file__", None) == str(tmp_path / "net.py"))
    transform = timm_data.create_transform(**timm_data.resolve_data_config(pretrained_cfg=config))
    expected = torch.stack([transform(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*/*.png"))])
    assert np.abs((torch.cat(module.SEEN).float() - expected).numpy()).max() < 1e-5
    fingerprint = frame["fingerprint"][0]
    assert fingerprint["crop_mode"] == config["crop_mode"]
    assert fingerprint.get("border_fill") == ([128, 128, 128] if config["crop_mode"] == "border" else None)


TESTED = dict(CONFIGS[0], test_input_size=(3, 96, 96), test_crop_pct=1.0)
"""A config whose published accuracy (timm's `validate.py`, `use_test_size`) is measured at another size and crop."""


def test_test_size_is_timms_validate_protocol(folder: Path, tmp_path: Path) -> None:
    import sys

    from robustbench_lift.errors import UsageError

    prep = from_timm(Configured(TESTED), test_size=True)
    config = timm_data.resolve_data_config(pretrained_cfg=TESTED, use_test_size=True)
    assert (prep.input_size, prep.resize, prep.crop_mode) == (96, 96, "center")
    transform = timm_data.create_transform(**config)
    expected = torch.stack([transform(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*/*.png"))])
    (tmp_path / "net.py").write_text(FACTORY.replace("{CONFIG}", repr(TESTED)))
    frame = evaluate_named(f"{tmp_path / 'net.py'}:build", "clean", folder, test_size=True, progress=False)
    module = next(m for name, m in sys.modules.items() if name.startswith("_liftbench_factory_")
                  and getattr(m, "__file__", None) == str(tmp_path / "net.py"))
    assert np.abs((torch.cat(module.SEEN).float() - expected).numpy()).max() < 1e-5
    fingerprint = frame["fingerprint"][0]
    assert (fingerprint["input_size"], fingerprint["resize"]) == (96, 96)  # told apart from the train-size cells
    with pytest.raises(UsageError, match="test_size"):
        evaluate_named("demo-lift", "clean", "demo", test_size=True, limit=4, progress=False)
