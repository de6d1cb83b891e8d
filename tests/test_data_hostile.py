"""Hostile data is a clear error naming the file, never a traceback: a class map index beyond any label dtype,
CIFAR pickles whose labels are not class indices; a resize and crop the machine's memory cannot hold is
refused before an image is read."""

import json
import pickle

import numpy as np
import pytest
from PIL import Image

from robustbench_lift import memory
from robustbench_lift.cli import main
from robustbench_lift.data.cifar import read_cifar_batch
from robustbench_lift.data.imagefolder import ImageFolder, read_class_map
from robustbench_lift.errors import UsageError
from robustbench_lift.pooling import LiftDownPool2d


def cli(capsys, *args) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code, capsys.readouterr().err


def test_a_class_map_index_beyond_int32_is_a_usage_error(tmp_path, capsys):
    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "data" / name / "0.png")
    class_map = tmp_path / "map.json"
    class_map.write_text(json.dumps({"a": 2 ** 63, "b": 1}))
    with pytest.raises(UsageError, match=f"class map {class_map}: index {2 ** 63} of 'a' is over 2147483647"):
        read_class_map(class_map)
    code, err = cli(capsys, "evaluate", "--model", "cifar_resnet10s", "--num-classes", "2", "--suite", "clean",
                    "--data", tmp_path / "data", "--class-map", class_map, "--no-progress")
    assert code == 2 and "Traceback" not in err and str(class_map) in err, err


@pytest.mark.parametrize("labels", [["cat", "dog"], [0.5, 1.0], [-1, 0], [True, False]])
def test_cifar_labels_that_are_not_class_indices_are_a_usage_error(tmp_path, labels):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": labels}, protocol=2))
    with pytest.raises(UsageError, match=f"{path}: labels must be class indices"):
        read_cifar_batch(path)


def test_a_resize_and_crop_beyond_the_machines_memory_is_refused_with_the_number(tmp_path, capsys, monkeypatch):
    (tmp_path / "data" / "a").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "data" / "a" / "0.png")
    # 100000 px: 3e10 bytes resized (uint8) + 1.2e11 bytes as the model's float input = 150 GB per image
    code, err = cli(capsys, "evaluate", "--model", "cifar_resnet10s", "--num-classes", "1", "--suite", "clean",
                    "--data", tmp_path / "data", "--resize", "100000", "--crop", "100000", "--no-progress")
    assert code == 2 and "Traceback" not in err and "--resize 100000 --crop 100000 needs 150.0 GB" in err, err
    monkeypatch.setattr(memory, "available_bytes", lambda: 10 ** 9)  # 1 GB free: 10000 px needs 1.5 GB
    with pytest.raises(UsageError, match=r"needs 1\.5 GB .* 1\.0 GB available"):
        ImageFolder(tmp_path / "data", resize=10000, crop=10000)
    assert ImageFolder(tmp_path / "data", resize=256, crop=224)[0][1].shape == (3, 224, 224)


def test_available_bytes_is_memavailable_of_proc_meminfo():
    lines = dict(line.split(":", 1) for line in open("/proc/meminfo").read().splitlines())
    reported = int(lines["MemAvailable"].split()[0]) * 1024
    assert abs(memory.available_bytes() - reported) < 2 ** 28  # read moments apart


def test_a_liftpool_layer_beyond_the_machines_memory_is_refused_with_the_number(capsys):
    # 64 channels x 1e9 taps x 4 bytes = 256 GB for one filter's weights
    with pytest.raises(UsageError, match=r"LiftingFilter\(64, kernel_size=1000000000\) needs 256\.0 GB"):
        LiftDownPool2d(64, kernel_size=10 ** 9)
    code, err = cli(capsys, "evaluate", "--model", "cifar_resnet10s", "--pool", "lift1000000000", "--num-classes",
                    "10", "--suite", "clean", "--data", "demo", "--limit", "2", "--no-progress")
    assert code == 2 and "Traceback" not in err and "kernel_size=1000000000) needs" in err, err
