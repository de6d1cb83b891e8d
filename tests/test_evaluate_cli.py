"""`liftbench evaluate`: a 3-class checkpoint on a 3-class folder honours its metadata; tables, JSON, exports and
exit codes."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import torch
from evaluate_fixtures import CORRUPTIONS, build_data, sorted_paths

from corruptions.names import expand_corruptions
from robustbench_lift.cli import main
from robustbench_lift.commands.options import parse_levels
from robustbench_lift.errors import UsageError
from robustbench_lift.models import create_model, save_checkpoint
from robustbench_lift.store import load_results

MODEL = "cifar_resnet18-max"
MEAN, STD = (0.45, 0.5, 0.55), (0.2, 0.25, 0.3)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = build_data(tmp_path_factory.mktemp("cli"))
    model = create_model(MODEL, num_classes=3, seed=3)
    save_checkpoint(model, root / "three.pt", {"mean": MEAN, "std": STD, "recipe": "test", "dataset": "photos"})
    return root


def run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_checkpoint_metadata_is_honoured(setup, capsys):
    out = setup / "r.db"
    code, stdout, _ = run(["evaluate", "--model", MODEL, "--weights", str(setup / "three.pt"), "--data",
                           str(setup / "tiny-c"), "--clean", str(setup / "clean"), "--corruptions",
                           ",".join(CORRUPTIONS), "--severities", "3", "--resize", "0", "--crop", "0", "--out",
                           str(out), "--json", "--no-progress", "--export", str(setup / "r.csv")], capsys)
    assert code == 0
    summary = json.loads(stdout)[0]
    frame = load_results(out, predictions=True)
    assert (frame["weights_sha256"] == hashlib.sha256((setup / "three.pt").read_bytes()).hexdigest()).all()
    assert frame.loc[0, "fingerprint"]["mean"] == list(MEAN) and frame.loc[0, "fingerprint"]["num_classes"] == 3
    # independent loop: the checkpoint rebuilt by the zoo, images normalised with the recorded mean/std
    model = create_model(MODEL, weights=setup / "three.pt").eval()
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    from PIL import Image

    errors = {}
    for corruption, folder in [("clean", setup / "clean"), *[(c, setup / "tiny-c" / c / "3") for c in CORRUPTIONS]]:
        paths = sorted_paths(folder)
        x = torch.stack([torch.from_numpy(np.array(Image.open(p).convert("RGB"))) for p in paths]).permute(0, 3, 1, 2)
        with torch.no_grad():
            top1 = model((x.float() / 255 - mean) / std).argmax(1).numpy()
        labels = np.array([["n01000001", "n02000002", "n03000003"].index(p.parent.name) for p in paths])
        errors[corruption] = np.mean(top1 != labels)
        row = frame[frame["corruption"] == corruption].iloc[0]
        assert np.array_equal(row["predictions"][:, 0], top1), corruption
    assert summary["clean_err"] == pytest.approx(errors["clean"])
    assert summary["mean_err"] == pytest.approx(np.mean([errors[c] for c in CORRUPTIONS]))
    assert summary["mean_err_lo"] <= summary["mean_err"] <= summary["mean_err_hi"]
    assert "mCE" not in summary  # a 3-class model has no AlexNet normaliser
    exported = pd.read_csv(setup / "r.csv")
    assert sorted(exported["corruption"]) == ["clean", *sorted(CORRUPTIONS)]


def test_table_output_and_resume(setup, capsys):
    args = ["evaluate", "--model", MODEL, "--model", MODEL, "--weights", str(setup / "three.pt"), "--weights",
            str(setup / "three.pt"), "--data", str(setup / "tiny-c"), "--corruptions", "fog", "--severities", "1",
            "--out", str(setup / "t.db"), "--no-progress", "--bootstrap", "0"]
    code, stdout, _ = run(args, capsys)
    assert code == 0
    assert "mean corr. err." in stdout and "| fog" in stdout and f"| {MODEL}" in stdout
    assert len(load_results(setup / "t.db")) == 1  # the second --model found its cell stored


def test_cifar_preset_corrupts_on_the_fly_with_cifar_constants(setup, capsys):
    out = setup / "preset.db"
    code, _, _ = run(["evaluate", "--model", MODEL, "--weights", str(setup / "three.pt"), "--data",
                      str(setup / "clean"), "--corruptions", "contrast", "--severities", "1", "--preset", "cifar",
                      "--resize", "0", "--crop", "0", "--out", str(out), "--no-progress", "--bootstrap", "0"], capsys)
    assert code == 0
    row = load_results(out, predictions=True).set_index("corruption").loc["contrast"]
    assert row["dataset"] == "clean-otf-cifar" and row["fingerprint"]["preset"] == "cifar"
    from PIL import Image

    import corruptions

    x = torch.stack([torch.from_numpy(np.array(Image.open(p).convert("RGB"))) for p in sorted_paths(setup / "clean")])
    model = create_model(MODEL, weights=setup / "three.pt").eval()
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    top1 = {}
    for preset in ("cifar", "imagenet"):
        corrupted = corruptions.corrupt(x.permute(0, 3, 1, 2), "contrast", 1, preset=preset)
        with torch.no_grad():
            top1[preset] = model((corrupted.float() / 255 - mean) / std).argmax(1).numpy()
    assert np.array_equal(row["predictions"][:, 0], top1["cifar"])
    assert not np.array_equal(top1["cifar"], top1["imagenet"])  # the check can tell the presets apart


@pytest.mark.parametrize("args, message", [
    (["--model", "cifar_resnet18-maxx"], "unknown model 'cifar_resnet18-maxx'"),
    (["--model", MODEL, "--weights", "missing.pt"], "missing.pt"),
    (["--model", MODEL, "--severities", "0-9"], "--severities '0-9'"),
    (["--model", MODEL, "--weights", "a.pt", "--weights", "b.pt"], "2 --weights for 1 --model"),
    (["--model", MODEL, "--corruptions", "fogg"], "no corruption folder(s) fogg/"),
    (["--model", MODEL, "--preset", "cifar"], "pre-rendered imagenet-c tree"),
    (["--model", MODEL, "--device", "cuda:7" if torch.cuda.is_available() else "cuda"], "cuda"),
])
def test_usage_errors_exit_2(setup, capsys, args, message):
    code, _, err = run(["evaluate", "--data", str(setup / "tiny-c"), "--out", str(setup / "e.db"),
                        "--no-progress", *args], capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_missing_option_is_a_usage_error(capsys):
    code, _, err = run(["evaluate", "--model", MODEL], capsys)
    assert code == 2 and "--data" in err


def test_parse_lists():
    assert expand_corruptions("noise, fog,shot_noise") == ["gaussian_noise", "shot_noise", "impulse_noise", "fog"]
    assert len(expand_corruptions("common")) == 15 and expand_corruptions(None) == expand_corruptions("common")
    with pytest.raises(UsageError, match="unknown corruption 'fogg'.*did you mean fog"):
        expand_corruptions("fogg")
    assert parse_levels("1,3-5") == [1, 3, 4, 5] and parse_levels("2") == [2] and parse_levels("") is None
    for bad in ("6", "x", "0-2"):
        with pytest.raises(UsageError, match="expected numbers 1..5"):
            parse_levels(bad)


def test_unreadable_image_is_a_failure_exit_1(setup, tmp_path, capsys):
    import shutil

    shutil.copytree(setup / "tiny-c" / "fog", tmp_path / "broken-c" / "fog")
    bad = sorted_paths(tmp_path / "broken-c" / "fog" / "1")[4]
    bad.write_bytes(b"not a jpeg")
    code, _, err = run(["evaluate", "--model", MODEL, "--data", str(tmp_path / "broken-c"), "--corruptions", "fog",
                        "--severities", "1", "--out", str(tmp_path / "r.db"), "--no-progress"], capsys)
    assert code == 1 and f"cannot decode image {bad}" in err


@pytest.mark.parametrize(("suite", "extra"), [("clean", []), ("shift", ["--pairs", "1"]),
                                              ("freq", ["--freq-window", "3", "--eps", "2"])])
def test_every_suite_runs_with_the_command_defaults(setup, capsys, suite, extra):
    """The command's defaults are only given to the suites that take them (`--backend` is the c suite's)."""
    out = setup / f"{suite}.db"
    code, _, err = run(["evaluate", "--model", MODEL, "--weights", str(setup / "three.pt"), "--suite", suite,
                        "--data", str(setup / "clean"), "--resize", "0", "--crop", "0", "--no-progress",
                        "--out", str(out), *extra], capsys)
    assert code == 0, err
    cells = load_results(out)
    assert set(cells["suite"]) == {suite}
    if suite == "freq":  # offsets -1..1: four pairs and DC, each one cell, and the clean cell
        assert len(cells) == 6 and all(f["eps"] == 2.0 for f in cells["fingerprint"] if f["source"] == "fourier")


@pytest.mark.parametrize("export, message", [
    ("r.txt", "expected a .csv or .json file name"),
    ("missing/r.csv", "folder"),
    (".", "is a folder"),
])
def test_a_bad_export_is_refused_before_any_work(tmp_path, capsys, export, message):
    """Before: `--export r.txt` was refused after the whole evaluation."""
    code, _, err = run(["evaluate", "--model", MODEL, "--data", "demo", "--suite", "clean", "--out",
                        str(tmp_path / "r.db"), "--no-progress", "--export", str(tmp_path / export)], capsys)
    assert code == 2 and message in err and str(tmp_path / export) in err and "Traceback" not in err
    assert not (tmp_path / "r.db").exists()  # refused before the store was opened, so before anything ran


@pytest.mark.parametrize("out, message", [("missing/r.db", "does not exist"), (".", "not a liftbench results store")])
def test_an_unwritable_store_is_refused_before_any_image_is_evaluated(tmp_path, capsys, monkeypatch, out, message):
    from robustbench_lift.engine.runner import Engine

    def never(*args, **kwargs):
        raise AssertionError("an image was evaluated before the store was checked")

    monkeypatch.setattr(Engine, "run", never)
    code, _, err = run(["evaluate", "--model", MODEL, "--model", MODEL, "--data", "demo", "--suite", "clean", "--out",
                        str(tmp_path / out), "--no-progress"], capsys)
    assert code == 2 and message in err and "Traceback" not in err
