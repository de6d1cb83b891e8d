"""`liftbench train --weights` with a checkpoint of the original architecture into its pooling-swapped form:
the transfer report printed and recorded, loaded tensors equal to the checkpoint's, new pools at their own
initialisation, a head of another size left initialised."""

import pytest
import torch
import torchvision
from test_train import CIFAR10_FILES, write_cifar

from robustbench_lift.cli import main
from robustbench_lift.models import create_model, read_checkpoint, resolve_model


def test_cli_fine_tunes_a_swapped_torchvision_model_from_the_original_checkpoint(tmp_path, capsys):
    write_cifar(tmp_path / "data", "cifar-10-batches-py", CIFAR10_FILES, "labels", 4, 10)
    torch.manual_seed(7)
    original = torchvision.models.resnet18().state_dict()  # 1000 classes: the ImageNet head
    torch.save(original, tmp_path / "resnet18.pth")
    args = ["train", "--model", "torchvision:resnet18", "--pool", "lift", "--weights", str(tmp_path / "resnet18.pth"),
            "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "10",
            "--lr", "1e-12", "--weight-decay", "0", "--no-progress"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out = capsys.readouterr().out
    assert exit_info.value.code == 0, out
    fresh = create_model("torchvision:resnet18", pool="lift", num_classes=10, seed=0).state_dict()
    new = sorted(set(fresh) - set(original))
    head = ["fc.bias", "fc.weight"]
    assert new and all(".pool." in key or key == "maxpool" or key.startswith("maxpool.") for key in new)
    assert (f"loaded {len(original) - len(head)} tensors, {len(new)} new pooling tensors at their initialisation, "
            "0 missing, 0 unexpected, 2 of another shape") in out
    assert "fc.weight (1000, 512) in the checkpoint vs (10, 512)" in out
    state, meta = read_checkpoint(tmp_path / "run" / "final.pt")
    assert meta["transfer"] == {"loaded": len(original) - 2, "new": len(new), "missing": 0, "unexpected": 0,
                                "mismatched": 2}
    assert meta["model"] == "torchvision:resnet18-lift"
    for key in ("conv1.weight", "layer2.0.conv1.weight", "layer4.1.conv2.weight"):  # lr 1e-12: as loaded
        torch.testing.assert_close(state[key], original[key])
    for key in [k for k in new if "running" not in k and "num_batches" not in k] + head:  # their own init
        torch.testing.assert_close(state[key], fresh[key])
    # The fine-tuned checkpoint evaluates as the same swapped model: everything loads, its normalisation is used.
    model, loaded = resolve_model("torchvision:resnet18", weights=tmp_path / "run" / "final.pt", pool="lift")
    assert loaded["transfer"]["new"] == () and loaded["num_classes"] == 10
    assert loaded["mean"] == list(meta["mean"])
    torch.testing.assert_close(model.state_dict()["layer1.0.conv1.weight"], state["layer1.0.conv1.weight"])
