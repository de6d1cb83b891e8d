"""One registry of pooling layers: `create_pool(name, channels, **kwargs)`.

Each pooling file registers its builder with `@register_pool(name, description)`; a builder takes the channel
count and its own keyword arguments and returns an `nn.Module` that down-samples `(N, C, H, W)` by its stride.
"""

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from robustbench_lift.errors import UsageError

PoolBuilder = Callable[..., nn.Module]


@dataclass(frozen=True)
class PoolEntry:
    name: str
    description: str
    builder: PoolBuilder


_POOLS: dict[str, PoolEntry] = {}


def register_pool(name: str, description: str) -> Callable[[PoolBuilder], PoolBuilder]:
    """Decorator registering `builder(channels, **kwargs) -> nn.Module` under `name`."""

    def decorate(builder: PoolBuilder) -> PoolBuilder:
        if name in _POOLS:
            raise ValueError(f"pooling {name!r} is registered twice")
        _POOLS[name] = PoolEntry(name, description, builder)
        return builder

    return decorate


def _entry(name: str) -> PoolEntry:
    if name not in _POOLS:
        close = difflib.get_close_matches(name, _POOLS, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UsageError(f"unknown pooling {name!r}: expected one of {', '.join(_POOLS)}{hint}")
    return _POOLS[name]


def list_pools() -> list[str]:
    """Names of the registered poolings, in registration order."""
    return list(_POOLS)


def pool_description(name: str) -> str:
    """The one-line description of pooling `name`."""
    return _entry(name).description


def create_pool(name: str, channels: int, **kwargs) -> nn.Module:
    """Build pooling `name` for `channels` channels; `kwargs` are the pooling's own options."""
    builder = _entry(name).builder
    accepted = [p for p in inspect.signature(builder).parameters if p != "channels"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise UsageError(f"pooling {name!r} got unknown option(s) {unknown}; it accepts {accepted}")
    return builder(channels, **kwargs)
