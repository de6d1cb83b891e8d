"""`liftbench validate-data`: every problem of a tree, a CIFAR-C folder or an image folder is listed (exit 1), a
sound one passes (exit 0); each problem is planted by hand in an otherwise valid copy."""

import hashlib

import numpy as np
import pytest
from PIL import Image

from robustbench_lift.cli import main
from robustbench_lift.data.validate import validate_data

CORRUPTIONS = ("fog", "frost", "snow")


def write_cell(folder, classes=("n1", "n2", "n3"), per_class: int = 2, size: int = 8) -> None:
    rng = np.random.default_rng(len(str(folder)))
    for name in classes:
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / name / f"{i}.png")


@pytest.fixture
def tree(tmp_path):
    """3 corruptions x severities 1-5 x 3 classes x 2 images of 8x8."""
    for corruption in CORRUPTIONS:
        for severity in range(1, 6):
            write_cell(tmp_path / "tree" / corruption / str(severity))
    return tmp_path / "tree"


def run(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["validate-data", *map(str, args)])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_a_sound_tree_passes(capsys, tree):
    code, out, _ = run(capsys, tree)
    assert code == 0 and "no problems found" in out
    assert "3 corruption(s): fog, frost, snow" in out and "15 cell(s), 3 classes, 6 images per cell" in out
    assert "images 8x8" in out


def test_frost_with_more_classes_than_the_other_cells(capsys, tree):
    for severity in range(1, 6):  # Tiny-ImageNet-C's frost once had 1000 classes where the others had 200
        write_cell(tree / "frost" / str(severity), classes=("n4", "n5"))
    code, out, _ = run(capsys, tree, "--skip-images")
    assert code == 1 and "10 problem(s) found" in out
    for severity in range(1, 6):
        assert f"problem: frost/{severity}: 5 classes where 10 other cell(s) have 3; extra: n4, n5" in out
        assert f"problem: frost/{severity} has 10 images where 10 other cell(s) have 6" in out


def test_missing_severities_stray_folders_partial_and_empty_cells(tree):
    (tree / "fog" / "6").mkdir()
    for file in (tree / "snow" / "4").rglob("*.png"):
        file.unlink()
    (tree / "snow" / "4").rename(tree / "snow" / "9")
    (tree / "frost" / "2" / "n1" / "0.png").unlink()
    for file in (tree / "fog" / "3" / "n2").iterdir():
        file.unlink()
    problems = validate_data(tree, images=False).problems
    assert "fog/: folder(s) 6 are not severities 1..5" in problems
    assert "snow/: folder(s) 9 are not severities 1..5" in problems and "snow/: severities 4 missing" in problems
    assert "frost/2 has 5 images where 12 other cell(s) have 6" in problems
    assert "fog/3: class folder(s) without images: n2" in problems and "fog/3 has 4 images where" in " ".join(problems)


