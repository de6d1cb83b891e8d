"""The authors' own ImageNet ResNets for the published poolings: placement, padding, shortcut choice and the key
names of their checkpoints (facts and sources: docs/poolings.md, section "The zoo's ResNets").

`models/sites.py` places every pooling the same way (antialiased-cnns' `pool_only=True`). Four poolings' authors
place theirs otherwise, and a zoo name `resnet*-<pool>` builds their layout (`Layout`, in `LAYOUTS`):

- APS (`models/aps_models/resnet.py`, ImageNet default `pool_only=False`) and LPS (`models/resnet_custom.py`,
  default `conv1_stride=False`): the stem conv runs at stride 1 and the stem max-pool becomes
  `Sequential(pool, circular pad (0, 1, 0, 1), MaxPool2d(2, stride=1), pool)` (LPS's first pool without its
  low-pass: `no_antialias=True`); every other site as in `sites.py`; shortcuts reuse the main branch's choice.
  APS pads every convolution circularly; LPS where its checkpoint was trained so (`lps_circular`).
- FLC and ASAP (`resnet_flc.py`, `resnet_asap.py`): the pool goes in front of each strided conv, which runs at
  stride 1 (`Sequential(pool, conv)` in the conv's place, the shortcut's 1x1 conv too), the stem conv included
  (it filters the input), and the stem max-pool is the pool. Their crop (`band="code"`) by default.

PASA and WaveCNet's DWT place theirs as `sites.py` does (their state dicts already have our keys). A `Layout`'s
`keys` rename a checkpoint's keys written by the authors' code to ours before the strict load (`authors_keys`).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from torch import Tensor, nn

from robustbench_lift.errors import UsageError
from robustbench_lift.models.sites import Pooling, Site, apply_pooling
from robustbench_lift.pooling import create_pool
from robustbench_lift.pooling.polyphase import share_shortcut_choice

CONV_PADDINGS = ("zeros", "circular")
LPS_KEYS = ((r"^core\.", ""), (r"\._antialias_layer\.filt$", ".filt"), (r"\.component_selection\.", "."))
"""LPS's Lightning module keeps the ResNet as `core`; its pools hold the low-pass as `_antialias_layer` and the
logit network and temperature under `component_selection` (`layers/polydown.py`)."""

APS_KEYS = ((r"^conv1\.1\.", "conv1."), (r"^(layer\d\.\d+\.conv1)\.1\.", r"\1."),
            (r"^(layer1\.\d+|layer[234]\.[1-9]\d*)\.conv2\.1\.", r"\1.conv2."),
            (r"^(layer[234]\.0)\.aps_down\.", r"\1.conv2.0."))
"""APS's BasicBlock ResNets wrap every 3x3/7x7 conv as `Sequential(circular_pad, conv)` (key `<conv>.1.weight`;
ours pad inside the conv) and keep the main branch's pool as the block's `aps_down` (ours: `conv2.0`)."""


@dataclass(frozen=True)
class Layout:
    """How a pooling's authors build their ImageNet ResNet (module doc).

    Attributes:
        stem: "sites" (as `sites.py`), "polyphase" (APS, LPS) or "input" (FLC, ASAP).
        stem_blur: whether the polyphase stem's first pool keeps the pool's low-pass (APS yes, LPS no).
        wrap: conv sites become `Sequential(pool, conv)` at the strided conv (FLC, ASAP).
        circular: every convolution padded circularly (APS).
        share: shortcut pools reuse their block's main-branch choice (APS, LPS).
        options: pool options the authors' code implies, under the user's own.
        keys: `(pattern, replacement)` pairs renaming the authors' checkpoint keys to ours, in order.
    """

    stem: str = "sites"
    stem_blur: bool = True
    wrap: bool = False
    circular: bool = False
    share: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    keys: tuple[tuple[str, str], ...] = ()
    note: str = ""


_POLYPHASE = ("the authors': stem conv at stride 1, max-pool -> pool, circular pad, max 2x2 stride 1, pool; "
              "stride-2 convs at stride 1 with the pool in front of the next conv; shortcuts follow the main branch")
_FREQUENCY = ("the authors': the pool in front of every strided conv (now stride 1), the stem conv included; "
              "the max-pool replaced by the pool")
LAYOUTS: dict[str, Layout] = {
    "aps": Layout(stem="polyphase", circular=True, share=True, keys=APS_KEYS,
                  note=f"{_POLYPHASE}; every conv padded circularly"),
    "lps": Layout(stem="polyphase", stem_blur=False, share=True, keys=LPS_KEYS, note=_POLYPHASE),
    "flc": Layout(stem="input", wrap=True, options={"band": "code"}, note=_FREQUENCY),
    "asap": Layout(stem="input", wrap=True, options={"band": "code"}, note=_FREQUENCY),
}
ZOO_VARIANTS = ("resnet18-aps", "resnet50-aps", "resnet50-lps3", "resnet18-lps_circular", "resnet101-pasa3",
                "resnet101-pasa5", "resnet18-dwt_db2", "resnet18-dwt_bior2.2")
"""Zoo names of the authors' configurations listed beside `<backbone>-<pool>` (released ones: `RELEASES`)."""
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {"lps_circular": ("lps", {"conv_padding": "circular"})}
"""Pool spellings of a zoo name that imply options: LPS's circular model (`ResNet18_LPS_circular_basic.ckpt`:
every conv circular, no low-pass). `dwt_<pywt wavelet>` sets `wavelet` (`variant`)."""
MODEL_OPTIONS = ("conv_padding",)
"""Options of a zoo name that set the model rather than the pool: `conv_padding` ("zeros" or "circular")."""


