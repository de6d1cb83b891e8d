"""Any image classifier by one spec string: the zoo, torchvision, timm, or a user's own factory.

    >>> model, meta = resolve_model("resnet50-lift")                                  # the zoo
    >>> model, meta = resolve_model("torchvision:resnet50", pool="lift")   # weights="DEFAULT": torchvision's
    >>> model, meta = resolve_model("timm:convnext_tiny", pool="lift3")              # timm is optional
    >>> model, meta = resolve_model("torchvision.models:resnet18", model_args=parse_model_args(["num_classes=10"]))
    >>> meta["model"], meta["num_classes"]            # a factory: `package.module:build` or `path/to/file.py:build`
    ('torchvision.models:resnet18[num_classes=10]', 10)

`pool` swaps the pooling of any ConvNet (`models/swap.py`); for a zoo name it selects the zoo's own variant
(`resnet50` with pool `lift` is `resnet50-lift`). Weights: `DEFAULT` or a weights name (torchvision: a member of
the architecture's weights enum; timm: its pretrained weights of the tag in the name), or a checkpoint file or URL
of the original architecture or of the swapped model (`models/transfer.py`: everything but the pools' own
parameters must load). Pretrained files come from the torch.hub cache (timm: also the Hugging Face cache) and
are read as data by liftbench (`models/hub.py`), never by torchvision's or timm's loaders; offline, the error names
the file and where to put it. Random initialisations are seeded (`seed`).
"""

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from robustbench_lift.errors import UsageError
from robustbench_lift.models import preprocess
from robustbench_lift.models.factory import call_factory, factory_name, parse_model_args
from robustbench_lift.models.hub import timm_pretrained, torchvision_pretrained
from robustbench_lift.models.preprocess import Preprocess
from robustbench_lift.models.registry import build_model, describe_spec, model_spec, pooled_spec
from robustbench_lift.models.sites import Pooling
from robustbench_lift.models.spec import ModelSpec
from robustbench_lift.models.swap import describe_swap, parse_pool, swap_pooling
from robustbench_lift.models.trace import output_shape
from robustbench_lift.models.transfer import transfer_weights
from robustbench_lift.models.weights import read_checkpoint, read_published
from robustbench_lift.pooling.registry import size_options

__all__ = ["PREFIXES", "canonical_name", "parse_model_args", "resolve_model"]

PREFIXES = ("torchvision", "timm")
TIMM_INSTALL = 'pip install -e ".[timm]"'


def _kind(spec: str) -> tuple[str, str]:
    """`("zoo" | "torchvision" | "timm" | "factory", rest)`."""
    prefix, sep, rest = spec.partition(":")
    if not sep:
        return "zoo", spec
    return (prefix, rest) if prefix in PREFIXES else ("factory", spec)


def _sized(pooling: Pooling) -> tuple[Any, dict[str, Any]]:
    """`(size, other options)`: the option the zoo's name suffix says (`lift3`: kernel_size 3; None if none) and
    the options it does not say."""
    options = dict(pooling.options)
    option = size_options().get(pooling.name)
    size = options.pop(option, None) if option else None
    if pooling.sites != "all":
        options["sites"] = pooling.sites
    return size, options


def _suffix(pooling: Pooling) -> tuple[str, dict[str, Any]]:
    """`("-lift3", other options)`: the zoo's name suffix for a pooling and the options the suffix does not say."""
    size, options = _sized(pooling)
    return f"-{pooling.name}{'' if size is None else size}", options


def _zoo_spec(name: str, args: dict[str, Any], pooling: Pooling | None) -> ModelSpec:
    """The zoo spec of `name` with pooling options `args`, or of its `pooling` variant (`resnet50` with lift3 is
    `resnet50-lift3`): the name is parsed once."""
    if pooling is None:
        return model_spec(name, **args)
    base = model_spec(name)
    if base.pooling != "max":
        raise UsageError(f"{name!r} already names pooling {base.pooling}: pass the bare backbone with a pool")
    size, options = _sized(pooling)
    return pooled_spec(base, pooling.name, size, **{**args, **options})


def _timm_cfg(name: str) -> Any:
    try:
        import timm.models
    except ImportError as exc:
        raise UsageError(f"timm:{name} needs timm, an optional dependency: {TIMM_INSTALL}") from exc
    if not timm.models.is_model(name):
        close = timm.list_models(f"*{name.split('.')[0][:6]}*")[:5]
        raise UsageError(f"unknown timm model {name!r}" + (f"; similar: {', '.join(close)}" if close else ""))
    try:
        return timm.models.get_pretrained_cfg(name)
    except RuntimeError as exc:  # timm's error for an unknown pretrained tag
        raise UsageError(f"timm:{name}: {exc}") from exc


def _torchvision_name(name: str) -> str:
    known = torchvision.models.list_models(module=torchvision.models)
    if name not in known:
        import difflib

        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        raise UsageError(f"unknown torchvision classification model {name!r}"
                         + (f"; closest: {', '.join(close)}" if close else f"; known: {', '.join(known)}"))
    return name


