"""Read data pickles (CIFAR's python batches) so that no code can run and no size can be forged: a restricted
unpickler.

`pickle.load` calls any importable global a file names (e.g. `os.system` through a `__reduce__`), so a
downloaded `test_batch` could run commands. `load_pickle` admits only the built-in containers and scalars that
pickle's own opcodes make (dict, list, tuple, str, bytes, int, float, bool, None) plus the few globals data
needs: NumPy array, dtype and scalar reconstruction, `set` / `frozenset` / `bytearray` / `complex`, and
`_codecs.encode` restricted to latin-1 (how Python 3 writes `bytes` at protocol 2, e.g. CIFAR's bytes keys
re-pickled by a Python 3 script). Any other global is refused with a `UsageError` naming the file and the
global, before anything is called.

Sizes: a file over `MAX_PICKLE_BYTES` is refused before it is read, and nothing the pickle declares may allocate
more than the bytes it carries. NumPy's own reconstructors allocate the shape they are told (`ndarray((2**31,))`
is a 26-byte pickle asking for 2 GiB) and trust the state they are given (an object array whose list is shorter
than its shape crashes the process), so dtypes and arrays are first built as `_Pending` stand-ins; NumPy builds
the real object only after its state is checked: a plain dtype exactly as NumPy itself pickles it (structured
and datetime dtypes are refused), raw data of exactly `prod(shape) * itemsize` bytes, an object array's list of
exactly `prod(shape)` items.
"""

import codecs
import io
import math
import pickle
import reprlib
from pathlib import Path
from typing import Any

import numpy as np

from robustbench_lift.errors import UsageError

MAX_PICKLE_BYTES = 1 << 30
"""Largest data pickle read (1 GiB; CIFAR-100's `train`, the largest CIFAR pickle, is about 155 MB)."""


class _Refused(pickle.UnpicklingError):
    """A global (or a use of one) outside what `ALLOWED` admits; the message completes "refused ..."."""


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """`_codecs.encode` limited to latin-1, the only encoding pickle uses for `bytes` (protocols 0-2)."""
    if not isinstance(encoding, str) or codecs.lookup(encoding).name != "iso8859-1":
        raise _Refused(f"_codecs.encode with encoding {encoding!r} (only latin-1 is admitted)")
    return codecs.encode(text, "latin-1", errors)


# The objects NumPy's own `__reduce__` names, whatever its version calls the module (numpy.core in 1.x,
# numpy._core in 2.x); looked up from live objects rather than imported by name.
_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
_SCALAR = np.int64(0).__reduce__()[0]
_SCALARS = (str, bytes, int, float, bool, type(None))


class _Pending:
    """A dtype or array the pickle declared: NumPy builds `value` in `__setstate__` (pickle's BUILD) once the
    state is checked; `_resolved` puts `value` where the stand-in was."""

    what = "object"

    def __init__(self) -> None:
        self.value: Any = None

    def resolved(self) -> Any:
        if self.value is None:
            raise _Refused(f"a numpy {self.what} without its state")
        return self.value


class _Dtype(_Pending):
    """`numpy.dtype(spec, align, copy)`; the state must be the one NumPy writes for `spec` in its byte order."""

    what = "dtype"

    def __init__(self, spec: str, align: bool = False, copy: bool = True) -> None:
        super().__init__()
        if not isinstance(spec, str):
            raise _Refused(f"numpy dtype {reprlib.repr(spec)} (expected a type string such as 'u1')")
        self.spec = spec

    def __setstate__(self, state: tuple) -> None:
        dtype = np.dtype(self.spec)
        order = state[1] if isinstance(state, tuple) and len(state) > 1 else None
        dtype = dtype.newbyteorder(order) if order in ("<", ">") else dtype
        if dtype.__reduce__()[2] != state:
            raise _Refused(f"dtype {self.spec!r} with state {reprlib.repr(state)}: not a plain NumPy dtype (NumPy "
                           f"writes {dtype.__reduce__()[2]})")
        self.value = dtype


def _plain_dtype(dtype: Any) -> np.dtype:
    dtype = dtype.resolved() if isinstance(dtype, _Pending) else dtype
    if not isinstance(dtype, np.dtype):
        raise _Refused(f"{reprlib.repr(dtype)} where a numpy dtype belongs")
    return dtype


def _raw_bytes(data: Any, shape: tuple, dtype: np.dtype) -> bytes | bytearray:
    """`data` (Python 2 `str` decoded as latin-1 back to bytes) if it holds exactly `shape` of `dtype`."""
    data = data.encode("latin-1") if isinstance(data, str) else data
    if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
        raise _Refused(f"array shape {reprlib.repr(shape)} (expected a tuple of sizes)")
    if dtype.hasobject or not isinstance(data, bytes | bytearray):
        raise _Refused(f"{type(data).__name__} data for a {dtype} array (expected bytes)")
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise _Refused(f"an array of {len(data)} bytes for shape {shape} {dtype} "
                       f"({math.prod(shape) * dtype.itemsize} bytes)")
    return data


