"""Swap the pooling of any ConvNet: every stride-2 down-sampling layer takes the chosen pooling.

The zoo's placement rules (`models/sites.py`), applied to a module tree without knowing the architecture. The
sites are found by one forward pass on the meta device (no memory, no compute) at `input_size`:

- a `MaxPool2d` / `AvgPool2d` with stride 2 is replaced by the pool (a max-pool with `blur` by antialiased-cnns'
  MaxBlurPool, as in the zoo);
- a stride-2 convolution whose stride-1 form keeps the output shape once its input is pooled (3x3 residual and
  depthwise convs with padding `k // 2`, 1x1 shortcuts, timm's TF-"same" convs) becomes `pool -> conv(stride 1)`:
  the pool sees the conv's input, so the conv keeps its cost. (The zoo's ResNets put the pool of the residual
  branch after its conv, normalisation and activation, as antialiased-cnns does; finding "the module after"
  needs the block's code, which a generic rule does not have.) With `skip` pooling a swapped 1x1 conv equals
  the original exactly; a 3x3 conv then sees every other pixel, not the original's neighbourhood;
- a patchify convolution (kernel = stride = 2, no padding: ConvNeXt's down-sampling layers) becomes
  `conv(stride 1) -> pool`. Pooling first cannot keep both shape and weights: a 2x2 kernel at stride 1 on the
  pooled map gives one row less and mixes neighbouring pooled pixels, a 1x1 kernel drops three of four pretrained
  taps. The dense conv computes every 2x2 patch (one zero row and column appended at the bottom/right when the
  size is even), so its even rows and columns are the original output: with `skip` pooling the layer is
  unchanged, with other pools it is antialiased-cnns' ConvBlurPool order;
- the stem conv (the first convolution the input meets) keeps its stride, as in the zoo and antialiased-cnns
  (`pool_only=True`): ResNet's 7x7, EfficientNet's and MobileNetV3's 3x3, ConvNeXt's 4x4 stride-4 patchify stem.

Any other layer that down-samples (a stride other than 1 or 2, a stride-2 conv whose stride-1 form changes the
shape, a 1-D/3-D or custom strided layer) is left: the swap raises `UsageError` naming those layers and changes
nothing. So is a model with no site at all (a vision transformer: its patch embedding is the stem).

The swap keeps every state-dict key: the replaced pooling layers have none, and a swapped conv stays where it
was, its class becoming a subclass that runs its child `pool` (the technique of `torch.nn.utils.parametrize`).
A checkpoint of the original architecture therefore loads by name (`models/transfer.py`), and the only new keys
are the pools' own. The zoo's `apply_pooling` instead splices layers into `nn.Sequential`s to reproduce
antialiased-cnns' module names and load its published checkpoints: the two transformations differ on purpose.
"""

import re
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustbench_lift.errors import UsageError
from robustbench_lift.models.sites import Pooling
from robustbench_lift.models.trace import first_calls, meta_call
from robustbench_lift.pooling import list_pools
from robustbench_lift.pooling.registry import size_options, sized_pools

RULES = {"pool": "replaced by the pool", "pool-conv": "pool -> conv (stride 1)",
         "conv-pool": "dense conv (stride 1) -> pool"}


@dataclass(frozen=True)
class SwapSite:
    """One rewritten layer.

    Attributes:
        path: dotted name of the strided layer in the model.
        rule: a key of `RULES`.
        channels: channels the pool sees.
        layer: the original layer, e.g. `Conv2d 3x3 stride 2 groups 32`.
        size: `(H, W)` of the pool's input at the traced input size.
    """

    path: str
    rule: str
    channels: int
    layer: str
    size: tuple[int, int]

    @property
    def pool_path(self) -> str:
        """Dotted name of the new pool (its parameters are the swap's only new state-dict keys)."""
        return self.path if self.rule == "pool" else f"{self.path}.pool"


@dataclass(frozen=True)
class Swap:
    """What `swap_pooling` did, kept on the model as `model.liftbench_swap`.

    Attributes:
        pooling: the pooling put in.
        sites: the rewritten layers, in the order the input reaches them.
        stem: the stem conv that keeps its stride, described (None if the first conv has stride 1).
        input_size: the input side at which the sites were found and every shape checked.
        added_params: parameters of the new pools.
    """

    pooling: Pooling
    sites: tuple[SwapSite, ...]
    stem: str | None
    input_size: int
    added_params: int