def canonical_name(spec: str, *, model_args: Mapping[str, Any] | None = None,
                   pool: str | Pooling | None = None) -> str:
    """The name that identifies a model in the store (with its weights' sha256).

    Zoo: the zoo's canonical name (`cifar_resnet10s` and `cifar_resnet10s-max` are one model; `model_args` are
    pooling options, recorded beside the name as today). Others: `torchvision:<name>`, `timm:<arch>.<tag>` (the
    default pretrained tag made explicit: it sets the preprocessing), or the normalised `file.py:factory`; then the
    pool's zoo-style suffix (`-lift`, `-blur5`) and every other argument in brackets (`[depth=18,width=0.5]`).
    """
    pooling = parse_pool(pool) if pool is not None else None
    kind, rest = _kind(spec)
    if kind == "zoo":
        return _zoo_spec(rest, dict(model_args or {}), pooling).name
    return _foreign_name(kind, rest, dict(model_args or {}), pooling)


def _foreign_name(kind: str, rest: str, args: dict[str, Any], pooling: Pooling | None) -> str:
    """`canonical_name` of a model outside the zoo."""
    if kind == "torchvision":
        base = f"torchvision:{_torchvision_name(rest)}"
    elif kind == "timm":
        cfg = _timm_cfg(rest)
        base = f"timm:{cfg.architecture}.{cfg.tag}" if cfg is not None and cfg.tag else f"timm:{rest}"
    else:
        base = factory_name(rest)
    suffix, options = _suffix(pooling) if pooling is not None else ("", {})
    arguments = {**args, **options}
    listed = ",".join(f"{key}={value!r}" for key, value in sorted(arguments.items()))
    return f"{base}{suffix}" + (f"[{listed}]" if listed else "")


def _location(weights: Any) -> bool:
    """Whether `weights` is a checkpoint path or URL rather than a weights name."""
    text = str(weights)
    return (isinstance(weights, Path) or text.startswith(("https://", "http://")) or Path(text).exists()
            or not re.fullmatch(r"[\w.]+", text))


def _torchvision(name: str, weights: Any, kwargs: dict[str, Any]) -> tuple[nn.Module, Preprocess, str | None]:
    enum = torchvision.models.get_model_weights(name)
    if weights is None:
        return torchvision.models.get_model(name, weights=None, **kwargs), preprocess.from_torchvision(
            enum.DEFAULT), None
    prefix, _, member_name = str(weights).rpartition(".")
    try:
        if prefix not in ("", enum.__name__):
            raise KeyError(prefix)
        member = weights if isinstance(weights, enum) else enum[member_name]
    except KeyError as exc:
        raise UsageError(f"{weights!r} is neither a checkpoint file nor weights of torchvision:{name}; known: "
                         f"DEFAULT, {', '.join(m.name for m in enum)}") from exc
    model = torchvision_pretrained(name, member, kwargs)  # read as data; offline: names the file to place
    return model, preprocess.from_torchvision(member), f"{member} ({member.url})"


def _timm(name: str, weights: Any, kwargs: dict[str, Any]) -> tuple[nn.Module, Preprocess, str | None]:
    cfg = _timm_cfg(name)
    import timm

    if weights is not None and str(weights) != "DEFAULT":
        raise UsageError(f"timm:{name} takes weights DEFAULT (timm's pretrained weights of the tag in the name) "
                         f"or a checkpoint file, not {weights!r}")
    if weights is None:
        model = timm.create_model(name, pretrained=False, **kwargs)
        return model, preprocess.from_timm(model), None
    model = timm_pretrained(name, cfg, kwargs)
    return model, preprocess.from_timm(model), f"timm pretrained {cfg.architecture}.{cfg.tag}"


