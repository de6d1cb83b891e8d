"""One registry of pooling layers: `create_pool(name, channels, **kwargs)`.

Each pooling file registers its builder with `@register_pool(name, description)`; a builder takes the channel
count and its own keyword arguments and returns an `nn.Module` that down-samples `(N, C, H, W)` by its stride.
"""

import inspect
from collections.abc import Callable

from torch import nn

from robustbench_lift.errors import UsageError
from robustbench_lift.registry import Registry

PoolBuilder = Callable[..., nn.Module]
POOLS: Registry = Registry("pooling")


def register_pool(name: str, description: str) -> Callable[[PoolBuilder], PoolBuilder]:
    """Decorator registering `builder(channels, **kwargs) -> nn.Module` under `name`."""
    return POOLS.register(name, description=description)


def list_pools() -> list[str]:
    """Names of the registered poolings, in registration order."""
    return POOLS.names()


def pool_description(name: str) -> str:
    """The one-line description of pooling `name`."""
    return POOLS.metadata(name)["description"]


def create_pool(name: str, channels: int, **kwargs) -> nn.Module:
    """Build pooling `name` for `channels` channels; `kwargs` are the pooling's own options."""
    builder = POOLS.get(name)
    accepted = [p for p in inspect.signature(builder).parameters if p != "channels"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise UsageError(f"pooling {name!r} got unknown option(s) {unknown}; it accepts {accepted}")
    return builder(channels, **kwargs)
