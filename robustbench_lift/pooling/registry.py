"""One registry of pooling layers: `create_pool(name, channels, **kwargs)`.

Each pooling file registers its builder with `@register_pool(name, description, ...)`; a builder takes the
channel count and its own keyword arguments and returns an `nn.Module` that down-samples `(N, C, H, W)` by its
stride. The registration also carries the pooling's placement rules, read by the zoo and `swap_pooling`:
`size_option` (the option a zoo name's size suffix sets: `resnet50-lift3` is kernel_size 3) and `max_first`
(at a max-pool's site a dense 2x2 stride-1 max-pool goes in front: antialiased-cnns' MaxBlurPool), and
`undecimated`, how the pooling is written as a stride-1 map followed by taking every second row and column (the
aliasing probe, docs/aliasing.md): "polyphase" (default) for a pooling whose output is a shift-equivariant map
sampled at even positions, so the map at phase (a, b) is the pooling of the input shifted by (a, b); "adaptive"
for samplers that pick the phase from the input (aps, lps); None when neither holds. `create_pool` tags each layer
with its name (`liftbench_pool`), so a model's layers say which pooling they are.
"""

import inspect
from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING

from robustbench_lift.errors import UsageError
from robustbench_lift.registry import Registry

if TYPE_CHECKING:
    from torch import nn

PoolBuilder = Callable[..., "nn.Module"]
POOLS: Registry = Registry("pooling")
POOL_MODULES = ("simple", "blur", "lift", "haar", "aps", "lps", "flc", "pasa", "dwt")
"""The files of `robustbench_lift.pooling` that register poolings, in the order `list_pools()` reports them:
adding a pooling is its file and its name here."""


def _pools() -> Registry:
    """The registry with every pooling file imported (registered) on first use."""
    for module in POOL_MODULES:
        import_module(f"robustbench_lift.pooling.{module}")
    return POOLS


def register_pool(name: str, description: str, *, size_option: str | None = None, max_first: bool = False,
                  undecimated: str | None = "polyphase") -> Callable[[PoolBuilder], PoolBuilder]:
    """Decorator registering `builder(channels, **kwargs) -> nn.Module` under `name`, with its placement rules
    and its `undecimated` form (module doc)."""
    return POOLS.register(name, description=description, size_option=size_option, max_first=max_first,
                          undecimated=undecimated)


def undecimated_form(name: str) -> str | None:
    """How pooling `name` is written as a stride-1 map plus decimation: "polyphase", "adaptive" or None."""
    return _pools().metadata(name)["undecimated"]


def size_options() -> dict[str, str]:
    """`{pooling: option}` of the poolings whose size a zoo name's suffix sets (`{"blur": "filter_size", ...}`)."""
    return {name: option for name in list_pools() if (option := POOLS.metadata(name)["size_option"])}


def sized_pools() -> str:
    """The poolings that take a size suffix, for messages: "blur, lift, aps, lps and pasa"."""
    *rest, last = size_options()
    return f"{', '.join(rest)} and {last}" if rest else last


def max_first(name: str) -> bool:
    """Whether pooling `name` takes a max-pool's place behind a dense 2x2 stride-1 max-pool (module doc)."""
    return _pools().metadata(name)["max_first"]


def list_pools() -> list[str]:
    """Names of the registered poolings in the order of their files in `POOL_MODULES`, then those registered
    elsewhere (a user's), each in registration order: the listing does not depend on which layer a program
    imported first."""
    pools, order = _pools(), {f"{__package__}.{module}": index for index, module in enumerate(POOL_MODULES)}
    return sorted(pools.names(), key=lambda name: order.get(pools.get(name).__module__, len(POOL_MODULES)))


def pool_description(name: str) -> str:
    """The one-line description of pooling `name`."""
    return _pools().metadata(name)["description"]


def create_pool(name: str, channels: int, **kwargs) -> "nn.Module":
    """Build pooling `name` for `channels` channels; `kwargs` are the pooling's own options."""
    builder = _pools().get(name)
    accepted = [p for p in inspect.signature(builder).parameters if p != "channels"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise UsageError(f"pooling {name!r} got unknown option(s) {unknown}; it accepts {accepted}")
    layer = builder(channels, **kwargs)
    layer.liftbench_pool = name
    return layer
