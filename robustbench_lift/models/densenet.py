"""DenseNet-121/161/169/201 as torchvision defines them, and their down-sampling sites.

Sites, as antialiased-cnns 0.3 places BlurPool (`densenet.py`, `pool_only=True`): the stem max-pool
`features.pool0` (3x3, stride 2, padding 1), which for blur becomes `max0` = `MaxPool2d(3, stride=1, padding=1)`
then `pool0` = BlurPool, both in `features`; and the 2x2 average pool `pool` of each of the three transitions,
which the pool replaces alone (antialiased-cnns: BlurPool with no max in front). The stem 7x7 conv keeps its
stride. So a `-blur` model has antialiased-cnns' module names and state-dict keys, and every other pooling takes
the same four sites.

torchvision's and antialiased-cnns' DenseNet files name `denselayer1.norm1.weight` `denselayer1.norm.1.weight`
(module names from before `.` was forbidden in them); both projects rename the keys when loading, and the model
built here does the same in a load hook (`OLD_KEY`), so the published files load strictly as they are.
"""

import re
from collections.abc import Mapping
from typing import Any

import torchvision
from torch import Tensor, nn

from robustbench_lift.models.sites import Site

PUBLISHED = {"densenet121": "DenseNet-121", "densenet161": "DenseNet-161", "densenet169": "DenseNet-169",
             "densenet201": "DenseNet-201"}
"""DenseNets in the zoo for max and blur (their published weights): arch -> title."""
OLD_KEY = re.compile(r"(denselayer\d+\.(?:norm|relu|conv))\.([12])\.")
"""An old DenseNet key's `norm.1.` part, rewritten `norm1.` (torchvision `densenet.py`, `_load_state_dict`)."""


def rename_old_keys(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """`state_dict` with old DenseNet keys (`denselayer1.norm.1.weight`) renamed (`denselayer1.norm1.weight`)."""
    return {OLD_KEY.sub(r"\1\2.", key): value for key, value in state_dict.items()}


def _rename_hook(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """Load pre-hook: rename old keys in place, before `load_state_dict` compares them."""
    for key in [key for key in state_dict if OLD_KEY.search(key)]:
        state_dict[OLD_KEY.sub(r"\1\2.", key)] = state_dict.pop(key)


def build(arch: str, num_classes: int) -> nn.Module:
    """torchvision's `arch` at its own random initialisation, loading old-style keys too."""
    model = torchvision.models.get_model(arch, weights=None, num_classes=num_classes)
    model.register_load_state_dict_pre_hook(_rename_hook)
    return model


def sites(model: nn.Module) -> list[Site]:
    """The stem max-pool and the three transitions' average pools (module doc)."""
    features = model.features
    found = [Site("features.pool0", features.conv0.out_channels, stem=True, max_kernel=3, names=("max0", "pool0"),
                  note="stem max-pool (3x3, stride 2)")]
    for name, block in features.named_children():
        if name.startswith("transition"):
            found.append(Site(f"features.{name}.pool", block.conv.out_channels, max_kernel=None,
                              note=f"{name} average pool (2x2, stride 2)"))
    return found
