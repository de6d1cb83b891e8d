"""VGG-11/13/16/19 with and without BN (and AlexNet, baseline only) as torchvision defines them, and their sites.

Every max-pool of `features` is a site. For `blur` it becomes antialiased-cnns' `MaxPool2d(2, stride=1)` plus
BlurPool spliced into `features` (later indices shift by one per site, exactly as `antialiased_cnns.vgg*`); any
other pooling replaces the max-pool one for one, so the conv indices stay torchvision's.
"""

import torchvision
from torch import nn

from robustbench_lift.models.sites import Site

PUBLISHED = {"vgg11": "VGG-11", "vgg11_bn": "VGG-11-BN", "vgg16": "VGG-16", "vgg19": "VGG-19", "vgg19_bn": "VGG-19-BN"}
"""VGGs in the zoo for max and blur only (their published weights; vgg13, vgg13_bn, vgg16_bn take every pooling):
arch -> title."""


def build(arch: str, num_classes: int) -> nn.Module:
    """torchvision's `arch` at its own random initialisation."""
    return torchvision.models.get_model(arch, weights=None, num_classes=num_classes)


def sites(model: nn.Module) -> list[Site]:
    """One site per max-pool of `model.features`, with the channels of the conv before it."""
    found, channels = [], 3
    for index, layer in enumerate(model.features):
        if isinstance(layer, nn.Conv2d):
            channels = layer.out_channels
        elif isinstance(layer, nn.MaxPool2d):
            found.append(Site(f"features.{index}", channels,
                              note=f"max-pool ({layer.kernel_size}x{layer.kernel_size}, stride {layer.stride})"))
    return found
