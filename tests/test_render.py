"""Rendering ImageNet-C style trees and CIFAR-C style arrays from real photographs."""

import numpy as np
import pytest
import torch
from PIL import Image
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from skimage import data

import corruptions
from corruptions.seeding import derive_seed
from robustbench_lift.cli import main
from robustbench_lift.data.render import render_cifar_c, render_imagenet_c
from robustbench_lift.errors import UsageError

CELLS = ("brightness", "gaussian_noise")
SEVERITIES = (1, 3)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """An ImageFolder with 2 classes and 3 scikit-image photographs (JPEG and PNG, various sizes)."""
    root = tmp_path_factory.mktemp("folder")
    (root / "cats").mkdir()
    (root / "objects").mkdir()
    Image.fromarray(data.chelsea()).save(root / "cats" / "chelsea.jpg")
    Image.fromarray(data.coffee()[:300, :260]).save(root / "objects" / "coffee.png")
    Image.fromarray(data.astronaut()[::2, ::2]).save(root / "objects" / "astronaut.JPEG")
    (root / "objects" / "notes.txt").write_text("not an image")
    return root


def _expected_files(out):
    names = ["cats/chelsea.JPEG", "objects/astronaut.JPEG", "objects/coffee.JPEG"]
    return sorted(f"{c}/{s}/{n}" for c in CELLS for s in SEVERITIES for n in names)


def _tree(out):
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def test_render_writes_the_exact_tree_of_224_jpegs_and_resumes(image_folder, tmp_path):
    out = tmp_path / "c"
    summary = render_imagenet_c(image_folder, out, corruptions=list(CELLS), severities=SEVERITIES, backend="torch",
                                progress=False)
    assert summary.written == 12 and summary.skipped == 0
    assert _tree(out) == _expected_files(out)
    for path in out.rglob("*.JPEG"):
        with Image.open(path) as image:
            assert image.size == (224, 224) and image.format == "JPEG" and image.mode == "RGB"
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*.JPEG")}

    again = render_imagenet_c(image_folder, out, corruptions=list(CELLS), severities=SEVERITIES, progress=False)
    assert again.written == 0 and again.skipped == 12
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*.JPEG")} == before

    victim = out / "gaussian_noise" / "3" / "objects" / "coffee.JPEG"
    victim.unlink()
    third = render_imagenet_c(image_folder, out, corruptions=list(CELLS), severities=SEVERITIES, batch_size=1,
                              backend="torch", progress=False)
    assert third.written == 1 and victim.exists()
    # the per-image seed depends on (seed, corruption, severity, index) only: the same bytes come back
    assert victim.read_bytes() == before[victim][1]
    assert all(p.stat().st_mtime_ns == before[p][0] for p in before if p != victim)


def test_render_content_is_resize_crop_then_corrupt(image_folder, tmp_path):
    """Brightness is deterministic: the file decodes to the corrupted Resize(256) + CenterCrop(224) image up to
    JPEG quality 85 loss; the noise images differ between two seeds and agree for workers/batch settings."""
    from torchvision.transforms import functional as TF

    out = tmp_path / "c"
    render_imagenet_c(image_folder, out, corruptions="brightness,gaussian_noise", severities=[3], progress=False,
                      batch_size=2, workers=2)
    with Image.open(image_folder / "cats" / "chelsea.jpg") as image:
        crop = TF.pil_to_tensor(TF.center_crop(TF.resize(image.convert("RGB"), 256), 224))
    expected = corruptions.corrupt(crop[None], "brightness", 3)[0].float()
    with Image.open(out / "brightness" / "3" / "cats" / "chelsea.JPEG") as image:
        written = torch.from_numpy(np.array(image)).permute(2, 0, 1)
    assert (written.float() - expected).abs().mean() < 3

    other = tmp_path / "d"
    render_imagenet_c(image_folder, other, corruptions="gaussian_noise", severities=[3], progress=False, batch_size=3)
    noisy = "gaussian_noise/3/objects/astronaut.JPEG"
    assert (out / noisy).read_bytes() == (other / noisy).read_bytes()
    reseeded = tmp_path / "e"
    render_imagenet_c(image_folder, reseeded, corruptions="gaussian_noise", severities=[3], progress=False, seed=1)
    assert (out / noisy).read_bytes() != (reseeded / noisy).read_bytes()


def test_render_errors_name_the_bad_value(image_folder, tmp_path):
    with pytest.raises(UsageError, match="not a directory"):
        render_imagenet_c(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(UsageError, match="no images"):
        render_imagenet_c(tmp_path, tmp_path / "out")
    with pytest.raises(UsageError, match="did you mean gaussian_noise"):
        render_imagenet_c(image_folder, tmp_path / "out", corruptions="gausian_noise")
    with pytest.raises(UsageError, match="severities"):
        render_imagenet_c(image_folder, tmp_path / "out", severities=[0, 6])
    clash = tmp_path / "clash" / "cls"
    clash.mkdir(parents=True)
    Image.fromarray(data.coffee()).save(clash / "a.png")
    Image.fromarray(data.coffee()).save(clash / "a.jpg")
    with pytest.raises(UsageError, match="cls/a"):
        render_imagenet_c(tmp_path / "clash", tmp_path / "out")


def test_cli_render_exit_codes(image_folder, tmp_path, capsys):
    out = tmp_path / "cli"
    with pytest.raises(SystemExit) as ok:
        main(["render", "--data", str(image_folder), "--out", str(out), "--corruptions", "brightness",
              "--severities", "2", "--batch-size", "2"])
    assert ok.value.code == 0
    assert "wrote 3 images" in capsys.readouterr().out
    assert len(list(out.rglob("*.JPEG"))) == 3
    with pytest.raises(SystemExit) as bad:
        main(["render", "--data", str(tmp_path / "nowhere"), "--out", str(out)])
    assert bad.value.code == 2
    assert "nowhere" in capsys.readouterr().err


def test_cifar_c_writer_stacks_severities_in_order(tmp_path):
    from skimage.transform import resize

    photos = [data.astronaut(), data.coffee(), data.chelsea()]
    images = np.stack([(resize(p, (32, 32), anti_aliasing=True) * 255).astype(np.uint8) for p in photos])
    labels = np.array([4, 7, 1])
    summary = render_cifar_c(images, labels, tmp_path, corruptions=["brightness", "shot_noise"], progress=False,
                             batch_size=2)
    assert summary.written == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["brightness.npy", "labels.npy", "shot_noise.npy"]
    assert np.array_equal(np.load(tmp_path / "labels.npy"), np.tile(labels, 5))
    nchw = torch.from_numpy(images).permute(0, 3, 1, 2)
    for name in ("brightness", "shot_noise"):
        stacked = np.load(tmp_path / f"{name}.npy")
        assert stacked.shape == (15, 32, 32, 3) and stacked.dtype == np.uint8
        for severity in range(1, 6):
            for i in range(3):
                generator = torch.Generator().manual_seed(derive_seed(0, name, severity, i))
                expected = corruptions.corrupt(nchw[i:i + 1], name, severity, generator=generator,
                                               preset="cifar")[0]  # CIFAR-10-C's constants by default
                assert np.array_equal(stacked[(severity - 1) * 3 + i], expected.permute(1, 2, 0).numpy())
    again = render_cifar_c(images, labels, tmp_path, corruptions=["brightness", "shot_noise"], progress=False)
    assert again.written == 0 and again.skipped == 2