class _Array(_Pending):
    """`numpy.core.multiarray._reconstruct(ndarray, shape, dtype)`: NumPy allocates `shape` there, so the real
    array waits for BUILD's `(version, shape, dtype, fortran, data)`, whose data must fill `shape` exactly."""

    what = "array"

    def __setstate__(self, state: tuple) -> None:
        version, shape, dtype, fortran, data = state
        dtype = _plain_dtype(dtype)
        if dtype.hasobject:
            count = math.prod(shape) if isinstance(shape, tuple) and all(type(n) is int for n in shape) else -1
            if dtype != np.dtype(object) or not isinstance(data, list) or len(data) != count:
                raise _Refused(f"an object array of {len(data) if isinstance(data, list) else 'no'} items for "
                               f"shape {reprlib.repr(shape)} {dtype}")
            data = [_resolved(item, {}) for item in data]
        else:
            data = _raw_bytes(data, shape, dtype)
        array = _RECONSTRUCT(np.ndarray, (0,), b"b")
        array.__setstate__((version, shape, dtype, fortran, data))
        self.value = array


def _ndarray(*args: Any) -> None:
    raise _Refused("a call of numpy.ndarray (it allocates whatever shape it is given)")


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> _Array:
    if subtype is not _ndarray:
        raise _Refused(f"_reconstruct of {reprlib.repr(subtype)} (only numpy.ndarray is admitted)")
    return _Array()


def _frombuffer(data: Any, dtype: Any, shape: tuple, order: str) -> np.ndarray:
    dtype = _plain_dtype(dtype)
    return _FROMBUFFER(_raw_bytes(data, shape, dtype), dtype, shape, order)


def _scalar(dtype: Any, data: Any) -> np.generic:
    dtype = _plain_dtype(dtype)
    return _SCALAR(dtype, _raw_bytes(data, (), dtype))


def _bytearray(*args: Any) -> bytearray:
    if args and isinstance(args[0], int):
        raise _Refused(f"bytearray({args[0]}) (a size, not data the file holds)")
    return bytearray(*args)


_NUMPY = {"_reconstruct": _reconstruct, "_frombuffer": _frombuffer, "scalar": _scalar}
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric")
_BUILTINS = {"set": set, "frozenset": frozenset, "bytearray": _bytearray, "complex": complex}

ALLOWED: dict[tuple[str, str], Any] = {
    **{(module, name): obj for module in _NUMPY_MODULES for name, obj in _NUMPY.items()},
    ("numpy", "ndarray"): _ndarray,
    ("numpy", "dtype"): _Dtype,
    **{(module, name): obj for module in ("builtins", "__builtin__") for name, obj in _BUILTINS.items()},
    ("_codecs", "encode"): _latin1_encode,
}
"""`(module, name)` -> what a data pickle gets for every global it may name (Python 2 and 3 module names); the
NumPy ones and `bytearray` check sizes and states first (see the module docstring)."""


def _resolved(obj: Any, seen: dict[int, Any]) -> Any:
    """`obj` with every `_Pending` replaced by the dtype or array it built (lists and dicts updated in place,
    tuples rebuilt; `seen` keeps shared and cyclic containers shared)."""
    if type(obj) in _SCALARS:
        return obj
    if isinstance(obj, _Pending):
        return obj.resolved()
    if id(obj) in seen:
        return seen[id(obj)]
    if isinstance(obj, list):
        seen[id(obj)] = obj
        obj[:] = [_resolved(item, seen) for item in obj]
    elif isinstance(obj, dict):
        seen[id(obj)] = obj
        for key, value in obj.items():
            obj[key] = _resolved(value, seen)
    elif isinstance(obj, tuple):
        seen[id(obj)] = tuple(_resolved(item, seen) for item in obj)
        return seen[id(obj)]
    if isinstance(obj, dict | set | frozenset) and any(isinstance(item, _Pending) for item in obj):
        raise _Refused("a numpy dtype or array as a set member or dict key")
    return obj


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"to unpickle global {module}.{name}") from None


def load_pickle(path: str | Path, encoding: str = "latin1") -> Any:
    """The object of pickle file `path`, built from data only (see `ALLOWED`) and never larger than the file.

    `encoding`: how Python 2 `str` objects are decoded (latin1 for CIFAR's batches, as torchvision reads
    them). Raises `UsageError` naming the file when it is over `MAX_PICKLE_BYTES`, names a forbidden global,
    declares more than it holds, is truncated or is not a pickle.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_PICKLE_BYTES:
        raise UsageError(f"{path}: {size} bytes, over the {MAX_PICKLE_BYTES}-byte maximum of a data pickle "
                         "(CIFAR's largest is about 155 MB): not a CIFAR batch")
    try:
        # Read from memory: a declared length then never outruns the file's bytes.
        raw = path.read_bytes()
        return _resolved(_RestrictedUnpickler(io.BytesIO(raw), encoding=encoding).load(), {})
    except _Refused as exc:
        raise UsageError(f"{path}: refused {exc} (a data pickle may only hold containers, numbers, strings and "
                         "NumPy arrays its own bytes fill; this file could run code or exhaust memory): use the "
                         "original download") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, LookupError, MemoryError,
            RecursionError) as exc:  # a damaged file raises any of these
        raise UsageError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc}); the file is truncated "
                         "or damaged: download it again") from None
