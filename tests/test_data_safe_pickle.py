"""CIFAR pickles are read so that no code can run: a payload naming any global outside the data allowlist is
refused (the marker file it would write never appears) and the error names the file; real-format batches
(Python 2 `str` as BINSTRING, protocol 2, NumPy arrays) read exactly as `pickle.load` reads them."""

import builtins
import os
import pickle
import struct
from typing import ClassVar

import numpy as np
import pytest

from robustbench_lift.cli import main
from robustbench_lift.data.cifar import read_cifar_batch
from robustbench_lift.data.cifar_c import load_cifar_test
from robustbench_lift.data.safe_pickle import load_pickle
from robustbench_lift.errors import UsageError


class Py2Pickler(pickle._Pickler):
    """Writes `bytes` as Python 2 `str` (SHORT_BINSTRING / BINSTRING), as cPickle wrote CIFAR's batches: keys,
    file names and the arrays' raw data."""

    def save_bytes(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch: ClassVar[dict] = {**pickle._Pickler.dispatch, bytes: save_bytes}


def cifar_batch(count: int = 6) -> dict:
    rng = np.random.default_rng(0)
    return {b"batch_label": b"testing batch 1 of 1", b"labels": [int(v) for v in rng.integers(0, 10, count)],
            b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(count)]}


def write_py2(path, obj) -> None:
    with open(path, "wb") as f:
        Py2Pickler(f, protocol=2).dump(obj)


class Payload:
    """Unpickles as `function(*args)`: what a hostile `test_batch` does before returning a valid batch."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def test_real_format_batch_reads_as_pickle_load_reads_it(tmp_path):
    batch = cifar_batch()
    write_py2(tmp_path / "test_batch", batch)
    with open(tmp_path / "test_batch", "rb") as f:
        expected = pickle.load(f, encoding="latin1")  # the oracle: torchvision's plain read
    loaded = load_pickle(tmp_path / "test_batch")
    assert set(loaded) == {"batch_label", "labels", "data", "filenames"} == set(expected)
    assert np.array_equal(loaded["data"], batch[b"data"]) and loaded["labels"] == expected["labels"]
    images, labels = read_cifar_batch(tmp_path / "test_batch")
    assert np.array_equal(images.numpy(), batch[b"data"].reshape(-1, 3, 32, 32))
    assert labels.tolist() == batch[b"labels"]


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_python3_pickles_of_bytes_arrays_scalars_and_sets_round_trip(tmp_path, protocol):
    obj = {b"data": np.arange(12, dtype=np.int16).reshape(3, 4).T, "s": {1, 2}, "f": frozenset("ab"),
           "scalar": np.float32(2.5), "c": 1 + 2j, "b": bytearray(b"xy"), "o": np.array([1, "a"], dtype=object)}
    (tmp_path / "p").write_bytes(pickle.dumps(obj, protocol=protocol))
    loaded = load_pickle(tmp_path / "p")
    assert np.array_equal(loaded[b"data"], obj[b"data"]) and loaded[b"data"].dtype == np.int16
    assert {k: v for k, v in loaded.items() if k not in (b"data", "o")} == \
        {k: v for k, v in obj.items() if k not in (b"data", "o")}
    assert loaded["o"].tolist() == [1, "a"]


@pytest.mark.parametrize("payload", ["os.system", "builtins.open"])
def test_payload_never_runs_and_the_error_names_file_and_global(tmp_path, payload):
    marker = tmp_path / "marker"
    attack = Payload(os.system, f"touch {marker}") if payload == "os.system" else Payload(builtins.open, str(marker),
                                                                                           "w")
    batch = {**cifar_batch(), b"x": attack}
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    write_py2(folder / "test_batch", batch)
    with pytest.raises(UsageError) as error:
        load_cifar_test(tmp_path)
    assert not marker.exists()
    assert str(folder / "test_batch") in str(error.value)
    named = "posix.system" if payload == "os.system" else "io.open"  # the modules that define them
    assert f"global {named}" in str(error.value)


def test_evaluate_refuses_a_payload_batch_before_running_it(tmp_path, capsys):
    marker = tmp_path / "marker"
    write_py2(tmp_path / "test_batch", {**cifar_batch(), b"x": Payload(os.system, f"touch {marker}")})
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--model", "demo-max", "--num-classes", "10", "--data", str(tmp_path), "--suite", "clean",
              "--resize", "0", "--crop", "0", "--out", str(tmp_path / "r.db"), "--no-progress"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and not marker.exists()
    assert str(tmp_path / "test_batch") in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_codecs_encode_is_admitted_for_latin1_only(tmp_path):
    import _codecs

    (tmp_path / "p").write_bytes(pickle.dumps(Payload(_codecs.encode, "abc", "rot13"), protocol=2))
    with pytest.raises(UsageError, match="rot13"):
        load_pickle(tmp_path / "p")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_pickles_are_one_line_errors_naming_the_file(tmp_path, damage):
    whole = pickle.dumps(cifar_batch(), protocol=2)
    content = {"truncated": whole[:len(whole) // 2], "garbage": b"\x80\x02not a pickle", "empty": b""}[damage]
    (tmp_path / "test_batch").write_bytes(content)
    with pytest.raises(UsageError) as error:
        read_cifar_batch(tmp_path / "test_batch")
    message = str(error.value)
    assert str(tmp_path / "test_batch") in message and "\n" not in message


def test_a_pickle_that_is_not_a_cifar_batch_is_refused(tmp_path):
    (tmp_path / "b").write_bytes(pickle.dumps({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}))
    with pytest.raises(UsageError, match="3x32x32"):
        read_cifar_batch(tmp_path / "b")
    (tmp_path / "l").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(UsageError, match="not a CIFAR pickle"):
        read_cifar_batch(tmp_path / "l")
