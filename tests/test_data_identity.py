"""Data identity: every layout's fingerprint changes when any of its content is replaced in place (same names,
same sizes), a copy keeps it, compressed-image trees keep the fingerprint they had before the whole-file rule,
and a resumed evaluate on replaced segmentation data refuses (or with overwrite recomputes) the stale cells."""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from test_suite_seg import CLASSES as SEG_CLASSES
from test_suite_seg import PixelNet, build_tree

from robustbench_lift.data import ImageFolder, ImageNetP
from robustbench_lift.data.cifar_c import CifarC
from robustbench_lift.data.render_segmentation import render_segmentation
from robustbench_lift.data.segmentation import SegmentationFolder
from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.errors import UsageError
from robustbench_lift.suites.options import SegmentationOptions

FILES = 12
UNSAMPLED = 2
"""With 12 files, `content_digest` reads the bytes of positions round-down(linspace(0, 11, 8)) = 0, 1, 3, 4, 6,
7, 9, 11: the file at sorted position 2 enters only by its size."""


def random_image(seed: int, shape: tuple[int, ...] = (8, 8, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def write_folder(root: Path, suffix: str, count: int = FILES) -> list[Path]:
    """`root/<a|b>/<i>.<suffix>`, 8x8 random images; paths in sorted (class, name) order."""
    paths = []
    for i in range(count):
        path = root / "ab"[i * 2 // count] / f"{i:02d}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(random_image(i)).save(path)
        paths.append(path)
    return paths


def replace_in_place(path: Path, seed: int = 99) -> None:
    """New pixels under the same name, in the same format and (for fixed-size formats) the same file size."""
    size = path.stat().st_size
    with Image.open(path) as opened:
        shape = np.asarray(opened).shape
    Image.fromarray(random_image(seed, shape)).save(path, format=Image.registered_extensions()[path.suffix.lower()])
    assert path.suffix.lower() in (".png", ".jpg") or path.stat().st_size == size


@pytest.mark.parametrize("suffix", [".bmp", ".ppm", ".tif"])  # Pillow writes TIFF uncompressed by default
def test_a_replaced_unsampled_file_of_a_fixed_size_format_changes_the_fingerprint(tmp_path, suffix):
    paths = write_folder(tmp_path / "set", suffix)
    before = ImageFolder(tmp_path / "set", resize=None, crop=None).fingerprint()
    shutil.copytree(tmp_path / "set", tmp_path / "copy")
    assert ImageFolder(tmp_path / "copy", resize=None, crop=None).fingerprint() == before
    replace_in_place(paths[UNSAMPLED])
    assert ImageFolder(tmp_path / "set", resize=None, crop=None).fingerprint() != before


def test_compressed_image_trees_keep_the_fingerprint_of_sizes_and_sampled_files(tmp_path):
    """The fingerprint of JPEG/PNG folders is still sha256(listing, sha256(sizes, 8 sampled files' sha256)), so the
    cells stored before the whole-file rule for fixed-size formats are reused."""
    paths = write_folder(tmp_path / "set", ".png", 6) + write_folder(tmp_path / "set", ".jpg", 6)
    samples = sorted((p.relative_to(tmp_path / "set").as_posix(), p) for p in paths)
    content = hashlib.sha256()
    for relative, path in samples:
        content.update(f"{relative}\t{path.stat().st_size}\n".encode())
    for position in (0, 1, 3, 4, 6, 7, 9, 11):  # see UNSAMPLED
        content.update(hashlib.sha256(samples[position][1].read_bytes()).digest())
    listing = "\n".join(f"{relative}\t{'ab'.index(relative[0])}" for relative, _ in samples)
    expected = hashlib.sha256(f"{listing}\n{content.hexdigest()}".encode()).hexdigest()
    assert ImageFolder(tmp_path / "set", resize=None, crop=None).fingerprint() == expected


def write_segmentation(root: Path, count: int = 3) -> None:
    """images/<i>.png + masks/<i>.png, 6x6 images and 3-class masks (6 files: every one's bytes are sampled)."""
    for i in range(count):
        for folder, array in (("images", random_image(i, (6, 6, 3))), ("masks", random_image(i, (6, 6)) % 3)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / folder / f"{i}.png")


@pytest.mark.parametrize("replaced", ["images/1.png", "masks/1.png"])
def test_replaced_segmentation_images_and_masks_change_the_fingerprint(tmp_path, replaced):
    write_segmentation(tmp_path / "set")
    before = SegmentationFolder(tmp_path / "set").fingerprint()
    shutil.copytree(tmp_path / "set", tmp_path / "copy")
    assert SegmentationFolder(tmp_path / "copy").fingerprint() == before
    path = tmp_path / "set" / replaced
    Image.fromarray(np.asarray(Image.open(path))[::-1].copy()).save(path)  # flipped: the same pixels' counts
    assert SegmentationFolder(tmp_path / "set").fingerprint() != before


def test_a_replaced_image_of_a_rendered_segmentation_tree_changes_the_cell_fingerprint(tmp_path):
    build_tree(tmp_path / "set")
    render_segmentation(tmp_path / "set", tmp_path / "rendered", corruptions=["contrast"], severities=[1],
                        device="cpu")
    cell = tmp_path / "rendered" / "contrast" / "1"
    before = SegmentationFolder(cell).fingerprint()
    image = np.asarray(Image.open(cell / "images" / "img1.png"))  # a PNG whose bytes the digest samples
    Image.fromarray(255 - image).save(cell / "images" / "img1.png")  # re-rendered differently, same name
    assert SegmentationFolder(cell).fingerprint() != before


def test_a_replaced_imagenet_p_video_changes_the_fingerprint(tmp_path):
    for i in range(3):
        path = tmp_path / "P" / "rotate" / f"n{i % 2}" / f"vid{i}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(range(i, i + 64)))  # the fingerprint reads bytes, it decodes nothing
    before = ImageNetP(tmp_path / "P").cell("rotate", 1).fingerprint()
    (tmp_path / "P" / "rotate" / "n0" / "vid2.mp4").write_bytes(bytes(range(9, 9 + 64)))  # same name and size
    assert ImageNetP(tmp_path / "P").cell("rotate", 1).fingerprint() != before


def test_a_cifar_c_row_outside_any_sample_changes_the_fingerprint(tmp_path):
    n = 10
    np.save(tmp_path / "labels.npy", np.tile(np.arange(n) % 3, 5))
    np.save(tmp_path / "fog.npy", random_image(0, (5 * n, 4, 4, 3)))
    before = [CifarC(tmp_path).cell("fog", s).fingerprint() for s in (1, 2)]
    array = np.load(tmp_path / "fog.npy", mmap_mode="r+")
    array[n + 4] = 255 - array[n + 4]  # row 4 of severity 2: 10 rows sample positions 0, 1, 2, 3, 5, 6, 7, 9
    array.flush()
    del array
    after = [CifarC(tmp_path).cell("fog", s).fingerprint() for s in (1, 2)]
    assert after[0] == before[0] and after[1] != before[1]


def test_resuming_on_replaced_segmentation_masks_refuses_then_recomputes_the_stale_cells(tmp_path):
    pairs = build_tree(tmp_path / "set")
    suite = SegmentationOptions(corruptions=["contrast"], severities=[1])
    model = ModelOptions(num_classes=SEG_CLASSES, name="px")

    def run(store: str, overwrite: bool = False):
        return evaluate(PixelNet(), suite, tmp_path / "set", options=model,
                        run=RunOptions(out=tmp_path / store, overwrite=overwrite, progress=False))

    first = run("r.db")
    for stem, (_, mask) in pairs.items():  # relabelled in place: the same file names
        Image.fromarray(np.where(mask == 255, mask, (mask + 1) % SEG_CLASSES).astype(np.uint8)).save(
            tmp_path / "set" / "masks" / f"{stem}.png")
    with pytest.raises(UsageError, match="clean/0 computed with other settings \\(data: stored"):
        run("r.db")
    resumed = run("r.db", overwrite=True)
    fresh = run("fresh.db")
    by_cell = {name: {(c, s): m for c, s, m in zip(f["corruption"], f["severity"], f["miou"]) if c != "shift"}
               for name, f in (("first", first), ("resumed", resumed), ("fresh", fresh))}  # shift: no mIoU
    assert by_cell["resumed"] == by_cell["fresh"] and by_cell["fresh"]["clean", 0] != by_cell["first"]["clean", 0]