def resolve_model(spec: str, *, weights: Any = None, model_args: Mapping[str, Any] | None = None,
                  pool: str | Pooling | None = None, num_classes: int | None = None,
                  seed: int = 0, test_size: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """Build the model `spec` names (module doc), with its metadata.

    Args:
        spec: a zoo name, `torchvision:<name>`, `timm:<name>`, `path/to/file.py:factory` or `package.module:factory`.
        weights: None (seeded random initialisation), "DEFAULT" or a weights name, or a checkpoint path or URL.
        model_args: keyword arguments of the builder (zoo: pooling options; torchvision `get_model`, timm
            `create_model` and factories: their own), e.g. from `parse_model_args`.
        pool: swap the pooling (`"lift"`, `"blur5"`, a `Pooling`); zoo names: the zoo's variant.
        num_classes: classes of the head (default: the checkpoint's recorded count, else the builder's).
        seed: seed of the random initialisation (model and new pools); the global RNG is left untouched.
        test_size: a timm config's test size and crop (`preprocess.from_timm`, timm's `validate.py` protocol).

    Returns `(model, meta)`; meta (also `model.liftbench_meta`) holds `model` (the canonical name), `source`,
    `spec`, `model_args`, `pool`, `pool_kwargs`, `num_classes`, `weights` (a description), the preprocessing
    (`input_size`, `resize`, `crop_fraction`, `interpolation`, `mean`, `std`: `Preprocess.from_meta(meta)`), and
    `transfer` (a `TransferReport`'s fields) when a checkpoint was loaded into a model outside the zoo.
    """
    args, pooling = dict(model_args or {}), parse_pool(pool) if pool is not None else None
    kind, rest = _kind(spec)
    if kind == "zoo" and test_size:
        raise UsageError(f"test_size is timm's published-accuracy protocol (validate.py): {spec} is a zoo model; "
                         "drop --test-size")
    if kind == "zoo":
        return _resolve_zoo(rest, _zoo_spec(rest, args, pooling), pooling is not None, weights, args, num_classes,
                            seed)
    name = _foreign_name(kind, rest, args, pooling)
    state_dict, recorded, source = None, {}, None
    if weights is not None and _location(weights):
        text = str(weights)
        read = read_published(text) if text.startswith(("https://", "http://")) else read_checkpoint(text)
        (state_dict, recorded), source, weights = read, f"checkpoint {text}", None
    classes = num_classes or recorded.get("num_classes")
    kwargs = {**args, **({"num_classes": classes} if classes else {})}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "torchvision":
            model, prep, described = _torchvision(rest, weights, kwargs)
        elif kind == "timm":
            model, prep, described = _timm(rest, weights, kwargs)
        else:
            if weights is not None:
                raise UsageError(f"{spec} has no published weights: pass a checkpoint file, not {weights!r}")
            model, described = call_factory(rest, kwargs), None
            prep = preprocess.from_timm(model) if hasattr(model, "pretrained_cfg") else preprocess.for_size(224)
        if test_size:
            if not hasattr(model, "pretrained_cfg"):
                raise UsageError(f"test_size is timm's published-accuracy protocol (validate.py): {spec} has no timm "
                                 "pretrained config; drop --test-size")
            prep = preprocess.from_timm(model, test_size=True)
        if "mean" in recorded and "std" in recorded:
            prep = dataclasses.replace(prep, mean=tuple(recorded["mean"]), std=tuple(recorded["std"]))
        if pooling is not None:
            swap_pooling(model, pooling, prep.input_size)
    meta = {"model": name, "source": kind, "spec": spec, "model_args": args,
            "pool": pooling.name if pooling else None, "pool_kwargs": _suffix(pooling)[1] if pooling else {},
            "num_classes": classes or output_shape(model, prep.input_size)[-1], "weights": described or source,
            **prep.as_meta()}
    if state_dict is not None:
        report = transfer_weights(model, state_dict, source)
        if not report.complete:
            saved = f" (saved from {recorded['model']})" if "model" in recorded else ""
            raise UsageError(f"{source}{saved} does not fit {name}:\n{report.format()}\nto load only what matches "
                             "(e.g. for a new head), use robustbench_lift.models.transfer.transfer_weights")
        meta["transfer"] = dataclasses.asdict(report)
    model.liftbench_meta = meta
    return model, meta


def _resolve_zoo(name: str, spec: ModelSpec, pooled: bool, weights: Any, args: dict[str, Any],
                 num_classes: int | None, seed: int) -> tuple[nn.Module, dict[str, Any]]:
    """Zoo name `name` as given (`spec`: its parsed form, the variant of a `pool` if `pooled`) through
    `build_model`, with the common metadata added."""
    if pooled and weights is not None and not _location(weights) and not spec.weights:
        raise UsageError(f"no weights are published for {spec.name}; to fine-tune torchvision's weights with "
                         f"{spec.pooling}, use torchvision:{spec.arch} with the pool")
    model, zoo = build_model(spec, weights, num_classes, seed=seed)
    prep = preprocess.for_size(zoo["input_size"], zoo.get("mean"), zoo.get("std"))
    meta = {**zoo, "model": spec.name, "source": "zoo", "spec": name, "model_args": args, "pool": spec.pooling,
            **prep.as_meta()}
    model.liftbench_meta = meta
    return model, meta


def describe(spec: str, *, pool: str | Pooling | None = None, model_args: Mapping[str, Any] | None = None) -> str:
    """Where the pooling sits: a zoo model's placement (`describe_model`; with `pool`, of its variant), or every
    site `pool` changes in any other model (`describe_swap`), built on the meta device (no memory, no weights).
    `UsageError` naming the layers the rules do not cover."""
    args, pooling = dict(model_args or {}), parse_pool(pool) if pool is not None else None
    kind, rest = _kind(spec)
    if kind == "zoo":
        return describe_spec(_zoo_spec(rest, args, pooling))
    if pooling is None:
        raise UsageError(f"{spec} is not a zoo model: pass a pool (--pool lift) to see the sites it would change")
    with torch.device("meta"):
        model, meta = resolve_model(spec, model_args=args, pool=pooling)
    return f"{meta['model']} (input {meta['input_size']}x{meta['input_size']})\n{describe_swap(model)}"
