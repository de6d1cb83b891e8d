"""Data identity by content, partial cells, 16-bit and oversized images, labels and image sizes vs the model."""

import shutil
import struct
import zlib

import numpy as np
import pytest
import torch
from evaluate_fixtures import tiny_model
from PIL import Image

from robustbench_lift.cli import main
from robustbench_lift.data import ArrayImages, ImageFolder, ImageNetC
from robustbench_lift.data.checks import check_image_size, check_labels
from robustbench_lift.data.cifar_c import CifarC
from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.suites.options import CleanOptions, CorruptionOptions

CLASSES = ("a", "b", "c")


def write_images(folder, count: int = 6, size: int = 8, seed: int = 0) -> None:
    """`count` random RGB PNGs spread over the class folders `CLASSES` of `folder`."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        (folder / CLASSES[i % 3]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / CLASSES[i % 3] /
                                                                                     f"{i}.png")


def write_tree(root, corruptions=("fog", "snow"), severities=(1, 2), count: int = 6) -> None:
    for c in corruptions:
        for s in severities:
            write_images(root / c / str(s), count, seed=s)


def test_replaced_images_change_the_fingerprint_and_a_copy_keeps_it(tmp_path):
    write_images(tmp_path / "set")
    before = ImageFolder(tmp_path / "set", resize=None, crop=None).fingerprint()
    shutil.copytree(tmp_path / "set", tmp_path / "copy")  # new modification times, same content
    assert ImageFolder(tmp_path / "copy", resize=None, crop=None).fingerprint() == before
    for i, name in enumerate(["a/0.png", "b/4.png"]):  # same names, new content (one sampled, one only resized)
        Image.fromarray(np.full((8, 8 + i, 3), 7, np.uint8)).save(tmp_path / "set" / name)
        assert ImageFolder(tmp_path / "set", resize=None, crop=None).fingerprint() != before


def test_resuming_on_replaced_images_refuses_the_stale_cell(tmp_path):
    write_tree(tmp_path / "tree", ("fog",), (1,))
    options = dict(suite=CorruptionOptions(corruptions=["fog"], severities=[1]), data=tmp_path / "tree",
                   run=RunOptions(out=tmp_path / "r.db", progress=False),
                   options=ModelOptions(num_classes=3, name="tiny"))
    evaluate(tiny_model(), **options)
    write_images(tmp_path / "tree" / "fog" / "1", seed=9)  # re-rendered: same file names, new pixels
    with pytest.raises(UsageError, match="fog/1 computed with other settings \\(data: stored"):
        evaluate(tiny_model(), **options)  # before: the stale cell was reused silently


def test_a_replaced_cifar_c_array_changes_the_fingerprint(tmp_path):
    labels = np.tile(np.arange(4) % 3, 5)
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "fog.npy", np.zeros((20, 4, 4, 3), np.uint8))
    before = CifarC(tmp_path).cell("fog", 2).fingerprint()
    np.save(tmp_path / "fog.npy", np.ones((20, 4, 4, 3), np.uint8))  # same shape, hence the same file size
    assert CifarC(tmp_path).cell("fog", 2).fingerprint() != before


def test_a_cell_missing_images_is_an_error_naming_it(tmp_path):
    write_tree(tmp_path / "tree")
    (tmp_path / "tree" / "snow" / "2" / "a" / "3.png").unlink()
    tree = ImageNetC(tmp_path / "tree")
    tree.check(["fog"], [1, 2])
    with pytest.raises(UsageError, match="snow/2 has 5 images where 3 other cell\\(s\\) have 6"):
        tree.check(["fog", "snow"], [1, 2])


def png16(path, array: np.ndarray, width: int | None = None, height: int | None = None) -> None:
    """A 16-bit grayscale PNG written byte by byte (IHDR bit depth 16, colour type 0); `width`, `height`: the size
    the header declares, when not the array's."""
    height, width = height or array.shape[0], width or array.shape[1]
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in array)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def test_16_bit_grayscale_pngs_are_scaled_not_saturated(tmp_path):
    values = np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000 + 37
    (tmp_path / "a").mkdir()
    png16(tmp_path / "a" / "deep.png", values)
    _, image, _ = ImageFolder(tmp_path, resize=None, crop=None)[0]
    expected = (values >> 8).astype(np.uint8)  # the high byte, as Pillow reads 16-bit RGB PNGs
    assert image.shape == (3, 8, 8) and all(np.array_equal(image[c].numpy(), expected) for c in range(3))


