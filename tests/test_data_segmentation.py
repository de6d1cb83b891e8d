"""Segmentation data: VOC, Cityscapes and images/ + masks/ trees built in tmp_path, layout errors, demo masks."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_data_checks import png16

from robustbench_lift.cli import main
from robustbench_lift.data.demo import demo_dataset, demo_segmentation
from robustbench_lift.data.segmentation import SegmentationFolder, open_segmentation, segmentation_layout
from robustbench_lift.errors import LiftbenchError, UsageError


def _image(path: Path, height: int, width: int, seed: int) -> np.ndarray:
    array = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return array


def _palette_mask(path: Path, indices: np.ndarray) -> None:
    mask = Image.fromarray(indices.astype(np.uint8), mode="P")
    mask.putpalette([(7 * i) % 256 for i in range(768)])  # colours unrelated to the indices, as VOC's
    path.parent.mkdir(parents=True, exist_ok=True)
    mask.save(path)


def test_voc_layout_reads_palette_indices_listed_in_the_split(tmp_path: Path) -> None:
    root = tmp_path / "VOCdevkit" / "VOC2012"
    masks = {"2007_000032": np.array([[0, 1, 255], [20, 15, 0]]), "2007_000039": np.zeros((3, 2), int) + 7}
    for i, (name, mask) in enumerate(masks.items()):
        _image(root / "JPEGImages" / f"{name}.jpg", *mask.shape, seed=i)
        _palette_mask(root / "SegmentationClass" / f"{name}.png", mask)
    _image(root / "JPEGImages" / "2007_999999.jpg", 4, 4, seed=9)  # not in val.txt: left out
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("2007_000032\n2007_000039\n")
    data = open_segmentation(tmp_path)
    assert data.layout == "voc" and len(data) == 2 and data.sizes == [(2, 3), (3, 2)]
    for i, mask in enumerate(masks.values()):
        index, image, read = data[i]
        assert index == i and image.shape == (3, *mask.shape) and image.dtype == torch.uint8
        np.testing.assert_array_equal(read.numpy(), mask)


def test_cityscapes_label_ids_map_to_the_19_train_ids(tmp_path: Path) -> None:
    ids = np.array([[7, 8, 11, 12, 13, 17, 19], [20, 21, 22, 23, 24, 25, 26], [27, 28, 31, 32, 33, 0, 34]])
    # cityscapesScripts labels.py: road 7->0 ... bicycle 33->18; unlabeled 0 and license plate (34 here) ignored
    expected = np.array([[0, 1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12, 13], [14, 15, 16, 17, 18, 255, 255]])
    _image(tmp_path / "leftImg8bit" / "val" / "lindau" / "lindau_000000_000019_leftImg8bit.png", 3, 7, seed=0)
    label_path = tmp_path / "gtFine" / "val" / "lindau" / "lindau_000000_000019_gtFine_labelIds.png"
    label_path.parent.mkdir(parents=True)
    Image.fromarray(ids.astype(np.uint8), mode="L").save(label_path)
    data = SegmentationFolder(tmp_path)
    assert data.layout == "cityscapes"
    np.testing.assert_array_equal(data[0][2].numpy(), expected)


def test_ade20k_shifts_the_150_classes_down_and_ignores_other_objects(tmp_path: Path) -> None:
    root = tmp_path / "ADEChallengeData2016"
    annotation = np.array([[0, 1, 2], [149, 150, 151]])  # 0 "other objects"; 151 does not exist
    for split, stem in (("validation", "ADE_val_00000001"), ("training", "ADE_train_00000001")):
        _image(root / "images" / split / f"{stem}.jpg", 2, 3, seed=1)
        (root / "annotations" / split).mkdir(parents=True)
        Image.fromarray(annotation.astype(np.uint8), mode="L").save(root / "annotations" / split / f"{stem}.png")
    data = open_segmentation(tmp_path)  # default split val: ADE20K's validation
    assert data.layout == "ade20k" and data.stems == ["ADE_val_00000001"]
    np.testing.assert_array_equal(data[0][2].numpy(), [[255, 0, 1], [148, 149, 255]])
    assert SegmentationFolder(tmp_path, "training").stems == ["ADE_train_00000001"]
    (root / "annotations" / "validation" / "ADE_val_00000001.png").unlink()
    with pytest.raises(UsageError, match=r"ade20k.*missing.*ADE_val_00000001.png.*annotations/<split>"):
        open_segmentation(tmp_path)


def test_masks_folder_pairs_by_stem_and_names_the_unpaired(tmp_path: Path) -> None:
    written = {}
    for stem, size in (("b", (5, 4)), ("a", (2, 2))):
        written[stem] = _image(tmp_path / "images" / f"{stem}.png", *size, seed=len(written))
        (tmp_path / "masks").mkdir(exist_ok=True)
        Image.fromarray(np.full(size, 3, np.uint8), mode="L").save(tmp_path / "masks" / f"{stem}.png")
    data = SegmentationFolder(tmp_path)
    assert data.stems == ["a", "b"] and data.sizes == [(2, 2), (5, 4)]
    np.testing.assert_array_equal(data[1][1].permute(1, 2, 0).numpy(), written["b"])
    assert data.fingerprint() == SegmentationFolder(tmp_path).fingerprint()
    _image(tmp_path / "images" / "c.png", 2, 2, seed=5)
    with pytest.raises(UsageError, match="unpaired: c"):
        SegmentationFolder(tmp_path)


def test_layout_errors_name_what_was_expected_and_found(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    with pytest.raises(UsageError, match=r"JPEGImages/.*leftImg8bit/.*masks/.*found photos"):
        segmentation_layout(tmp_path)
    _image(tmp_path / "images" / "x.png", 2, 2, seed=0)
    (tmp_path / "masks").mkdir()
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "masks" / "x.png")
    with pytest.raises(UsageError, match="RGB image: expected a palette or single-channel"):
        SegmentationFolder(tmp_path)[0]
    (tmp_path / "SegmentationClass").mkdir()
    with pytest.raises(UsageError, match="ImageSets/Segmentation/val.txt"):
        SegmentationFolder(tmp_path)


def test_demo_masks_cover_the_drawn_shape() -> None:
    images, masks = demo_segmentation("test", limit=40)
    np.testing.assert_array_equal(images.numpy(), demo_dataset("test", limit=40)[0].numpy())
    labels = demo_dataset("test", limit=40)[1]
    for image, mask, label in zip(images.float(), masks, labels):
        assert set(mask.unique().tolist()) == {0, int(label) + 1}
        inside = mask.bool()
        interior = inside & inside.roll(1, 0) & inside.roll(-1, 0) & inside.roll(1, 1) & inside.roll(-1, 1)
        pixels = image[:, interior]  # one flat foreground colour plus noise of std <= 0.06 * 255
        if pixels.shape[1]:
            assert (pixels - pixels.median(dim=1, keepdim=True).values).abs().max() < 4 * 0.06 * 255
    assert open_segmentation("demo").masks.shape == (2000, 32, 32)


def _voc(root: Path, ids: str) -> None:
    """A VOC tree with image 2007_000032 and `ids` as ImageSets/Segmentation/val.txt."""
    _image(root / "JPEGImages" / "2007_000032.jpg", 2, 2, seed=0)
    _palette_mask(root / "SegmentationClass" / "2007_000032.png", np.zeros((2, 2)))
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text(ids)


def test_a_voc_id_leading_outside_the_data_root_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    _image(tmp_path / "secret.jpg", 2, 2, seed=1)  # ../../secret from JPEGImages/, outside the data root
    _palette_mask(tmp_path / "secret.png", np.zeros((2, 2)))
    _voc(tmp_path / "voc", "2007_000032\n../../secret\n")
    with pytest.raises(UsageError, match=r"val.txt, line 2: image id '../../secret' is not a file name"):
        SegmentationFolder(tmp_path / "voc")
    with pytest.raises(SystemExit) as exited:
        main(["evaluate", "--model", "demo_seg-max", "--suite", "seg", "--data", str(tmp_path / "voc"), "--out",
              str(tmp_path / "x.db"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert exited.value.code == 2 and "line 2: image id '../../secret'" in err and "\n" not in err


def test_a_16_bit_segmentation_image_is_scaled_like_a_classification_image(tmp_path: Path) -> None:
    values = np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000 + 1234
    (tmp_path / "images").mkdir()
    png16(tmp_path / "images" / "deep.png", values)
    (tmp_path / "masks").mkdir()
    Image.fromarray(np.zeros((3, 4), np.uint8)).save(tmp_path / "masks" / "deep.png")
    _, image, _ = SegmentationFolder(tmp_path)[0]
    expected = (values >> 8).astype(np.uint8)  # the high byte, as `ImageFolder` (data.decode) reads it
    assert all(np.array_equal(image[c].numpy(), expected) for c in range(3))


def test_cityscapes_label_ids_above_255_are_a_clear_error(tmp_path: Path) -> None:
    _image(tmp_path / "leftImg8bit" / "val" / "bonn" / "bonn_000000_000019_leftImg8bit.png", 2, 2, seed=0)
    label_path = tmp_path / "gtFine" / "val" / "bonn" / "bonn_000000_000019_gtFine_labelIds.png"
    label_path.parent.mkdir(parents=True)
    png16(label_path, np.array([[7, 26001], [24000, 0]], np.uint16))  # instance ids (id * 1000 + k)
    with pytest.raises(UsageError, match=f"mask {label_path} holds values 0..26001: expected 8-bit label ids"):
        SegmentationFolder(tmp_path)[0]
    png16(label_path, np.array([[7, 26], [24, 0]], np.uint16))  # a 16-bit PNG of valid label ids reads
    np.testing.assert_array_equal(SegmentationFolder(tmp_path)[0][2].numpy(), [[0, 13], [11, 255]])


@pytest.mark.parametrize("bomb", ["images", "masks"])
def test_oversized_segmentation_files_are_errors_naming_them(tmp_path: Path, bomb: str) -> None:
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / folder / "x.png")
    png16(tmp_path / bomb / "x.png", np.zeros((1, 1), np.uint16), width=20000, height=20000)  # 400 Mpixel header
    data = SegmentationFolder(tmp_path)
    with pytest.raises(LiftbenchError, match=f"{bomb[:-1]} {tmp_path / bomb / 'x.png'} is too large to decode"):
        data.sizes if bomb == "images" else data[0]
