"""Write the key names and shapes of the authors' ResNets' state dicts (`<model>.json`), transcribed by hand from
reading their constructors (module names, widths, where each pool sits), NOT from liftbench's build: the tests
load random tensors of these shapes, saved in the authors' file formats, strictly into our zoo models.

Sources (read with git, commits in docs/poolings.md; nothing copied or imported):
- LPS, raymondyeh07/learnable_polyphase_sampling `models/resnet_custom.py` (`ResNet18Custom`, `ResNet50Custom`,
  `ResNet101Custom`: `self.core` a torchvision ResNet; `maxpool = Sequential(pool without low-pass, cpad, MaxPool2d,
  pool)`; `conv2`/`conv3` of a strided block `Sequential(pool, conv)`; `downsample = Sequential(pool, conv, bn)`),
  `layers/polydown.py` (`PolyphaseInvariantDown2D`: `_antialias_layer`, `component_selection` = `LPS` with
  `get_logits` (no `get_logits` in a shortcut) and buffer `gumbel_tau`), `layers/lowpass_filter.py` (`filt`
  `(C, 1, k, k)`), `layers/lps_logit_layers.py` (`conv1`, `conv2` with bias), `configs/logits_channels/
  resnet18_imagenet.json` (hidden widths 8, 16, 32, 64; assumed for ResNet-50/101 too, see docs/poolings.md).
- PASA, MaureenZOU/Adaptive-anti-Aliasing `models_lpf/resnet_pasa_group_softmax.py` (`pool_only=True`:
  `maxpool = Sequential(MaxPool2d, PASA)`), `models_lpf/layers/pasa.py` (`conv` `(G k^2, C, k, k)`, `bn`).
- WaveCNet, LiQiufu/WaveCNet `models_dwt/resnet.py` (`pool_only=True`; `Downsample` holds no tensors).
- FLC / ASAP, GeJulia/flc_pooling `resnet_flc.py`, `resnet_asap.py` (`conv1 = Sequential(pool, conv 7x7)`,
  strided `conv3x3`/`conv1x1` = `Sequential(pool, conv)`; the pools hold no tensors).
- APS, achaman2/truly_shift_invariant_cnns `models/aps_models/resnet.py` (every 3x3/7x7 conv
  `Sequential(circular_pad, conv)`; `aps_down` an attribute of the block; `downsample = Sequential(ApsPool, conv,
  bn)`; `filter_size=1`: the pools hold no tensors).
Run `python tests/data/published/transcribe.py` to rewrite the files.
"""

import json
from pathlib import Path

DEPTHS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3)),
          101: ("bottleneck", (3, 4, 23, 3))}
LPS_HIDDEN = {"maxpool": 8, "layer2": 16, "layer3": 32, "layer4": 64}


def bn(prefix: str, channels: int) -> dict:
    return {f"{prefix}.{name}": [channels] for name in ("weight", "bias", "running_mean", "running_var")} | {
        f"{prefix}.num_batches_tracked": []}


def lps_pool(prefix: str, channels: int, blur: int, hidden: int | None) -> dict:
    keys = {f"{prefix}._antialias_layer.filt": [channels, 1, blur, blur]} if blur > 1 else {}
    keys[f"{prefix}.component_selection.gumbel_tau"] = []
    if hidden:
        logits = f"{prefix}.component_selection.get_logits"
        keys |= {f"{logits}.conv1.weight": [hidden, channels, 3, 3], f"{logits}.conv1.bias": [hidden],
                 f"{logits}.conv2.weight": [hidden, hidden, 3, 3], f"{logits}.conv2.bias": [hidden]}
    return keys


def pasa_pool(prefix: str, channels: int, k: int) -> dict:
    return {f"{prefix}.conv.weight": [8 * k * k, channels, k, k]} | bn(f"{prefix}.bn", 8 * k * k)