def test_decompression_bombs_and_float_images_are_errors_naming_the_file(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    write_images(tmp_path, 1)
    bomb = tmp_path / "a" / "bomb.png"
    png16(bomb, np.zeros((1, 1), np.uint16), width=20000, height=20000)  # 400 Mpixel declared in a tiny file
    folder = ImageFolder(tmp_path, resize=None, crop=None)
    with pytest.raises(LiftbenchError, match=f"image {bomb} is too large to decode safely"):
        folder[1]
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--model", "demo-max", "--data", str(tmp_path), "--suite", "clean", "--resize", "0",
              "--crop", "0", "--out", str(tmp_path / "r.db"), "--no-progress", "--batch-size", "1"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and str(bomb) in err and "Traceback" not in err
    Image.fromarray(np.zeros((4, 4), np.float32)).save(tmp_path / "a" / "bomb.tif")
    with pytest.raises(LiftbenchError, match="bomb.tif is a 32-bit float image"):
        ImageFolder(tmp_path, resize=None, crop=None)[2]


def test_labels_outside_the_model_classes_are_refused(tmp_path):
    write_images(tmp_path)
    folder = ImageFolder(tmp_path, resize=None, crop=None)
    check_labels(folder, 3, "clean")
    with pytest.raises(UsageError, match="clean: labels 0..2 \\(2 of 6 images outside the model's 2 classes"):
        check_labels(folder, 2, "clean")
    with pytest.raises(UsageError, match="labels -1..1"):
        check_labels(ArrayImages(np.zeros((3, 2, 2, 3), np.uint8), np.array([0, -1, 1])), 10, "arrays")


def test_images_much_larger_than_the_model_input_are_refused(tmp_path):
    arrays = {size: ArrayImages(np.zeros((2, size, size, 3), np.uint8), np.zeros(2)) for size in (32, 64, 224)}
    check_image_size(arrays[32], 32, "cell")
    check_image_size(arrays[224], None, "cell")  # a model without a recorded input size
    with pytest.warns(UserWarning, match="images are 64x64 but the model takes 32x32"):
        check_image_size(arrays[64], 32, "cell")
    with pytest.raises(UsageError, match="fog/1: images are 224x224 but the model takes 32x32 inputs"):
        check_image_size(arrays[224], 32, "fog/1")
    check_image_size((224, 224), 224, "shift window")
    with pytest.raises(UsageError, match="images are 128x160"):
        check_image_size((128, 160), 32, "shift window")


@pytest.mark.parametrize("problem", ["labels", "size"])
def test_the_engine_refuses_labels_outside_the_head_and_oversized_images(tmp_path, problem):
    write_images(tmp_path / "clean", count=6, size=8 if problem == "labels" else 224)
    model = "cifar_resnet10s-max"  # input 32; 2 classes for the labels case, 3 (all labels valid) for the size one
    with pytest.raises(UsageError, match="classes" if problem == "labels" else "224x224"):
        evaluate(model, CleanOptions(resize=None, crop=None), tmp_path / "clean",
                 run=RunOptions(progress=False, device="cpu"),
                 options=ModelOptions(num_classes=2 if problem == "labels" else 3))


def test_malformed_class_maps_are_usage_errors(tmp_path, capsys):
    write_images(tmp_path / "clean")
    for name, text in (("bad.json", "{not json"), ("list.json", '{"a": "0"}'), ("neg.json", '{"a": -1}'),
                       ("num.json", "3"), ("bin.txt", b"\xff\xfe\x00")):
        path = tmp_path / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(SystemExit) as exit_info:
            main(["evaluate", "--model", "demo-max", "--data", str(tmp_path / "clean"), "--suite", "clean",
                  "--class-map", str(path), "--out", str(tmp_path / "r.db"), "--no-progress"])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and f"class map {path}" in err and "Traceback" not in err, err
    assert torch.equal(ImageFolder(tmp_path / "clean", resize=None, crop=None).labels, torch.tensor([0, 0, 1, 1, 2, 2]))
