"""Pooling layers: LiftPool, BlurPool, Haar, max, average and plain subsampling, behind one registry.

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
from robustbench_lift.pooling.registry import create_pool, list_pools, pool_description, register_pool
# isort: on

__all__ = [
    "SUBBANDS_1D", "SUBBANDS_2D", "BlurPool2d", "HaarPool2d", "LiftDownPool1d", "LiftDownPool2d", "LiftUpPool1d",
    "LiftUpPool2d", "LiftingFilter", "LiftSubbands1d", "LiftSubbands2d", "Subsample2d", "binomial_filter",
    "create_pool", "haar_decompose", "haar_reconstruct", "lifting_loss", "list_pools", "pool_description",
    "register_pool",
]
