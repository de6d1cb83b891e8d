"""Where a backbone down-samples, and the one transformation that puts a pooling layer there.

A backbone file lists its down-sampling sites (`Site`); `apply_pooling` rewrites every site the same way for
every pooling, so `-blur` and `-lift` differ only in the operator. Two kinds of site exist:

- a pool (ResNet and DenseNet stem, every VGG max-pool, DenseNet's transitions): replaced by the pool. For `blur`
  a max-pool becomes antialiased-cnns' "MaxBlurPool", a dense `MaxPool2d(kernel_size=2, stride=1)` followed by the
  BlurPool, so that its published state dicts load strictly. For every other pooling (lift, haar, avg, skip) the
  max-pool is *replaced*, as LiftPool replaces the network's pooling (docs/liftpool.md); no max survives. An
  average pool (DenseNet's transitions) is replaced by the pool alone, blur included (antialiased-cnns' DenseNet);
  DenseNet's stem max-pool is 3x3, and its dense max too (`Site.max_kernel`).
- a stride-2 convolution: it runs at stride 1 and the pool takes over the stride, placed before `before`, the
  module that consumed the strided output. For a residual branch that is the next convolution, so the pool
  follows the strided conv's normalisation and activation (antialiased-cnns' ConvBlurPool order); for a 1x1
  shortcut it is the shortcut conv itself (pool then 1x1 conv: for a linear pool such as blur the same as the
  reverse order, and cheaper).

Inserted layers keep antialiased-cnns' module names: inside an `nn.Sequential` the new layers are spliced in
(later indices shift by one, as in its VGG and MobileNetV2; named children take `Site.names`), elsewhere the
attribute becomes `nn.Sequential(pool, module)` (ResNet `conv2`/`conv3`/`maxpool`).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from robustbench_lift.errors import UsageError
from robustbench_lift.pooling import create_pool
from robustbench_lift.pooling.registry import max_first

SITE_CHOICES = ("all", "stem")


@dataclass(frozen=True)
class Site:
    """One down-sampling site of a backbone.

    Attributes:
        path: dotted name of the strided module (a max-pool or a stride-2 conv) in the torchvision model.
        channels: channels the pool sees there.
        before: for a conv site, dotted name of the module the pool is placed in front of; `None` for a max-pool.
        stem: whether this is the stem max-pool (the only site `sites="stem"` rewrites).
        note: what the site is, for `describe_model`.
        max_kernel: for a pool site, the kernel of the dense stride-1 max-pool that a max-first pooling (blur) keeps
            in front of the pool, padded to keep the size: 2 (antialiased-cnns' ResNet, VGG), 3 (its DenseNet);
            None for an average-pool site, which every pooling replaces alone.
        names: in a parent `nn.Sequential` with named children, the names of the layers that take the site's
            place (DenseNet's `max0`, `pool0`); by default the pool keeps the site's name.
    """

    path: str
    channels: int
    before: str | None = None
    stem: bool = False
    note: str = ""
    max_kernel: int | None = 2
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pooling:
    """A pooling choice for a whole model: the pooling's registry name, its options, and which sites to rewrite."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    sites: str = "all"

    def __post_init__(self) -> None:
        if self.sites not in SITE_CHOICES:
            raise UsageError(f"sites must be one of {SITE_CHOICES}, got {self.sites!r}")

    def layer(self, channels: int) -> nn.Module:
        """One down-sampling-by-2 layer for `channels` channels."""
        return create_pool(self.name, channels, **self.options)

    def at_max_site(self, channels: int, max_kernel: int | None = 2) -> list[nn.Module]:
        """The layers that take a pool site's place (antialiased-cnns' MaxBlurPool for blur at a max-pool with
        `max_kernel`; see module doc and `Site`)."""
        if max_kernel is not None and max_first(self.name):
            return [nn.MaxPool2d(kernel_size=max_kernel, stride=1, padding=(max_kernel - 1) // 2), self.layer(channels)]
        return [self.layer(channels)]


def _parent(model: nn.Module, path: str) -> tuple[nn.Module, str]:
    parent_path, _, key = path.rpartition(".")
    return (model.get_submodule(parent_path) if parent_path else model), key


def _replace(model: nn.Module, path: str, layers: list[nn.Module], names: tuple[str, ...] = ()) -> None:
    """Put `layers` where `path` is: spliced into a parent `nn.Sequential` (under `names` if its children are
    named), else as one (Sequential) module."""
    parent, key = _parent(model, path)
    if names:
        children = list(parent.named_children())
        index = [name for name, _ in children].index(key)
        parent._modules.clear()  # rebuilt in order: nn.Sequential has no insert by name
        for name, module in [*children[:index], *zip(names, layers, strict=True), *children[index + 1:]]:
            parent.add_module(name, module)
    elif isinstance(parent, nn.Sequential) and key.isdigit():
        index = int(key)
        del parent[index]  # renumbers the later entries, as `insert` does
        for layer in reversed(layers):
            parent.insert(index, layer)
    else:
        setattr(parent, key, layers[0] if len(layers) == 1 else nn.Sequential(*layers))


def apply_pooling(model: nn.Module, sites: Iterable[Site], pooling: Pooling) -> list[tuple[str, Site]]:
    """Rewrite `sites` of `model` in place with `pooling`; returns `(dotted name of the new pool, site)` pairs.

    Sites are rewritten last to first, so splicing into a Sequential never shifts a site still to come; the pools'
    names are looked up once all are in place.
    """
    chosen = [site for site in sites if pooling.sites == "all" or site.stem]
    if not chosen:
        raise UsageError(f"sites={pooling.sites!r} selects no down-sampling site of this backbone "
                         "(only ImageNet ResNets and DenseNets have a stem max-pool)")
    placed = []
    for site in reversed(chosen):
        if site.before is None:
            layers = pooling.at_max_site(site.channels, site.max_kernel)
            _replace(model, site.path, layers, site.names[-len(layers):])
            placed.append((layers[-1], site))
        else:
            model.get_submodule(site.path).stride = (1, 1)
            pool = pooling.layer(site.channels)
            _replace(model, site.before, [pool, model.get_submodule(site.before)])
            placed.append((pool, site))
    names = {module: name for name, module in model.named_modules()}
    return [(names[pool], site) for pool, site in reversed(placed)]
