"""ResNet-18/34/50 as torchvision defines them, and their down-sampling sites.

Sites (antialiased-cnns' `pool_only=True` placement, shared/LIFTPOOL.md): the stem max-pool; in each first
block of layer2..4 the stride-2 conv of the residual branch (BasicBlock `conv1`, Bottleneck `conv2`, torchvision
v1.5), whose stride moves to a pool in front of the branch's next conv (`conv2` / `conv3` becomes
`Sequential(pool, conv)`); and the stride-2 1x1 shortcut conv (`downsample` becomes `pool, conv, bn`). The stem
7x7 conv keeps its stride, as in antialiased-cnns. A `-blur` model has exactly the module tree and state-dict keys
of `antialiased_cnns.resnet*(filter_size=f)`.
"""

import torchvision
from torch import nn

from robustbench_lift.models.sites import Site

ARCHS = ("resnet18", "resnet34", "resnet50")


def build(arch: str, num_classes: int) -> nn.Module:
    """torchvision's `arch` at its own random initialisation."""
    return torchvision.models.get_model(arch, weights=None, num_classes=num_classes)


def sites(model: nn.Module) -> list[Site]:
    """The down-sampling sites of a torchvision ResNet (or its CIFAR form, which has no stem max-pool)."""
    found = []
    if isinstance(model.maxpool, nn.MaxPool2d):
        found.append(Site("maxpool", model.conv1.out_channels, stem=True, note="stem max-pool (3x3, stride 2)"))
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        for index, block in enumerate(getattr(model, stage)):
            prefix = f"{stage}.{index}"
            convs = [(name, conv) for name, conv in block.named_children() if isinstance(conv, nn.Conv2d)]
            for (name, conv), (after, following) in zip(convs, convs[1:]):
                if conv.stride == (2, 2):
                    found.append(Site(f"{prefix}.{name}", following.in_channels, f"{prefix}.{after}",
                                      note=f"{name} (3x3, stride 2) of the residual branch"))
            shortcut = block.downsample[0] if block.downsample is not None else None
            if shortcut is not None and shortcut.stride == (2, 2):
                found.append(Site(f"{prefix}.downsample.0", shortcut.in_channels, f"{prefix}.downsample.0",
                                  note="shortcut conv (1x1, stride 2)"))
    return found
