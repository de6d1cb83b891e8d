"""MobileNetV2 as torchvision defines it, and its down-sampling sites.

Sites: every stride-2 3x3 depthwise conv (blocks 2, 4, 7 and 14 of `features`). It runs at stride 1 and the pool
is spliced into the block's `conv` Sequential after the depthwise conv's BN + ReLU6, before the 1x1 projection,
as in `antialiased_cnns.mobilenet_v2`. The stem conv keeps its stride (antialiased-cnns does the same).

antialiased-cnns names the classifier's Linear `classifier.0` (it has no Dropout); torchvision's is
`classifier.1` after `Dropout(0.2)`. The models keep torchvision's head, so `-max` and the pooled variants differ
only in pooling, and a load hook renames `classifier.0.*` to `classifier.1.*` so antialiased-cnns state dicts
load strictly. In eval mode the two heads compute the same function.
"""

from typing import Any

import torchvision
from torch import nn
from torchvision.ops.misc import Conv2dNormActivation

from robustbench_lift.models.sites import Site

ARCHS = ("mobilenet_v2",)


def _accept_antialiased_head(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    for suffix in ("weight", "bias"):
        theirs, ours = f"{prefix}classifier.0.{suffix}", f"{prefix}classifier.1.{suffix}"
        if theirs in state_dict and ours not in state_dict:
            state_dict[ours] = state_dict.pop(theirs)


def build(arch: str, num_classes: int) -> nn.Module:
    """torchvision's MobileNetV2 at its own random initialisation, accepting antialiased-cnns head names."""
    model = torchvision.models.get_model(arch, weights=None, num_classes=num_classes)
    model.register_load_state_dict_pre_hook(_accept_antialiased_head)
    return model


def sites(model: nn.Module) -> list[Site]:
    """The stride-2 depthwise convs of the inverted-residual blocks, each with the module that follows it."""
    found = []
    for index, block in enumerate(model.features):
        layers = getattr(block, "conv", None)
        for position, layer in enumerate(layers if isinstance(layers, nn.Sequential) else ()):
            if isinstance(layer, Conv2dNormActivation) and layer[0].stride == (2, 2):
                found.append(Site(f"features.{index}.conv.{position}.0", layer[0].out_channels,
                                  f"features.{index}.conv.{position + 1}",
                                  note="depthwise conv (3x3, stride 2)"))
    return found