def resnet(depth: int, author: str, size: int = 1) -> dict:
    """Keys -> shapes of `author`'s ResNet-`depth` (`size`: LPS low-pass / PASA kernel)."""
    kind, counts = DEPTHS[depth]
    wrapped = {"aps": True, "flc": True}.get(author, False)  # the stem conv inside a Sequential at index 1
    keys = {f"conv1{'.1' if wrapped else ''}.weight": [64, 3, 7, 7]} | bn("bn1", 64)
    if author == "lps":
        keys |= lps_pool("maxpool.0", 64, 1, LPS_HIDDEN["maxpool"]) | lps_pool("maxpool.3", 64, size, 8)
    if author == "pasa":
        keys |= pasa_pool("maxpool.1", 64, size)
    inplanes, expansion = 64, 1 if kind == "basic" else 4
    for index, (planes, blocks) in enumerate(zip((64, 128, 256, 512), counts)):
        for block in range(blocks):
            prefix, strided = f"layer{index + 1}.{block}", index > 0 and block == 0
            shapes = ([(3, inplanes, planes), (3, planes, planes)] if kind == "basic" else
                      [(1, inplanes, planes), (3, planes, planes), (1, planes, planes * 4)])
            pooled = len(shapes) if author in ("lps", "pasa", "dwt") else len(shapes) - 1  # pool before this conv
            for number, (k, cin, cout) in enumerate(shapes, 1):
                inside = (strided and number == pooled and author != "aps") or (author == "aps" and k > 1)
                keys[f"{prefix}.conv{number}{'.1' if inside else ''}.weight"] = [cout, cin, k, k]
                keys |= bn(f"{prefix}.bn{number}", cout)
            if strided and author == "lps":
                keys |= lps_pool(f"{prefix}.conv{pooled}.0", planes, size, LPS_HIDDEN[f"layer{index + 1}"])
            if strided and author == "pasa":
                keys |= pasa_pool(f"{prefix}.conv{pooled}.0", planes, size)
            if block == 0 and (strided or inplanes != planes * expansion):
                out = planes * expansion
                first = 1 if strided and author in ("lps", "pasa", "dwt", "aps") else 0
                conv = f"{prefix}.downsample.{first}{'.1' if strided and author == 'flc' else ''}"
                keys[f"{conv}.weight"] = [out, inplanes, 1, 1]
                keys |= bn(f"{prefix}.downsample.{first + 1}", out)
                if strided and author == "lps":
                    keys |= lps_pool(f"{prefix}.downsample.0", inplanes, size, None)
                if strided and author == "pasa":
                    keys |= pasa_pool(f"{prefix}.downsample.0", inplanes, size)
            inplanes = planes * expansion
    return keys | {"fc.weight": [1000, 512 * expansion], "fc.bias": [1000]}


MODELS = {
    "resnet18-lps_circular": ("lps", 18, 1, "ResNet18_LPS_circular_basic.ckpt (Lightning, keys under core.)"),
    "resnet50-lps3": ("lps", 50, 3, "ResNet50_LPS_LPF3_zero_randomresized.ckpt (Lightning, keys under core.)"),
    "resnet101-lps3": ("lps", 101, 3, "ResNet101_LPS_LPF3_zero_randomresized.ckpt (Lightning, keys under core.)"),
    "resnet101-pasa3": ("pasa", 101, 3, "resnet101_k3_pasa_group8_softmax ({'state_dict'}, module. prefixes)"),
    "resnet101-pasa5": ("pasa", 101, 5, "resnet101_k5_pasa_group8_softmax ({'state_dict'}, module. prefixes)"),
    **{f"resnet{d}-dwt_haar": ("dwt", d, 1, "resnet_dwt ({'state_dict'}, module. prefixes)")
       for d in (18, 34, 50, 101)},
    **{f"resnet{d}-flc": ("flc", d, 1, "resnet_flc state dict (ASAP's has the same keys)") for d in (18, 50, 101)},
    "resnet18-aps": ("aps", 18, 1, "resnet18 of aps_models with filter_size=1 (no published file)"),
}

if __name__ == "__main__":
    folder = Path(__file__).parent
    for name, (author, depth, size, file) in MODELS.items():
        keys = resnet(depth, author, size)
        record = {"model": name, "authors_file": file, "how": "tests/data/published/transcribe.py", "keys": keys}
        (folder / f"{name}.json").write_text(json.dumps(record, indent=0) + "\n")
