"""Where and how a run executes: device resolution, numeric precision, and the environment recorded with every run.

Precision is fp32 unless asked otherwise: hendrycks/robustness `ImageNet-C/test.py` and `ImageNet-P/test.py` and
Zhang's antialiased-cnns `main.py` evaluate in fp32 (no autocast, no `.half()`), and PyTorch's own default lets
cuDNN convolutions use TF32 (`torch.backends.cudnn.allow_tf32 = True`), so the flags are set for every forward
pass, not inherited.
"""

import platform
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from typing import Any

import torch

from robustbench_lift.errors import UsageError


def resolve_device(device: str | torch.device) -> torch.device:
    """`"auto"` -> CUDA when available, else CPU; `"cuda"` without a GPU is a `UsageError`."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise UsageError(f"unknown device {device!r}: expected auto, cpu or cuda[:index]") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device!r} requested but CUDA is not available here (use --device cpu or auto)")
    return resolved


PRECISIONS = ("fp32", "fp32+tf32", "bf16", "fp16")
"""Every precision a cell can be computed in; recorded under the fingerprint key "precision"."""
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def choose_precision(device: torch.device, amp: bool = False, tf32: bool = False) -> str:
    """The precision of a run on `device`: "fp32" by default; `amp`: "bf16" autocast ("fp16" on a GPU without
    bf16); `tf32` (CUDA only): "fp32+tf32", fp32 tensors with TF32 matmuls and convolutions."""
    if amp and tf32:
        raise UsageError("amp and tf32 both requested: choose one (--amp for bf16/fp16 autocast, --tf32 for TF32)")
    if tf32 and device.type != "cuda":
        raise UsageError(f"tf32 needs a CUDA device (TF32 is an Ampere tensor-core format), got {device}: drop --tf32")
    if amp:
        return "fp16" if device.type == "cuda" and not torch.cuda.is_bf16_supported() else "bf16"
    return "fp32+tf32" if tf32 else "fp32"


@contextmanager
def numerics(device: torch.device, precision: str) -> Iterator[None]:
    """Run the block in `precision` (one of `PRECISIONS`): autocast for bf16/fp16; TF32 for matmuls
    (`torch.set_float32_matmul_precision("high")`, else "highest") and cuDNN (`cudnn.allow_tf32`) on for
    "fp32+tf32" only, set explicitly and restored afterwards, whatever the process had."""
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    matmul, cudnn = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    tf32 = precision == "fp32+tf32"
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cudnn.allow_tf32 = tf32
    dtype = AUTOCAST_DTYPES.get(precision)
    try:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            yield
    finally:
        torch.set_float32_matmul_precision(matmul)
        torch.backends.cudnn.allow_tf32 = cudnn


def environment(device: torch.device, world_size: int) -> dict[str, Any]:
    """Versions, host and device of this run, recorded with it in the store."""
    packages = {name: version(name) for name in ("robustbench-lift", "torch", "torchvision", "numpy")}
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    return {"packages": packages, "python": sys.version.split()[0], "platform": platform.platform(),
            "host": socket.gethostname(), "device": str(device), "device_name": device_name,
            "world_size": world_size, "threads": torch.get_num_threads()}
