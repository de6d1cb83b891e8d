"""A class map must keep distinct class folders distinct: one that sends two folders present in the data to one
index (e.g. every folder to 0, which scores any model that always answers 0 as perfect) is refused with one line
naming the folders and the index; collisions among folders the data does not have are harmless."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from robustbench_lift.cli import main
from robustbench_lift.data import ImageFolder, ImageNetC, read_class_map
from robustbench_lift.errors import UsageError

CLASSES = ("a", "b", "c")


def write_images(folder, count: int = 6) -> None:
    rng = np.random.default_rng(0)
    for i in range(count):
        (folder / CLASSES[i % 3]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / CLASSES[i % 3] / f"{i}.png")


def test_every_folder_to_zero_is_refused_naming_folders_and_index(tmp_path):
    write_images(tmp_path / "clean")
    with pytest.raises(UsageError, match=r"sends class folders a, b, c to index 0"):
        ImageFolder(tmp_path / "clean", {"a": 0, "b": 0, "c": 0})
    with pytest.raises(UsageError, match=r"sends class folders a, c to index 7"):
        ImageFolder(tmp_path / "clean", {"a": 7, "b": 3, "c": 7})
    write_images(tmp_path / "tree" / "fog" / "1")
    with pytest.raises(UsageError, match=r"to index 0"):
        ImageNetC(tmp_path / "tree", {"a": 0, "b": 0, "c": 1}).cell("fog", 1)


def test_one_to_one_maps_and_collisions_outside_the_data_are_accepted(tmp_path):
    write_images(tmp_path / "clean")
    # `z` and `c` share index 9, but no folder z exists: the data's classes stay distinct.
    folder = ImageFolder(tmp_path / "clean", {"a": 10, "b": 500, "c": 9, "z": 9}, resize=None, crop=None)
    assert torch.equal(folder.labels, torch.tensor([10, 10, 500, 500, 9, 9]))


def test_the_cli_refuses_a_collapsing_map_file_in_one_line(tmp_path, capsys):
    write_images(tmp_path / "clean")
    (tmp_path / "map.json").write_text(json.dumps({name: 0 for name in CLASSES}))
    assert read_class_map(tmp_path / "map.json") == {"a": 0, "b": 0, "c": 0}  # the file itself is well formed
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--model", "demo-max", "--data", str(tmp_path / "clean"), "--suite", "clean",
              "--class-map", str(tmp_path / "map.json"), "--out", str(tmp_path / "r.db"), "--no-progress"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "a, b, c to index 0" in err
