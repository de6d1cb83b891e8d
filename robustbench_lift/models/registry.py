"""The model zoo: `<backbone>-<pool>` names -> `ModelSpec` -> a built, optionally pretrained `nn.Module`.

Names are `[cifar_]<backbone>-<pool>[<size>]`: backbones resnet18, resnet34, resnet50, resnet101, vgg13, vgg13_bn,
vgg16_bn, mobilenet_v2 (and alexnet, as `alexnet-max` only: the ImageNet-C/-P normaliser; resnet10s, a
narrow ResNet-10 in CIFAR form only; and, with max and blur only, the other architectures torchvision and
antialiased-cnns publish weights for: resnet152, wide_resnet50_2, wide_resnet101_2, resnext50_32x4d,
resnext101_32x8d, vgg11[_bn], vgg16, vgg19[_bn], densenet121/161/169/201); pools from
`robustbench_lift.pooling.list_pools()`. The size suffix is blur's `filter_size` (`resnet50-blur5`) or lift's
`kernel_size` (`resnet50-lift3`); other pooling options go through keyword arguments (`subbands=("LL",)`,
`pad_type=...`), and `sites="stem"` rewrites only the ResNet stem max-pool. A bare backbone (`resnet50`) means
`-max`, which is torchvision's model unchanged. `cifar_` selects the CIFAR form (see `models/cifar.py`).
Pool spellings that imply options (`models/published.py`): `dwt_<pywt wavelet>` (`resnet50-dwt_db2`) and
`lps_circular`; ImageNet ResNets of aps, lps, flc and asap are their authors' layouts, and the authors' released
weights (`models/releases.py`) are read from where the user put them.
`demo-<pool>` are the shipped demo models (`models/demo.py`): `cifar_resnet10s-<pool>` with 10 classes, trained
on the built-in demo data set, their weights inside the package (`weights="DEFAULT"`).
Segmentation models (`task == "segmentation"`, `models/segmentation.py`): `segnet_vgg16_bn-<pool>`,
`deeplabv3plus_resnet{18,34,50}-<pool>` and the demo's `demo_seg-<pool>`, logits `(N, classes, H, W)`.

Placement of the pools: `models/sites.py` (one transformation for every pooling) and the backbone files;
backbones and `ModelSpec`: `models/spec.py`.
"""

import dataclasses
import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from robustbench_lift.data.demo import MEAN, STD
from robustbench_lift.errors import UsageError
from robustbench_lift.models.demo import DEMO_BACKBONE, DEMO_CLASSES, DEMO_PREFIX, DEMO_TAG, shipped_demo_weights
from robustbench_lift.models.preprocess import IMAGENET_MEAN, IMAGENET_STD
from robustbench_lift.models.published import LAYOUTS, ZOO_VARIANTS, authors_keys, variant
from robustbench_lift.models.releases import RELEASE_TAG, RELEASES, release_weights, require_release
from robustbench_lift.models.segmentation import SEGMENTATION, segmentation_fields
from robustbench_lift.models.spec import (
    BACKBONES,
    CIFAR_CLASSES,
    CIFAR_INPUT,
    CIFAR_PREFIX,
    IMAGENET_INPUT,
    PUBLISHED_POOLS,
    ModelSpec,
)
from robustbench_lift.models.weights import (
    antialiased_weights,
    load_weights,
    read_checkpoint,
    read_published,
    torchvision_weights,
)
from robustbench_lift.pooling import list_pools
from robustbench_lift.pooling.registry import size_options, sized_pools

_NAME = re.compile(r"(?P<backbone>[a-z0-9_]+?)(?:-(?P<pool>[a-z]+(?:_[a-z][a-z0-9.]*)?)(?P<size>\d+)?)?")


def _unknown(name: str, what: str = "model") -> UsageError:
    close = difflib.get_close_matches(name, list_models(), n=5, cutoff=0.5)
    hint = f"; closest: {', '.join(close)}" if close else ""
    return UsageError(f"unknown {what} {name!r}: expected [cifar_]<backbone>-<pool>[size] with backbone one of "
                      f"{', '.join([*BACKBONES, *SEGMENTATION])} and pool one of {', '.join(list_pools())}{hint}")


