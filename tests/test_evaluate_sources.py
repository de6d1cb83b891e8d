"""Any model source through `evaluate` and `liftbench evaluate`: the canonical name is what is stored, weights
identify by sha256, a swapped torchvision model and a user's factory run end to end (small models, demo data)."""

import hashlib
import textwrap
from dataclasses import replace

import pytest

from robustbench_lift.cli import main
from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.engine.model import prepare_model, state_dict_sha256
from robustbench_lift.models import create_model, save_checkpoint
from robustbench_lift.store import load_results

RUN = RunOptions(limit=4, progress=False, batch_size=4)


def test_a_zoo_name_and_its_max_form_are_one_stored_model(tmp_path):
    out = tmp_path / "r.db"
    run, ten = replace(RUN, out=out), ModelOptions(num_classes=10)
    first = evaluate("cifar_resnet10s", "clean", "demo", run=run, options=ten)
    second = evaluate("cifar_resnet10s-max", "clean", "demo", run=run, options=ten)
    stored = load_results(out)
    assert len(stored) == 1 and stored["model"].tolist() == ["cifar_resnet10s-max"]
    assert first["weights_sha256"].tolist() == second["weights_sha256"].tolist()


def test_identity_is_the_weights_file_sha256_or_the_state_dict_hash(tmp_path):
    model = create_model("cifar_resnet10s", num_classes=10, seed=2)
    path = tmp_path / "w.pt"
    save_checkpoint(model, path, {"mean": (0.5,) * 3, "std": (0.25,) * 3, "recipe": "test", "dataset": "demo"})
    from_file = prepare_model("cifar_resnet10s", ModelOptions(weights=str(path)))
    assert from_file.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert from_file.name == "cifar_resnet10s-max" and from_file.mean == (0.5,) * 3
    seeded = prepare_model("cifar_resnet10s", ModelOptions(num_classes=10), seed=2)
    assert seeded.weights_sha256 == state_dict_sha256(model)


def test_cli_evaluates_a_swapped_torchvision_model(tmp_path, capsys):
    out = tmp_path / "r.db"
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--model", "torchvision:resnet18", "--pool", "lift", "--num-classes", "10", "--suite",
              "clean", "--data", "demo", "--limit", "4", "--out", str(out), "--no-progress", "--bootstrap", "0"])
    assert exit_info.value.code == 0, capsys.readouterr().err
    stored = load_results(out)
    assert stored["model"].tolist() == ["torchvision:resnet18-lift"]
    reference = create_model("torchvision:resnet18", pool="lift", num_classes=10)
    assert stored["weights_sha256"].tolist() == [state_dict_sha256(reference)]
    assert stored["fingerprint"][0]["input_size"] == 32  # the demo's 32 px arrays are used as they are


def test_cli_evaluates_a_factory_with_model_args(tmp_path, capsys):
    (tmp_path / "net.py").write_text(textwrap.dedent("""
        from torch import nn

        def build(width=4, num_classes=10):
            return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))
    """))
    out = tmp_path / "r.db"
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--model", f"{tmp_path / 'net.py'}:build", "--model-arg", "width=6", "--pool", "blur",
              "--suite", "c", "--corruptions", "fog", "--severities", "1", "--data", "demo", "--limit", "4",
              "--out", str(out), "--no-progress", "--bootstrap", "0"])
    assert exit_info.value.code == 0, capsys.readouterr().err
    stored = load_results(out)
    assert set(stored["model"]) == {f"{tmp_path.as_posix()}/net.py:build-blur[width=6]"}
    fog = stored[stored["corruption"] == "fog"]["fingerprint"].iloc[0]
    assert fog["input_size"] == 32 and fog["severity_scaling"] == "none"
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--model", f"{tmp_path / 'net.py'}:build", "--model-arg", "depth", "--data", "demo"])
    assert exit_info.value.code == 2 and "depth" in capsys.readouterr().err


def test_cli_a_broken_factory_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "net.py").write_text("from torch import nn\n\ndef build(num_classes=10):\n"
                                     "    return nn.Sequential(nn.Flatten(), nn.Linear(3, num_classes))\n")
    (tmp_path / "syntax.py").write_text("def build(:\n")
    for model, args, message in ((f"{tmp_path / 'net.py'}:build", ["--model-arg", "num_classes=abc"], "TypeError"),
                                 (f"{tmp_path / 'net.py'}:build", ["--model-arg", "num_classes=-3"], "RuntimeError"),
                                 (f"{tmp_path / 'syntax.py'}:build", [], "SyntaxError")):
        with pytest.raises(SystemExit) as exit_info:
            main(["evaluate", "--model", model, *args, "--data", "demo", "--limit", "2", "--no-progress",
                  "--out", str(tmp_path / "r.db")])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert message in err and model.rpartition(":")[0] in err
