"""LPS's published checkpoints are PyTorch Lightning `.ckpt` files: their tensors load, their pickled objects
(hyper-parameters naming the authors' classes, or a planted command) are neither imported nor run."""

import functools
import os
import sys
import types

import pytest
import torch

from robustbench_lift.errors import UsageError
from robustbench_lift.models.lightning import Inert, read_inert
from robustbench_lift.models.weights import read_checkpoint


class _Command:
    """Pickles as `os.system(command)`: what a planted file would run if its globals were resolved."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def lightning_file(path, marker, state_dict):
    """A Lightning-format checkpoint whose hyper-parameters hold a `functools.partial` of
    `lps_models.NotExisting` (a module that exists only while the file is written) and a command touching
    `marker`."""
    fake = types.ModuleType("lps_models")

    class NotExisting:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    NotExisting.__module__, NotExisting.__qualname__ = "lps_models", "NotExisting"
    fake.NotExisting = NotExisting
    sys.modules["lps_models"] = fake
    try:
        torch.save({"epoch": 89, "global_step": 1, "pytorch-lightning_version": "1.4.0",
                    "state_dict": state_dict,
                    "hyper_parameters": {"pooling_layer": functools.partial(NotExisting, stride=2),
                                         "padding_mode": "zeros", "payload": _Command(f"touch {marker}")}},
                   path)
    finally:
        del sys.modules["lps_models"]


def test_lightning_checkpoint_loads_tensors_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    state = {"core.conv1.weight": torch.randn(4, 3, 7, 7), "core.fc.bias": torch.arange(5.0)[1:],
             "core.maxpool.3.component_selection.gumbel_tau": torch.tensor(0.5)}
    lightning_file(tmp_path / "lps.ckpt", marker, state)
    with pytest.raises(Exception, match="Unsupported global|lps_models|posix"):  # the plain safe reader refuses it
        torch.load(tmp_path / "lps.ckpt", weights_only=True)
    content = read_inert(tmp_path / "lps.ckpt")
    hyper = content["hyper_parameters"]
    assert isinstance(hyper["pooling_layer"], Inert) and hyper["pooling_layer"].global_name == "functools.partial"
    assert hyper["pooling_layer"].args[0].global_name == "lps_models.NotExisting"
    assert isinstance(hyper["payload"], Inert) and hyper["payload"].args == (f"touch {marker}",)
    loaded, meta = read_checkpoint(tmp_path / "lps.ckpt")
    assert meta == {} and loaded.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(loaded[key], value) and loaded[key].dtype == value.dtype
    assert "lps_models" not in sys.modules and not marker.exists()


def test_other_pickled_objects_are_still_refused(tmp_path):
    marker = tmp_path / "marker"
    torch.save({"state_dict": {"w": torch.ones(1)}, "payload": _Command(f"touch {marker}")}, tmp_path / "x.pt")
    with pytest.raises(UsageError, match="not a checkpoint loadable"):
        read_checkpoint(tmp_path / "x.pt")
    assert not marker.exists()
    (tmp_path / "bad.ckpt").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(UsageError, match="not a checkpoint loadable"):
        read_checkpoint(tmp_path / "bad.ckpt")