def model_spec(name: str, **pool_kwargs: Any) -> ModelSpec:
    """The `ModelSpec` of zoo name `name` with pooling options `pool_kwargs`; `UsageError` listing the closest
    names if the name is unknown. The one place a zoo name is parsed."""
    match = _NAME.fullmatch(name)
    if match is None:
        raise _unknown(name)
    return _spec(name, match["backbone"], match["pool"] or "max", match["size"], pool_kwargs)


def pooled_spec(spec: ModelSpec, pool: str, size: int | None = None, **pool_kwargs: Any) -> ModelSpec:
    """The variant of `spec`'s backbone with pooling `pool`, named with the size suffix `size` (`resnet50-lift3`),
    without parsing a name again."""
    suffix = "" if size is None else str(size)
    return _spec(f"{spec.backbone}-{pool}{suffix}", spec.backbone, pool, suffix or None, pool_kwargs)


def _spec(name: str, backbone: str, pool: str, size: str | None, pool_kwargs: dict[str, Any]) -> ModelSpec:
    """The spec of a parsed zoo name `name` (`backbone`, `pool`, `size` suffix); `name` only for messages."""
    if backbone == DEMO_PREFIX:
        return _demo_spec(name, pool, size, pool_kwargs)
    arch = backbone.removeprefix(CIFAR_PREFIX)
    cifar = backbone != arch
    spelled, (pool, implied), given = pool, variant(pool), dict(pool_kwargs)
    for key, value in implied.items():
        if pool_kwargs.get(key, value) != value:
            raise UsageError(f"{name!r} sets {key}={value!r} but {key}={pool_kwargs[key]!r} was also given")
    pool_kwargs = {**implied, **pool_kwargs}
    entry = BACKBONES.get(arch) if arch in BACKBONES else None
    seg = backbone in SEGMENTATION
    known = pool in list_pools() and (seg or entry is not None and (
        entry.cifar is not None if cifar else not entry.cifar_only))
    if known and not seg and entry.published_only and pool not in PUBLISHED_POOLS:
        raise UsageError(f"{name!r}: the zoo has {arch} with {' and '.join(PUBLISHED_POOLS)} only (its published "
                         f"weights); swap {pool} in with model torchvision:{arch} and pool {pool}")
    if not known or (not seg and entry.baseline_only and pool != "max"):
        raise _unknown(name)
    if size is not None:
        sized = size_options()
        if pool not in sized:
            raise UsageError(f"{name!r}: only {sized_pools()} take a size suffix, not {pool}")
        option = sized[pool]
        if pool_kwargs.get(option, int(size)) != int(size):
            raise UsageError(f"{name!r} sets {option}={size} but {option}={pool_kwargs[option]} was also given")
        pool_kwargs = {option: int(size), **pool_kwargs}
    if pool == "max" and pool_kwargs:
        raise UsageError(f"{backbone}-max is the max-pooling baseline and takes no pooling options, "
                         f"got {sorted(pool_kwargs)}")
    canonical = f"{backbone}-{spelled}{size or ''}"
    if seg:
        return ModelSpec(canonical, backbone, backbone, pool, dict(pool_kwargs),
                         **segmentation_fields(backbone, pool, not pool_kwargs and size is None))
    weights, default = ({}, None)
    if not cifar and pool == "max":
        weights, default = torchvision_weights(arch)
    elif not cifar and pool == "blur" and set(pool_kwargs) <= {"filter_size"}:
        weights, default = antialiased_weights(arch, pool_kwargs.get("filter_size", 4))
    elif not cifar and canonical in RELEASES and not given:
        weights, default = release_weights(canonical)
    mean, std = (None, None) if cifar else (IMAGENET_MEAN, IMAGENET_STD)
    return ModelSpec(canonical, backbone, arch, pool, dict(pool_kwargs), CIFAR_INPUT if cifar else IMAGENET_INPUT,
                     CIFAR_CLASSES if cifar else 1000, weights, default, mean=mean, std=std)


