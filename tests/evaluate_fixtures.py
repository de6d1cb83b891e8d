"""Small real data for the engine tests: photographs as a clean folder, a pre-rendered corruption tree, CIFAR-C
arrays, a tiny ConvNet, and an independent per-image reference loop."""

import time
from pathlib import Path

import numpy as np
import torch
from conftest import load_photos
from PIL import Image
from torch import nn

from corruptions import corrupt

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")
CLASSES = ("n01000001", "n02000002", "n03000003")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def photo_set(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """9 images uint8 `(9, 3, size, size)`: six photographs and three mirrored ones; labels `i % 3`."""
    photos = load_photos(size, PHOTOS)
    images = torch.cat([photos, photos[:3].flip(-1)])
    return images, torch.arange(len(images)) % len(CLASSES)


class TinyNet(nn.Module):
    """A seeded one-conv network whose predictions differ between photographs and corruptions: logits are a
    fixed projection of the centred image statistics (channel means and standard deviations) and the mean conv
    responses, so a random initialisation does not collapse to one class."""

    def __init__(self, num_classes: int = 3, seed: int = 4) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(14, num_classes)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(8, 3, 3, 3, generator=generator) / 3)
            self.fc.weight.copy_(torch.randn(num_classes, 14, generator=generator))
            self.conv.bias.zero_()
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = torch.cat([x.mean((2, 3)), x.std((2, 3)), torch.relu(self.conv(x)).mean((2, 3))], dim=1)
        return self.fc(features - features.mean(dim=1, keepdim=True))


def tiny_model(num_classes: int = 3, seed: int = 4) -> nn.Module:
    """`TinyNet` in eval mode; seed 4 predicts all three classes on `photo_set`."""
    return TinyNet(num_classes, seed).eval()


def write_folder(root: Path, images: torch.Tensor, labels: torch.Tensor, suffix: str = ".png") -> list[Path]:
    """`root/<class>/img<i><suffix>` for every image (JPEG at quality 85 like ImageNet-C); paths in order."""
    paths = []
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / CLASSES[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"img{i:02d}{suffix}"
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(path, quality=85)
        paths.append(path)
    return paths


def render(images: torch.Tensor, corruption: str, severity: int) -> torch.Tensor:
    """Corrupted copies (uint8) for a pre-rendered tree, seeded per cell."""
    generator = torch.Generator().manual_seed(severity * 1000 + len(corruption))
    return corrupt(images, corruption, severity, generator=generator)


def write_tree(root: Path, images: torch.Tensor, labels: torch.Tensor, corruptions: list[str],
               severities: list[int]) -> None:
    """An ImageNet-C style tree `root/<corruption>/<severity>/<class>/<image>.JPEG`."""
    for corruption in corruptions:
        for severity in severities:
            write_folder(root / corruption / str(severity), render(images, corruption, severity), labels, ".JPEG")


def reference_top5(model: nn.Module, paths: list[Path], k: int = 3, resize: bool = False) -> np.ndarray:
    """Top-k predictions `(N, k)` image by image: PIL (optionally torchvision Resize(256) + CenterCrop(224)),
    ToTensor, Normalize, one forward per image, argsort."""
    import torchvision.transforms as T

    steps = [T.Resize(256), T.CenterCrop(224)] if resize else []
    transform = T.Compose([*steps, T.ToTensor(), T.Normalize(MEAN, STD)])
    rows = []
    with torch.no_grad():
        for path in paths:
            logits = model(transform(Image.open(path).convert("RGB"))[None])[0]
            rows.append(np.argsort(-logits.numpy(), kind="stable")[:k])
    return np.stack(rows)


def sorted_paths(root: Path) -> list[Path]:
    """The images of `root/<class>/*` in (class, file name) order."""
    return [p for c in sorted(d.name for d in root.iterdir()) for p in sorted((root / c).iterdir())]


class SlowTiny(nn.Module):
    """`tiny_model()` that sleeps `delay` seconds per forward (not part of the state dict), to be killed mid-run."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.body, self.delay = tiny_model(), delay

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.delay)
        return self.body(x)


CORRUPTIONS, SEVERITIES = ["gaussian_noise", "fog"], [1, 3]


def build_data(root: Path) -> Path:
    """`root/tiny-c`: a tree of 32x32 JPEGs (`CORRUPTIONS` x `SEVERITIES`) and `root/clean`: 64x64 PNGs, both of
    the 9 photographs of `photo_set` in 3 classes."""
    images, labels = photo_set(32)
    write_tree(root / "tiny-c", images, labels, CORRUPTIONS, SEVERITIES)
    write_folder(root / "clean", photo_set(64)[0], labels)
    return root


class InvariantNet(nn.Module):
    """Exactly translation-invariant: a seeded pointwise (1x1) map, ReLU, global max pooling, a linear head. Any
    rearrangement of the pixels (a circular shift, or a zero-filled shift that keeps the content in view) gives
    bit-identical logits, since the maximum does not depend on the order of its terms."""

    def __init__(self, num_classes: int = 3, seed: int = 8) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)  # seed 8 predicts two classes on `bordered_set`
        self.point = nn.Conv2d(3, 16, 1)
        self.fc = nn.Linear(16, num_classes)
        with torch.no_grad():
            for parameter in (*self.point.parameters(), *self.fc.parameters()):
                parameter.copy_(torch.randn(parameter.shape, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.point(x)).amax(dim=(2, 3)))


def bordered_set(size: int = 32, border: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """`photo_set(size - 2 * border)` pasted in the middle of black `size` x `size` canvases: shifts of up to
    `border` px keep every photograph pixel in view."""
    photos, labels = photo_set(size - 2 * border)
    canvas = torch.zeros(len(photos), 3, size, size, dtype=torch.uint8)
    canvas[:, :, border:size - border, border:size - border] = photos
    return canvas, labels


def evaluate_named(model, suite: str, data, **values):
    """`evaluate` with its options named as their fields, split into the typed options as the command line and
    `--config` split them (`engine.options.split_options`)."""
    from robustbench_lift.engine import evaluate
    from robustbench_lift.engine.options import split_options

    run, options, suites = split_options(suite, values)
    return evaluate(model, suites[0] if len(suites) == 1 else suites, data, run=run, options=options)
