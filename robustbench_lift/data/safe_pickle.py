"""Read data pickles (CIFAR's python batches) so that no code can run: a restricted unpickler.

`pickle.load` calls any importable global a file names (e.g. `os.system` through a `__reduce__`), so a
downloaded `test_batch` could run commands. `load_pickle` admits only the built-in containers and scalars that
pickle's own opcodes make (dict, list, tuple, str, bytes, int, float, bool, None) plus the few globals data
needs: NumPy array, dtype and scalar reconstruction, `set` / `frozenset` / `bytearray` / `complex`, and
`_codecs.encode` restricted to latin-1 (how Python 3 writes `bytes` at protocol 2, e.g. CIFAR's bytes keys
re-pickled by a Python 3 script). Any other global is refused with a `UsageError` naming the file and the
global, before anything is called.
"""

import codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from robustbench_lift.errors import UsageError


class _Refused(pickle.UnpicklingError):
    """A global (or a use of one) outside what `ALLOWED` admits."""


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
_NUMPY = {"_reconstruct": _RECONSTRUCT, "_frombuffer": _FROMBUFFER, "scalar": _SCALAR}
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric")
_BUILTINS = {"set": set, "frozenset": frozenset, "bytearray": bytearray, "complex": complex}

ALLOWED: dict[tuple[str, str], Any] = {
    **{(module, name): obj for module in _NUMPY_MODULES for name, obj in _NUMPY.items()},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    **{(module, name): obj for module in ("builtins", "__builtin__") for name, obj in _BUILTINS.items()},
    ("_codecs", "encode"): _latin1_encode,
}
"""`(module, name)` -> object for every global a data pickle may name (Python 2 and 3 module names)."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None


def load_pickle(path: str | Path, encoding: str = "latin1") -> Any:
    """The object of pickle file `path`, built from data only (see `ALLOWED`).

    `encoding`: how Python 2 `str` objects are decoded (latin1 for CIFAR's batches, as torchvision reads
    them). Raises `UsageError` naming the file when it names a forbidden global, is truncated or is not a
    pickle.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f, encoding=encoding).load()
    except _Refused as exc:
        raise UsageError(f"{path}: refused to unpickle global {exc} (a data pickle may only hold containers, "
                         "numbers, strings and NumPy arrays; this file could run code): use the original "
                         "download") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, LookupError, MemoryError,
            RecursionError) as exc:  # a damaged file raises any of these
        raise UsageError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc}); the file is truncated "
                         "or damaged: download it again") from None