def _demo_spec(name: str, pool: str, size: str | None, pool_kwargs: dict[str, Any]) -> ModelSpec:
    """`demo-<pool>`: the spec of `cifar_resnet10s-<pool>` with 10 classes, the demo normalisation and, for the
    default options, the shipped weights (`models/demo.py`)."""
    spec = _spec(name.replace(DEMO_PREFIX, DEMO_BACKBONE, 1), DEMO_BACKBONE, pool, size, pool_kwargs)
    shipped = shipped_demo_weights().get(spec.pooling) if not pool_kwargs and not size else None
    weights = {DEMO_TAG: str(shipped.path)} if shipped else {}
    return dataclasses.replace(
        spec, name=f"{DEMO_PREFIX}-{spec.name.split('-', 1)[1]}", num_classes=DEMO_CLASSES, weights=weights,
        default_weights=DEMO_TAG if shipped else None, weights_sha256={DEMO_TAG: shipped.sha256} if shipped else {},
        mean=MEAN, std=STD)


def list_models(backbone: str | None = None, pool: str | None = None) -> list[str]:
    """Zoo names (ImageNet forms, CIFAR forms, the demo models, then segmentation), optionally only one backbone
    (`resnet50`, `cifar_resnet50`, `demo`, `segnet_vgg16_bn`) and/or one pooling: a pooling's family (`lps` lists
    the authors' `resnet50-lps3` and `resnet18-lps_circular` too) or one spelling (`lps3`). Size variants
    (`-blur5`, `-lift3`) are accepted by `create_model` but listed only where authors released such a model."""
    names = [f"{prefix}{arch}-{p}" for prefix in ("", CIFAR_PREFIX) for arch, entry in BACKBONES.items()
             if (entry.cifar if prefix else not entry.cifar_only)
             for p in list_pools() if (not entry.baseline_only or p == "max")
             and (not entry.published_only or p in PUBLISHED_POOLS)]
    names += [name for name in dict.fromkeys([*RELEASES, *ZOO_VARIANTS]) if name not in names]
    names += [f"{DEMO_PREFIX}-{p}" for p in list_pools()]
    names += [f"{arch}-{p}" for arch in SEGMENTATION for p in list_pools()]
    for value, kind, position in ((backbone, "backbone", 0), (pool, "pool", 1)):
        valid = list(dict.fromkeys(n.split("-")[position] for n in names))
        if value is not None and value not in valid:
            close = difflib.get_close_matches(value, valid, n=3, cutoff=0.5)
            hint = f"; closest: {', '.join(close)}" if close else ""
            raise UsageError(f"unknown {kind} {value!r}: expected one of {', '.join(valid)}{hint}")
    return [n for n in names if backbone in (None, n.split("-")[0])
            and pool in (None, n.split("-")[1], _family(n.split("-")[1]))]


def _family(spelling: str) -> str:
    """The registry pooling a zoo name's pool spelling belongs to: `lps3` and `lps_circular` -> `lps`,
    `dwt_db2` -> `dwt`, `pasa5` -> `pasa`."""
    return re.sub(r"\d+$", "", variant(spelling)[0])


def _known_tag(spec: ModelSpec, weights: Any) -> str | None:
    """The tag of `spec.weights` that `weights` names ("DEFAULT", a tag, a torchvision enum or its full name), or
    None if `weights` is a URL or a path. A bare word that is no tag of this model is a `UsageError`."""
    text, enum = str(weights), torchvision.models.WeightsEnum
    if isinstance(weights, enum) or re.fullmatch(r"\w+_Weights\.\w+", text):
        try:
            member = weights if isinstance(weights, enum) else torchvision.models.get_weight(text)
        except (KeyError, ValueError) as exc:
            raise UsageError(f"unknown torchvision weights {text!r}") from exc
        text = next((tag for tag, url in spec.weights.items() if url == member.url), text)
    elif text == "DEFAULT":
        text = spec.default_weights or text
    elif not re.fullmatch(r"\w+", text) or Path(text).exists():
        return None
    if text not in spec.weights:
        raise UsageError(f"weights {str(weights)!r} are not published for {spec.name}; known: {spec.weights_source}")
    return text


def _fetch(spec: ModelSpec, weights: Any, sha256: str | None) -> tuple[dict, dict, str]:
    """`(state_dict, meta, description)` of `weights`: known weights, a URL, or a checkpoint path."""
    tag, text = _known_tag(spec, weights), str(weights)
    remote = text.startswith(("https://", "http://"))
    source = text if remote else f"checkpoint {text}"
    if tag is not None:
        text, sha256 = spec.weights[tag], sha256 or spec.weights_sha256.get(tag)
        if tag == RELEASE_TAG:
            require_release(spec.name)
        source, remote = f"{spec.name} weights {tag} ({text})", text.startswith(("https://", "http://"))
    state_dict, meta = read_published(text, sha256) if remote else read_checkpoint(text, sha256)
    return state_dict, meta, source


