"""A data set brings its own protocol: `evaluate --data demo` (32 px images made for CIFAR-10-C's constants)
without `--preset` computes and records exactly the cells of `--preset cifar`; an explicit `--preset imagenet`
wins, is recorded (data set `demo-otf`, no CIFAR preset in the fingerprints) and warns once, in one line, that
32 px images are far from the 224 px its constants were set for."""

import warnings

import numpy as np
import pytest

from robustbench_lift.cli import main
from robustbench_lift.store import load_results
from robustbench_lift.suites.corruption import CorruptionSuite
from robustbench_lift.suites.options import CorruptionOptions, PerturbationOptions
from robustbench_lift.suites.perturbation import PerturbationSuite
from robustbench_lift.suites.protocol import warn_far_size


def run_demo(tmp_path, capsys, name: str, *extra: str) -> tuple[object, list[str]]:
    """Cells of `demo-max` (shipped weights) on 16 demo images, fog at severity 1, and the lines the command
    printed on stderr about the preset's constants."""
    out = tmp_path / f"{name}.db"
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--model", "demo-max", "--weights", "DEFAULT", "--data", "demo", "--suite", "c",
              "--corruptions", "fog", "--severities", "1", "--limit", "16", "--out", str(out), "--no-progress",
              "--bootstrap", "0", *extra])
    assert exit_info.value.code == 0
    frame = load_results(out, predictions=True).sort_values(["corruption", "severity"]).reset_index(drop=True)
    return frame, [line for line in capsys.readouterr().err.splitlines() if "preset" in line]


def test_demo_without_preset_is_the_cifar_run_cell_for_cell(tmp_path, capsys):
    default, warned = run_demo(tmp_path, capsys, "default")
    cifar, _ = run_demo(tmp_path, capsys, "cifar", "--preset", "cifar")
    assert not warned
    assert set(default["dataset"]) == {"demo-otf-cifar"}  # the name `liftbench demo` stores its c cells under
    assert default.loc[default["corruption"] == "fog", "fingerprint"].iloc[0]["preset"] == "cifar"
    for column in ("dataset", "corruption", "severity", "fingerprint", "top1_err"):
        assert default[column].tolist() == cifar[column].tolist(), column
    assert all(np.array_equal(a, b) for a, b in zip(default["predictions"], cifar["predictions"]))


def test_an_explicit_imagenet_preset_wins_is_recorded_and_warns_once(tmp_path, capsys):
    imagenet, warned = run_demo(tmp_path, capsys, "imagenet", "--preset", "imagenet")
    cifar, _ = run_demo(tmp_path, capsys, "cifar", "--preset", "cifar")
    assert set(imagenet["dataset"]) == {"demo-otf"}
    fog = imagenet.loc[imagenet["corruption"] == "fog"].iloc[0]
    assert "preset" not in fog["fingerprint"]  # ImageNet-C's constants, recorded as every ImageNet run's
    cifar_fog = cifar.loc[cifar["corruption"] == "fog"].iloc[0]
    assert not np.array_equal(fog["predictions"], cifar_fog["predictions"])  # other constants, other inputs
    assert len(warned) == 1 and warned[0].startswith("Warning: suite c on demo: 32 px images")
    assert "32 px" in warned[0] and "224 px" in warned[0]
    assert "--preset cifar" in warned[0] and "--severity-scaling area" in warned[0]


def test_the_warning_only_where_sizes_are_far_and_unscaled():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        CorruptionSuite("demo", CorruptionOptions(corruptions=["fog"], preset="imagenet", severity_scaling="area"))
        CorruptionSuite("demo", CorruptionOptions(corruptions=["fog"]))
        assert not [w for w in caught if "preset's constants" in str(w.message)]
        PerturbationSuite("demo", PerturbationOptions(perturbations=["gaussian_noise"], preset="imagenet"))
    messages = [str(w.message) for w in caught if "preset's constants" in str(w.message)]
    assert len(messages) == 1 and "--preset cifar" in messages[0] and "--severity-scaling" not in messages[0]


@pytest.mark.parametrize(("side", "preset", "scaling", "named"), [
    (1024, "imagenet", "none", ["--severity-scaling area"]),  # CIFAR's 32 px constants would be further off
    (1024, "imagenet", None, []),  # suite p: nothing would fit them, so no warning
    (224, "cifar", "none", ["--preset imagenet (224 px)", "--severity-scaling area"]),
    (64, "cifar", None, []),  # 2x: near enough
    (300, "imagenet", "none", []),
])
def test_the_warning_names_only_what_fits_the_images(side, preset, scaling, named):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_far_size("suite", side, preset, scaling)
    assert len(caught) == (1 if named else 0)
    if named:
        assert str(caught[0].message).endswith("pass " + " or ".join(named))