class _PoolFirst:
    """`pool -> conv(stride 1)` (mixed into the conv's own class)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(self.pool(x))


class _DenseFirst:
    """Patchify conv run densely, then the pool: `(N, C, H, W) -> (N, C', floor(H/2), floor(W/2))`."""

    def forward(self, x: Tensor) -> Tensor:
        # 2 * floor(H/2) dense rows: their even rows are the 2x2-stride-2 conv's outputs.
        dense = super().forward(F.pad(x, (0, 1 - x.shape[-1] % 2, 0, 1 - x.shape[-2] % 2)))
        return self.pool(dense)


_MIXINS = {"pool-conv": (_PoolFirst, "PoolFirst"), "conv-pool": (_DenseFirst, "PoolAfter")}
_CLASSES: dict[tuple[str, type], type] = {}


def _swapped_class(rule: str, base: type) -> type:
    """The subclass of conv class `base` that runs the pool by `rule` (one class per pair, created once)."""
    if (rule, base) not in _CLASSES:
        mixin, prefix = _MIXINS[rule]
        _CLASSES[rule, base] = type(f"{prefix}{base.__name__}", (mixin, base), {"__doc__": mixin.__doc__})
    return _CLASSES[rule, base]


def _pair(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def parse_pool(pool: str | Pooling, **options: Any) -> Pooling:
    """A `Pooling` from `"lift"`, `"lift3"` (the zoo's size suffix: lift's kernel_size, blur's filter_size) or a
    `Pooling`, with `options` (pooling options, or `sites="stem"`) added."""
    sites = options.pop("sites", pool.sites if isinstance(pool, Pooling) else "all")
    if isinstance(pool, Pooling):
        return Pooling(pool.name, {**pool.options, **options}, sites)
    match, sized = re.fullmatch(r"([a-z]+)(\d+)?", pool), size_options()
    if not match or match[1] not in list_pools():
        raise UsageError(f"unknown pooling {pool!r}: expected one of {', '.join(list_pools())}, optionally with a "
                         f"size suffix ({', '.join(f'{p}<{o}>' for p, o in sized.items())})")
    if match[2] is not None:
        if match[1] not in sized:
            raise UsageError(f"pooling {pool!r}: only {sized_pools()} take a size suffix")
        options = {sized[match[1]]: int(match[2]), **options}
    return Pooling(match[1], options, sites)


def _describe(layer: nn.Module) -> str:
    kernel, stride = _pair(layer.kernel_size), _pair(layer.stride)
    text = f"{type(layer).__name__} {kernel[0]}x{kernel[1]} stride {stride[0] if stride[0] == stride[1] else stride}"
    return text + (f" groups {layer.groups}" if getattr(layer, "groups", 1) > 1 else "")


def _replacement(pooling: Pooling, layer: nn.Module, channels: int) -> nn.Module:
    """The layer(s) taking a pooling layer's place: MaxBlurPool for blur at a max-pool, else the pool."""
    layers = pooling.at_max_site(channels) if isinstance(layer, nn.MaxPool2d) else [pooling.layer(channels)]
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)


def _conv_rule(conv: nn.Conv2d) -> str:
    patchify = _pair(conv.kernel_size) == (2, 2) and conv.padding in ((0, 0), "valid") and conv.dilation == (1, 1)
    return "conv-pool" if patchify else "pool-conv"


def _probe(pooling: Pooling, name: str, layer: nn.Module, shape: tuple[int, ...]) -> tuple[SwapSite, tuple]:
    """The site of a stride-2 layer and the output shape its swapped form would give, both on the meta device."""
    with torch.device("meta"):
        if not isinstance(layer, nn.Conv2d):
            site = SwapSite(name, "pool", shape[1], _describe(layer), shape[2:])
            return site, meta_call(_replacement(pooling, layer, shape[1]), shape)
        rule = _conv_rule(layer)
        channels = layer.in_channels if rule == "pool-conv" else layer.out_channels
        site = SwapSite(name, rule, channels, _describe(layer), shape[2:])
        stride = layer.stride
        try:
            layer.stride = (1, 1)  # the stride-1 form, run on meta copies of the weights, then put back
            if rule == "pool-conv":
                return site, meta_call(layer, meta_call(pooling.layer(channels), shape))
            dense = meta_call(layer, (*shape[:2], shape[2] + 1 - shape[2] % 2, shape[3] + 1 - shape[3] % 2))
            site = SwapSite(name, rule, channels, site.layer, dense[2:])
            return site, meta_call(pooling.layer(channels), dense)
        finally:
            layer.stride = stride