def _reconcile(spec: ModelSpec, meta: Mapping[str, Any], source: str) -> ModelSpec:
    """The spec a checkpoint's metadata records, if it agrees with the requested one: same backbone and pooling,
    and every requested option (suffix or keyword) recorded with the same value; the recorded options are adopted."""
    if "model" not in meta or (meta["model"], dict(meta.get("pool_kwargs", {}))) == (spec.name, dict(spec.pool_kwargs)):
        return spec
    recorded = model_spec(meta["model"], **meta.get("pool_kwargs", {}))
    options = recorded.pool_kwargs
    if (recorded.backbone, recorded.pooling) != (spec.backbone, spec.pooling) or any(
            key not in options or options[key] != value for key, value in spec.pool_kwargs.items()):
        raise UsageError(f"{source} was saved from {recorded.name} with {dict(recorded.pool_kwargs)}, "
                         f"not {spec.name} with {dict(spec.pool_kwargs)}")
    return recorded


def build_model(spec: ModelSpec, weights: Any = None, num_classes: int | None = None, *, seed: int = 0,
                sha256: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """`(model, meta)` of zoo spec `spec` (`create_model`'s arguments; `create_model` sets the meta as
    `liftbench_meta`): model, pool_kwargs, num_classes, mean, std, input_size, weights, and the checkpoint's own
    metadata."""
    state_dict, meta, source = _fetch(spec, weights, sha256) if weights is not None else (None, {}, None)
    spec = _reconcile(spec, meta, source)
    classes = num_classes or meta.get("num_classes") or spec.num_classes
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model, _ = spec.build(classes)
    if state_dict is not None:
        load_weights(model, authors_keys(spec.pooling, state_dict), source)
    return model, {**meta, "model": spec.name, "pool_kwargs": dict(spec.pool_kwargs), "num_classes": classes,
                   "mean": meta.get("mean", spec.mean), "std": meta.get("std", spec.std),
                   "input_size": spec.input_size, "weights": source}


def describe_model(name: str, **pool_kwargs: Any) -> str:
    """Where each pooling layer of `name` sits, one line per site, after a summary line."""
    return describe_spec(model_spec(name, **pool_kwargs))


def describe_spec(spec: ModelSpec) -> str:
    """`describe_model` of a parsed zoo spec."""
    with torch.device("meta"):
        model, placed = spec.build()
    layers = dict(model.named_modules())
    options = ", ".join(f"{k}={v!r}" for k, v in spec.pool_kwargs.items()) or "defaults"
    seg = SEGMENTATION.get(spec.arch) if spec.task == "segmentation" else None
    title = seg.title if seg else BACKBONES.get(spec.arch).title
    lines = [f"{spec.name}: {title}{' (CIFAR form)' if spec.cifar else ''}, pooling "
             f"{spec.pooling} ({options}), input {spec.input_size}x{spec.input_size}, "
             f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, {len(placed)} down-sampling sites",
             f"weights: {spec.weights_source}",
             f"pairing: {seg.pairing}" if seg else
             "baseline: torchvision's model unchanged" if spec.pooling == "max" else
             f"placement: {LAYOUTS[spec.pooling].note}" if spec.pooling in LAYOUTS and any(
                 site.stem for _, site in placed) else
             "placement: max-pools replaced (blur: dense max 2x2 stride 1, DenseNet's stem 3x3, then BlurPool, as "
             "antialiased-cnns; DenseNet's average pools: the pool alone); "
             "stride-2 convs run at stride 1 with the pool in front of the next conv (shortcut: of the 1x1 conv)"]
    width = max(len(path) for path, _ in placed)
    for path, site in placed:
        layer = layers[path]
        lines.append(f"  {path:<{width}}  {site.channels:>5} ch  {type(layer).__name__}({layer.extra_repr()})  "
                     f"<- {site.note}")
    return "\n".join(lines)
