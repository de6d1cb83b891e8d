"""Pooling layers: LiftPool, BlurPool, Haar, max, average, plain subsampling and the published anti-aliasing
poolings (APS, LPS, FLC, ASAP, PASA, WaveCNet DWT; docs/poolings.md), behind one registry.

    >>> import torch
    >>> from robustbench_lift.pooling import create_pool
    >>> pool = create_pool("lift", 64)          # LiftDownPool2d(64, kernel_size=5, subbands="all")
    >>> pool(torch.zeros(1, 64, 8, 8)).shape
    torch.Size([1, 64, 4, 4])
"""

# Registration order is the order `list_pools()` reports: one import line per pooling file.
# isort: off
from robustbench_lift.pooling.simple import Subsample2d
from robustbench_lift.pooling.blur import BlurPool2d, binomial_filter
from robustbench_lift.pooling.haar import HaarPool2d, haar_decompose, haar_reconstruct
from robustbench_lift.pooling.lift import (
    SUBBANDS_1D,
    SUBBANDS_2D,
    LiftDownPool1d,
    LiftDownPool2d,
    LiftingFilter,
    LiftSubbands1d,
    LiftSubbands2d,
    LiftUpPool1d,
    LiftUpPool2d,
    lifting_loss,
)
from robustbench_lift.pooling.aps import APSPool2d
from robustbench_lift.pooling.lps import LPSPool2d
from robustbench_lift.pooling.flc import FrequencyPool2d
from robustbench_lift.pooling.pasa import PASAPool2d
from robustbench_lift.pooling.dwt import WaveletPool2d
from robustbench_lift.pooling.polyphase import PolyphasePool2d, share_shortcut_choice
from robustbench_lift.pooling.registry import create_pool, list_pools, pool_description, register_pool
# isort: on

__all__ = [
    "SUBBANDS_1D", "SUBBANDS_2D", "APSPool2d", "BlurPool2d", "FrequencyPool2d", "LPSPool2d", "PASAPool2d",
    "PolyphasePool2d", "WaveletPool2d", "HaarPool2d", "LiftDownPool1d", "LiftDownPool2d", "LiftUpPool1d",
    "LiftUpPool2d", "LiftingFilter", "LiftSubbands1d", "LiftSubbands2d", "Subsample2d", "binomial_filter",
    "create_pool", "haar_decompose", "haar_reconstruct", "lifting_loss", "list_pools", "pool_description",
    "register_pool", "share_shortcut_choice",
]
