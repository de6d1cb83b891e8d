"""Read a torch zip checkpoint whose pickle names arbitrary globals (PyTorch Lightning's `.ckpt`) as data only.

LPS's published checkpoints (`ResNet50_LPS_LPF3_zero_randomresized.ckpt`, ...) are Lightning files: beside
`state_dict` they pickle `hyper_parameters` holding `functools.partial` objects of the authors' classes, which
`torch.load(weights_only=True)` refuses and `weights_only=False` would import and call. `read_inert` reads the
tensors without importing or calling any of that: its unpickler resolves exactly four kinds of global for real,

- `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter` (torch's own tensor reconstruction),
- `collections.OrderedDict` (the state dict's container and the tensors' empty hook dicts),
- `torch.<Type>Storage` (only as a dtype marker: storages are built here from the zip's raw bytes),

and turns every other global into an inert placeholder class: calling it, `__new__` or `__setstate__` on it only
records the arguments (`Inert.args`, `Inert.state`). So `hyper_parameters` comes back as placeholders, nothing of
the authors' code (or of a planted file) is imported or run. Format: torch's zip serialisation (`<root>/data.pkl`,
`<root>/data/<key>` raw little-endian storages, persistent ids `("storage", type, key, location, numel)`).
"""

import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch._utils import _rebuild_parameter, _rebuild_tensor_v2

from robustbench_lift.errors import UsageError

_REAL = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
         ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
         ("collections", "OrderedDict"): OrderedDict}
_STORAGE_DTYPES = {"DoubleStorage": torch.float64, "FloatStorage": torch.float32, "HalfStorage": torch.float16,
                   "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
                   "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
                   "BoolStorage": torch.bool}


class Inert:
    """Stand-in for a global the file names: records how the pickle would have built it, runs nothing."""

    global_name = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs, self.state = args, kwargs, None

    def __new__(cls, *args: Any, **kwargs: Any) -> "Inert":  # NEWOBJ calls cls.__new__(cls, *args)
        instance = super().__new__(cls)
        instance.args, instance.kwargs, instance.state = args, kwargs, None
        return instance

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"Inert({self.global_name})"


class _Dtype:
    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


class _InertUnpickler(pickle.Unpickler):
    def __init__(self, archive: zipfile.ZipFile, root: str) -> None:
        super().__init__(archive.open(f"{root}/data.pkl"))
        self.archive, self.root, self.placeholders = archive, root, {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _REAL:
            return _REAL[module, name]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _Dtype(_STORAGE_DTYPES[name])
        key = f"{module}.{name}"
        if key not in self.placeholders:
            self.placeholders[key] = type(name, (Inert,), {"global_name": key, "__module__": __name__})
        return self.placeholders[key]

    def persistent_load(self, pid: Any) -> torch.storage.TypedStorage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _Dtype)):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80}")
        dtype, key, numel = pid[1].dtype, str(pid[2]), pid[4]
        raw = self.archive.read(f"{self.root}/data/{key}")
        if not isinstance(numel, int) or len(raw) != numel * dtype.itemsize:
            raise pickle.UnpicklingError(f"storage {key} holds {len(raw)} bytes, not {numel} x {dtype}")
        untyped = torch.UntypedStorage.from_buffer(raw, dtype=torch.uint8) if raw else torch.UntypedStorage(0)
        return torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)


def read_inert(path: str | Path) -> Any:
    """The object pickled in torch zip file `path`, tensors real and every other global an `Inert` placeholder
    (module doc); `UsageError` if `path` is no torch zip file or its pickle is malformed."""
    try:
        with zipfile.ZipFile(path) as archive:
            roots = [name[:-len("/data.pkl")] for name in archive.namelist() if name.endswith("/data.pkl")]
            if len(roots) != 1:
                raise UsageError(f"{path} is not a torch zip checkpoint (no single <root>/data.pkl)")
            return _InertUnpickler(archive, roots[0]).load()
    except (zipfile.BadZipFile, pickle.UnpicklingError, KeyError, EOFError, RuntimeError, ValueError,
            TypeError, IndexError, AttributeError) as exc:
        raise UsageError(f"{path} could not be read as data ({type(exc).__name__}: {exc})") from exc