def test_unreadable_and_odd_sized_images(tree):
    (tree / "fog" / "1" / "n1" / "0.png").write_bytes(b"not an image")
    whole = (tree / "snow" / "5" / "n3" / "1.png").read_bytes()
    (tree / "snow" / "5" / "n3" / "1.png").write_bytes(whole[:len(whole) // 2])  # header intact, pixels cut
    Image.fromarray(np.zeros((9, 8, 3), np.uint8)).save(tree / "frost" / "1" / "n2" / "0.png")
    quick = validate_data(tree)
    assert any(p.startswith("1 unreadable image(s): fog/1/n1/0.png") for p in quick.problems)
    assert "1 image(s) not 8x8 like the rest: frost/1/n2/0.png (8x9)" in quick.problems
    deep = validate_data(tree, decode=True)
    assert any(p.startswith("2 unreadable image(s): fog/1/n1/0.png") and "snow/5/n3/1.png" in p for p in deep.problems)


def test_sha256_lists(capsys, tree, tmp_path):
    files = sorted(p for p in tree.rglob("*.png"))
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {tree.name}/{p.relative_to(tree)}" for p in files]
    (tmp_path / "list").write_text("\n".join(lines) + "\n")  # as `sha256sum` prints it from the parent folder
    code, out, _ = run(capsys, tree, "--sha256", tmp_path / "list", "--skip-images")
    assert code == 0 and "sha256: 90 of 90 listed files match" in out
    files[0].write_bytes(files[1].read_bytes())
    files[2].unlink()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tree / "fog" / "1" / "n1" / "extra.png")
    problems = validate_data(tree, tmp_path / "list", images=False).problems
    assert f"1 file(s) with another sha256 than listed: {files[0].relative_to(tree)}" in problems
    assert f"1 file(s) listed but missing: {files[2].relative_to(tree)}" in problems
    assert "1 file(s) not in the sha256 list: fog/1/n1/extra.png" in problems
    for bad in ("abc  fog/1/n1/0.png", f"{'0' * 64}  fog/1/n1/0\0.png"):  # a short digest; a NUL in the name
        (tmp_path / "bad").write_text(f"{bad}\n")
        code, _, err = run(capsys, tree, "--sha256", tmp_path / "bad")
        assert code == 2 and "line 1" in err and "Traceback" not in err


def test_cifar_c_folders(capsys, tmp_path):
    labels = np.tile(np.arange(6) % 3, 5)
    np.save(tmp_path / "labels.npy", labels)
    for corruption in CORRUPTIONS:
        np.save(tmp_path / f"{corruption}.npy", np.zeros((30, 4, 4, 3), np.uint8))
    code, out, _ = run(capsys, tmp_path)
    assert code == 0 and "6 images per severity, 3 classes" in out
    np.save(tmp_path / "frost.npy", np.zeros((30, 5, 4, 3), np.uint8))
    np.save(tmp_path / "snow.npy", np.zeros((30, 4, 4, 3), np.float32))
    (tmp_path / "fog.npy").write_bytes((tmp_path / "fog.npy").read_bytes()[:200])
    labels[7] = 2
    np.save(tmp_path / "labels.npy", labels)
    problems = validate_data(tmp_path).problems
    assert any(f"{tmp_path / 'fog.npy'}: not a readable .npy array" in p for p in problems)
    assert "snow.npy: expected uint8 (30, H, W, 3), found float32 (30, 4, 4, 3)" in problems
    assert "labels.npy: the labels of the 5 severities differ (expected n labels repeated 5 times)" in problems
    assert len(problems) == 3  # frost alone cannot be "not like the rest" with one other readable array


def test_image_folders_and_other_layouts(capsys, tmp_path):
    write_cell(tmp_path / "clean")
    (tmp_path / "clean" / "n9").mkdir()
    code, out, _ = run(capsys, tmp_path / "clean")
    assert code == 1 and "problem: class folder(s) without images: n9" in out
    (tmp_path / "cifar" / "cifar-10-batches-py").mkdir(parents=True)
    code, _, err = run(capsys, tmp_path / "cifar")
    assert code == 2 and "cifar-test layout" in err
    code, _, err = run(capsys, tmp_path / "nowhere")
    assert code == 2 and "does not exist" in err


def test_cells_with_the_same_count_but_other_files_are_named(capsys, tree):
    (tree / "snow" / "3" / "n1" / "0.png").rename(tree / "snow" / "3" / "n1" / "7.png")  # 6 images still
    code, out, _ = run(capsys, tree, "--skip-images")
    assert code == 1 and "1 problem(s) found" in out
    assert "problem: snow/3: files n1/7.png where 14 other cell(s) have n1/0.png" in out


@pytest.mark.parametrize("escape", ["../outside.png", "absolute", "symlink"])
def test_sha256_lists_naming_files_outside_the_root_are_refused(capsys, tree, tmp_path, escape):
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"secret")
    name = {"../outside.png": "../outside.png", "absolute": str(outside), "symlink": "fog/1/n1/link.png"}[escape]
    if escape == "symlink":
        (tree / name).symlink_to(outside)
    (tmp_path / "list").write_text(f"{hashlib.sha256(b'secret').hexdigest()}  {name}\n")
    code, out, err = run(capsys, tree, "--sha256", tmp_path / "list", "--skip-images")
    assert code == 2 and not out and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"sha256 list {tmp_path / 'list'}: {name} resolves to {outside}, outside {tree}" in err