def plan_swap(model: nn.Module, pool: str | Pooling, input_size: int = 224) -> Swap:
    """The sites `swap_pooling` would rewrite, without changing `model`; `UsageError` naming the layers left."""
    pooling = parse_pool(pool)
    names = {module: name for name, module in model.named_modules()}
    calls = first_calls(model, input_size, lambda m: isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)) or (
        not any(m.children()) and hasattr(m, "stride")))
    convs = [layer for layer in calls if isinstance(layer, nn.Conv2d)]
    stem = convs[0] if convs else None
    sites, left = [], []
    for layer, (shape, out) in calls.items():
        name, stride = names[layer], getattr(layer, "stride", 1)
        if layer is stem or _pair(stride) == (1, 1):
            continue
        elif _pair(stride) != (2, 2) or not isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            left.append(f"{name} ({type(layer).__name__}, stride {stride}): only 2-D convs and max/avg pools "
                        "with stride 2 are swapped")
        else:
            site, swapped = _probe(pooling, name, layer, shape)
            if swapped != out:
                left.append(f"{name} ({site.layer}, padding {getattr(layer, 'padding', 0)}): {RULES[site.rule]} "
                            f"gives {tuple(swapped[2:])}, not {tuple(out[2:])}, at input {input_size}")
            sites.append(site)
    if left:
        raise UsageError(f"cannot swap the pooling of {type(model).__name__}: {len(left)} down-sampling layer(s) "
                         "the rules do not cover: " + "; ".join(left))
    if pooling.sites == "stem":
        sites = sites[:1] if sites and sites[0].rule == "pool" else []
    kept = f"{names[stem]} ({_describe(stem)})" if stem is not None and _pair(stem.stride) != (1, 1) else None
    if not sites:
        what = "stem pooling layer (sites='stem')" if pooling.sites == "stem" else "down-sampling layer"
        raise UsageError(f"{type(model).__name__} has no {what} to swap"
                         + (f"; its stem conv {kept} keeps its stride by rule" if kept else ""))
    with torch.device("meta"):
        pools = [pooling.layer(site.channels) for site in sites]
    added = sum(p.numel() for pool in pools for p in pool.parameters())
    return Swap(pooling, tuple(sites), kept, input_size, added)


def swap_pooling(model: nn.Module, pool: str | Pooling, input_size: int = 224) -> Swap:
    """Rewrite every down-sampling site of `model` in place with `pool` (module doc); returns the record,
    also kept as `model.liftbench_swap`.

    Args:
        model: any `nn.Module` taking `(N, 3, H, W)` images; weights, device and dtype are kept.
        pool: a pooling name (`lift`, `blur5`, ...; see `parse_pool`) or a `Pooling` with options.
        input_size: side of the square input used to find the sites and check every swapped shape.

    New pools draw their initialisation from the global RNG (LiftPool: zero 1x1 weights, so a fresh pool is the
    lazy wavelet) and take the device, dtype and train/eval mode of the model.
    """
    if hasattr(model, "liftbench_swap"):
        raise UsageError(f"{type(model).__name__} is already swapped (pooling {model.liftbench_swap.pooling.name})")
    swap = plan_swap(model, pool, input_size)
    reference = next(model.parameters(), None)
    for site in swap.sites:
        layer = model.get_submodule(site.path)
        like = layer.weight if site.rule != "pool" else reference
        new = swap.pooling.layer(site.channels) if site.rule != "pool" else _replacement(swap.pooling, layer,
                                                                                         site.channels)
        if like is not None:
            new = new.to(device=like.device, dtype=like.dtype)
        new.train(model.training)
        if site.rule == "pool":
            model.set_submodule(site.path, new)
        else:
            layer.stride = (1, 1)
            layer.add_module("pool", new)
            layer.__class__ = _swapped_class(site.rule, type(layer))
    model.liftbench_swap = swap
    return swap


def describe_swap(model: nn.Module) -> str:
    """Every site `swap_pooling` changed in `model`, one line each, after a summary line."""
    swap = getattr(model, "liftbench_swap", None)
    if swap is None:
        raise UsageError(f"{type(model).__name__} has not been swapped: call swap_pooling(model, pool) first")
    options = ", ".join(f"{k}={v!r}" for k, v in swap.pooling.options.items()) or "defaults"
    lines = [(f"{type(model).__name__}: {len(swap.sites)} down-sampling sites swapped to {swap.pooling.name} "
              f"({options}), +{swap.added_params} parameters, checked at input {swap.input_size}x{swap.input_size}"),
             f"stem conv keeps its stride: {swap.stem}" if swap.stem else "no strided stem conv"]
    width = max(len(site.path) for site in swap.sites)
    for site in swap.sites:
        lines.append(f"  {site.path:<{width}}  {site.channels:>5} ch at {site.size[0]}x{site.size[1]}  "
                     f"{site.layer}: {RULES[site.rule]}")
    return "\n".join(lines)
