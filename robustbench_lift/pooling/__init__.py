"""Pooling layers: LiftPool, BlurPool, Haar, max, average, plain subsampling and the published anti-aliasing
poolings (APS, LPS, FLC, ASAP, PASA, WaveCNet DWT; docs/poolings.md), behind one registry.

    >>> import torch
    >>> from robustbench_lift.pooling import create_pool
    >>> pool = create_pool("lift", 64)          # LiftDownPool2d(64, kernel_size=5, subbands="all")
    >>> pool(torch.zeros(1, 64, 8, 8)).shape
    torch.Size([1, 64, 4, 4])
"""

from importlib import import_module
from typing import Any

_HOMES: dict[str, str] = {
    **dict.fromkeys(["Subsample2d"], "simple"),
    **dict.fromkeys(["BlurPool2d", "binomial_filter"], "blur"),
    **dict.fromkeys(["HaarPool2d", "haar_decompose", "haar_reconstruct"], "haar"),
    **dict.fromkeys(["SUBBANDS_1D", "SUBBANDS_2D", "LiftDownPool1d", "LiftDownPool2d", "LiftingFilter",
                     "LiftSubbands1d", "LiftSubbands2d", "LiftUpPool1d", "LiftUpPool2d", "lifting_loss"], "lift"),
    **dict.fromkeys(["DEFAULT_LAMBDA_P", "DEFAULT_LAMBDA_U"], "constraints"),
    **dict.fromkeys(["APSPool2d"], "aps"),
    **dict.fromkeys(["LPSPool2d"], "lps"),
    **dict.fromkeys(["FrequencyPool2d"], "flc"),
    **dict.fromkeys(["PASAPool2d"], "pasa"),
    **dict.fromkeys(["WaveletPool2d"], "dwt"),
    **dict.fromkeys(["PolyphasePool2d", "share_shortcut_choice"], "polyphase"),
    **dict.fromkeys(["create_pool", "list_pools", "pool_description", "register_pool"], "registry"),
}
"""Each public name and the module of this package that defines it, imported on first use: the registry and the
constants alone (e.g. for `liftbench train --help`) import no torch."""

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
