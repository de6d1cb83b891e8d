"""Where a run executes: device resolution and the environment recorded with every run."""

import platform
import socket
import sys
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


def environment(device: torch.device, world_size: int) -> dict[str, Any]:
    """Versions, host and device of this run, recorded with it in the store."""
    packages = {name: version(name) for name in ("robustbench-lift", "torch", "torchvision", "numpy")}
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    return {"packages": packages, "python": sys.version.split()[0], "platform": platform.platform(),
            "host": socket.gethostname(), "device": str(device), "device_name": device_name,
            "world_size": world_size, "threads": torch.get_num_threads()}