def variant(pool: str) -> tuple[str, dict[str, Any]]:
    """`(registry pooling, implied options)` of a zoo name's pool spelling: `lps_circular` -> `("lps",
    {"conv_padding": "circular"})`, `dwt_db2` -> `("dwt", {"wavelet": "db2"})`, `lift` -> `("lift", {})`."""
    if pool in VARIANTS:
        return VARIANTS[pool]
    if pool.startswith("dwt_"):
        return "dwt", {"wavelet": pool.removeprefix("dwt_")}
    return pool, {}


def _set(model: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, key = path.rpartition(".")
    setattr(model.get_submodule(parent_path) if parent_path else model, key, module)


def _wrap(model: nn.Module, site: Site, pooling: Pooling) -> tuple[str, Site]:
    """The strided conv at `site.path` becomes `Sequential(pool, conv)` with the conv at stride 1; returns the
    pool's name and its site (the pool sees the conv's input channels)."""
    conv = model.get_submodule(site.path)
    conv.stride = (1, 1)
    _set(model, site.path, nn.Sequential(pooling.layer(conv.in_channels), conv))
    return f"{site.path}.0", replace(site, channels=conv.in_channels, note=f"{site.note}, in front of it")


def place(model: nn.Module, sites: list[Site], pooling: Pooling) -> list[tuple[str, Site]]:
    """Put `pooling` into `model` at `sites` in its authors' layout (`LAYOUTS`) if `model` is an ImageNet ResNet
    (it has the stem max-pool site), else as `apply_pooling` (APS / LPS shortcuts still follow their block);
    returns `(dotted name of each pool, site)` pairs.
    `pooling.options` may carry `conv_padding` ("circular": every convolution padded circularly)."""
    options = {key: value for key, value in pooling.options.items() if key not in MODEL_OPTIONS}
    padding = pooling.options.get("conv_padding", "zeros")
    if padding not in CONV_PADDINGS:
        raise UsageError(f"conv_padding must be one of {CONV_PADDINGS}, got {padding!r}")
    layout = LAYOUTS.get(pooling.name, Layout())
    share = layout.share  # a CIFAR-form ResNet's shortcuts follow their main branch too
    stem = next((site for site in sites if site.stem), None)
    if stem is None:
        layout = Layout()
    pooling = replace(pooling, options={**layout.options, **options})
    if layout.circular or padding == "circular":
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                module.padding_mode = "circular"
    chosen = [site for site in sites if (pooling.sites == "all" or site.stem) and
              (layout.stem == "sites" or not site.stem)]
    placed = []
    if layout.wrap:
        placed = [_wrap(model, site, pooling) for site in chosen]
    elif chosen or layout.stem == "sites":  # apply_pooling names a choice that selects no site
        placed = apply_pooling(model, chosen, pooling)
    if layout.stem != "sites":
        placed = _stem(model, stem, pooling, layout) + placed
    if share:
        share_shortcut_choice(model)
    return placed


def _stem(model: nn.Module, stem: Site, pooling: Pooling, layout: Layout) -> list[tuple[str, Site]]:
    """Rewrite the stem of a torchvision ResNet as `layout.stem` says (module doc)."""
    conv = model.conv1
    if layout.stem == "input":
        entry = _wrap(model, Site("conv1", conv.in_channels, note="the stem conv (7x7, now stride 1)"), pooling)
        model.maxpool = pooling.layer(stem.channels)
        return [entry, ("maxpool", replace(stem, note=f"{stem.note}: replaced by the pool"))]
    conv.stride = (1, 1)
    first = pooling.options if layout.stem_blur else {**pooling.options, "filter_size": 1}
    model.maxpool = nn.Sequential(create_pool(pooling.name, stem.channels, **first), nn.CircularPad2d((0, 1, 0, 1)),
                                  nn.MaxPool2d(kernel_size=2, stride=1), pooling.layer(stem.channels))
    return [("maxpool.0", replace(stem, note="the stem conv's stride (the conv now runs at stride 1)")),
            ("maxpool.3", replace(stem, note=f"{stem.note}: circular pad, max 2x2 stride 1, then the pool"))]


def authors_keys(pooling: str, state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """`state_dict` with the authors' key names of `pooling`'s checkpoints renamed to ours (`Layout.keys`);
    keys that match no pattern (ours among them) pass unchanged."""
    renamed = dict(state_dict)
    for pattern, replacement in LAYOUTS.get(pooling, Layout()).keys:
        renamed = {re.sub(pattern, replacement, key): value for key, value in renamed.items()}
    return renamed
