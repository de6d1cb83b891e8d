"""A data pickle cannot make the reader allocate more than its own length: every array, scalar and bytearray it
builds is checked against the bytes it actually carries before NumPy allocates, a pickle larger than the sane
maximum is refused before it is read, and array/dtype states NumPy does not check (an object array whose list is
shorter than its shape, a dtype whose flags claim object pointers) are refused instead of crashing the process.
The pickles are written opcode by opcode here (pickletools' names), independent of the reader."""

import pickle
import tracemalloc

import numpy as np
import pytest

from robustbench_lift.data import safe_pickle
from robustbench_lift.data.cifar import read_cifar_batch
from robustbench_lift.data.cifar_c import load_cifar_test
from robustbench_lift.data.safe_pickle import load_pickle
from robustbench_lift.errors import UsageError

GIB2 = 2**31


def long1(value: int) -> bytes:
    """LONG1 opcode: a non-negative int as little-endian two's complement."""
    raw = value.to_bytes((value.bit_length() + 8) // 8, "little")
    return b"\x8a" + bytes([len(raw)]) + raw


def glob(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


def dtype_op(spec: bytes, state: tuple) -> bytes:
    """np.dtype(spec, False, True) then BUILD with `state` (byte order, flags) as NumPy writes it."""
    order, flags = state
    return (glob("numpy", "dtype") + b"(" + b"U" + bytes([len(spec)]) + spec + b"\x89\x88tR"
            + b"(K\x03U\x01" + order + b"NNN" + b"J\xff\xff\xff\xffJ\xff\xff\xff\xff" + long1(flags) + b"tb")


def array_op(shape: int, dtype: bytes, data: bytes) -> bytes:
    """`_reconstruct(ndarray, (0,), b'b')` then BUILD `(1, (shape,), dtype, False, data)` (NumPy's own layout)."""
    return (glob("numpy.core.multiarray", "_reconstruct") + glob("numpy", "ndarray") + b"K\x00\x85" + b"C\x01b"
            + b"\x87R" + b"(K\x01" + long1(shape) + b"\x85" + dtype + b"\x89" + data + b"tb")


def peak_of(path) -> tuple[int, BaseException | None]:
    """Peak traced allocation (NumPy reports its buffers to tracemalloc) while reading `path`, and the error."""
    tracemalloc.start()
    try:
        load_pickle(path)
        error = None
    except UsageError as exc:
        error = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, error


ATTACKS = {
    # numpy.ndarray((2**31,)): 26 bytes asking for 2 GiB.
    "ndarray_call": glob("numpy", "ndarray") + long1(GIB2) + b"\x85\x85R.",
    # _reconstruct(ndarray, (2**31,), b'b'): NumPy's own reconstructor allocates the shape it is given.
    "reconstruct_shape": glob("numpy.core.multiarray", "_reconstruct") + glob("numpy", "ndarray") + long1(GIB2)
    + b"\x85C\x01b\x87R.",
    # bytearray(2**31): zero-filled 2 GiB.
    "bytearray_size": glob("builtins", "bytearray") + long1(GIB2) + b"\x85R.",
    # _frombuffer(b'ab', uint8, (2**31,), 'C'): a shape the buffer does not hold.
    "frombuffer_shape": glob("numpy.core.numeric", "_frombuffer") + b"(C\x02ab" + dtype_op(b"u1", (b"|", 0))
    + long1(GIB2) + b"\x85X\x01\x00\x00\x00CtR.",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_few_bytes_cannot_declare_gigabytes(tmp_path, attack):
    payload = ATTACKS[attack]
    assert len(payload) < 200
    (tmp_path / "p").write_bytes(payload)
    peak, error = peak_of(tmp_path / "p")
    assert peak < 1 << 20  # bytes, not the 2 GiB declared
    assert error is not None and str(tmp_path / "p") in str(error) and "\n" not in str(error)


def test_an_object_array_shorter_than_its_shape_is_refused_not_a_crash(tmp_path):
    # NumPy's ndarray.__setstate__ segfaults on this (it trusts the shape over the list's length).
    payload = b"\x80\x02" + array_op(10**9, dtype_op(b"O8", (b"|", 63)), b"]K\x01a") + b"."
    (tmp_path / "p").write_bytes(payload)
    with pytest.raises(UsageError, match="1 items for shape"):
        load_pickle(tmp_path / "p")


def test_a_dtype_whose_flags_claim_object_pointers_is_refused(tmp_path):
    # V1 with NumPy's object flags (63): 8-byte object pointers into 1-byte items (NumPy fails with MemoryError).
    payload = b"\x80\x02" + array_op(64, dtype_op(b"V1", (b"|", 63)), b"(" + b"K\x01" * 64 + b"l") + b"."
    (tmp_path / "p").write_bytes(payload)
    with pytest.raises(UsageError, match="not a plain NumPy dtype"):
        load_pickle(tmp_path / "p")


def test_raw_bytes_must_match_the_declared_shape(tmp_path):
    payload = b"\x80\x02" + array_op(3072 * 10**6, dtype_op(b"u1", (b"|", 0)), b"C\x04abcd") + b"."
    (tmp_path / "p").write_bytes(payload)
    with pytest.raises(UsageError, match="4 bytes for shape"):
        load_pickle(tmp_path / "p")


def test_the_hand_written_array_layout_is_what_numpy_reads(tmp_path):
    # The oracle for the opcode helpers above: a plain pickle.loads of the same bytes.
    payload = b"\x80\x02" + array_op(4, dtype_op(b"i2", (b">", 0)), b"C\x08\x00\x01\x00\x02\x00\x03\x00\x04") + b"."
    expected = pickle.loads(payload)
    assert expected.tolist() == [1, 2, 3, 4]  # big-endian bytes 00 01, 00 02, ...
    (tmp_path / "p").write_bytes(payload)
    loaded = load_pickle(tmp_path / "p")
    assert loaded.tolist() == [1, 2, 3, 4] and loaded.dtype == expected.dtype and type(loaded) is np.ndarray


def test_a_file_over_the_maximum_is_refused_before_reading(tmp_path, monkeypatch):
    (tmp_path / "test_batch").write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}))
    monkeypatch.setattr(safe_pickle, "MAX_PICKLE_BYTES", 1000)
    with pytest.raises(UsageError, match="maximum"):
        read_cifar_batch(tmp_path / "test_batch")


def test_the_cifar_loader_refuses_a_30_byte_test_batch_without_allocating(tmp_path):
    payload = ATTACKS["bytearray_size"]
    assert len(payload) == 30
    (tmp_path / "test_batch").write_bytes(payload)
    tracemalloc.start()
    try:
        with pytest.raises(UsageError, match=r"test_batch: refused bytearray\(2147483648\)"):
            load_cifar_test(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
