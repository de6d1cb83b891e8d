"""An error raised in a loader worker (`--workers 2`) reaches the user as the one line `--workers 0` prints, not
as the worker's traceback (evaluate, render): a truncated JPEG, a decompression bomb."""

import numpy as np
import pytest
from PIL import Image

from robustbench_lift.cli import main


@pytest.fixture()
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), np.uint8)).save(tmp_path / "data" / name / f"{i}.jpg")
    return tmp_path / "data"


def errors(capsys, folder, *workers: int) -> list[tuple[int, str]]:
    seen = []
    for count in workers:
        with pytest.raises(SystemExit) as exit_info:
            main(["evaluate", "--model", "cifar_resnet10s", "--num-classes", "2", "--suite", "clean", "--data",
                  str(folder), "--workers", str(count), "--batch-size", "2", "--no-progress", "--bootstrap", "0"])
        seen.append((exit_info.value.code, capsys.readouterr().err))
    return seen


def test_a_truncated_jpeg_in_a_worker_is_the_same_one_line_error(folder, capsys):
    data = (folder / "b" / "1.jpg").read_bytes()
    (folder / "b" / "1.jpg").write_bytes(data[:len(data) // 3])
    (code, err), (code_workers, err_workers) = errors(capsys, folder, 0, 2)
    assert err.startswith(f"Error: cannot decode image {folder / 'b' / '1.jpg'}") and code == 1, err
    assert (code_workers, err_workers) == (code, err)


def test_a_decompression_bomb_in_a_worker_is_one_line(folder, capsys, monkeypatch):
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(folder / "b" / "2.jpg")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1700)  # 40x40 pass; 64x64 is over twice: a bomb; workers fork
    ((code, err),) = errors(capsys, folder, 2)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and str(folder / "b" / "2.jpg") in err, err
    assert code in (1, 2)


def test_render_with_workers_is_the_same_one_line_error(folder, tmp_path, capsys):
    data = (folder / "b" / "1.jpg").read_bytes()
    (folder / "b" / "1.jpg").write_bytes(data[:len(data) // 3])
    seen = []
    for count in (0, 2):
        with pytest.raises(SystemExit) as exit_info:
            main(["render", "--data", str(folder), "--out", str(tmp_path / f"out{count}"), "--corruptions", "fog",
                  "--severities", "1", "--workers", str(count)])
        seen.append((exit_info.value.code, capsys.readouterr().err))
    assert seen[0][1].startswith(f"Error: cannot decode image {folder / 'b' / '1.jpg'}") and seen[1] == seen[0], seen
