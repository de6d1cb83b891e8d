"""ResNet-18/34/50/101 as torchvision defines them, the larger ResNets, ResNeXts and wide ResNets that torchvision
and antialiased-cnns publish (`PUBLISHED`), and their down-sampling sites.

Sites (antialiased-cnns' `pool_only=True` placement, docs/liftpool.md): the stem max-pool; in each first
block of layer2..4 the stride-2 conv of the residual branch (BasicBlock `conv1`, Bottleneck `conv2`, torchvision
v1.5), whose stride moves to a pool in front of the branch's next conv (`conv2` / `conv3` becomes
`Sequential(pool, conv)`); and the stride-2 1x1 shortcut conv (`downsample` becomes `pool, conv, bn`). The stem
7x7 conv keeps its stride, as in antialiased-cnns. A `-blur` model has exactly the module tree and state-dict keys
of `antialiased_cnns.resnet*(filter_size=f)`; ResNeXt and wide ResNet are the same Bottleneck with grouped or
wider `conv2` (antialiased-cnns 0.3 `resnet.py`: same placement, `resnext50_32x4d`, `wide_resnet50_2`, ...).

`resnet10s` is not a torchvision architecture: torchvision's `ResNet` class with one `BasicBlock` per stage and
stage widths 16, 32, 64, 128 (0.31M parameters in its CIFAR form), the small backbone of the demo models.
"""

import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from robustbench_lift.models.sites import Site

PUBLISHED = {"resnet152": "ResNet-152", "wide_resnet50_2": "Wide ResNet-50-2", "wide_resnet101_2": "Wide ResNet-101-2",
             "resnext50_32x4d": "ResNeXt-50 32x4d", "resnext101_32x8d": "ResNeXt-101 32x8d"}
"""ResNets in the zoo for max and blur only (their published weights): arch -> title."""
NARROW_WIDTHS = {"resnet10s": (16, 32, 64, 128)}
"""Narrow ResNets: arch -> widths of the four stages (one BasicBlock each)."""


def build(arch: str, num_classes: int) -> nn.Module:
    """torchvision's `arch` (or the narrow `resnet10s`) at torchvision's random initialisation."""
    if arch in NARROW_WIDTHS:
        return _narrow_resnet(NARROW_WIDTHS[arch], num_classes)
    return torchvision.models.get_model(arch, weights=None, num_classes=num_classes)


def _narrow_resnet(widths: tuple[int, int, int, int], num_classes: int) -> ResNet:
    """torchvision's `ResNet` with one `BasicBlock` per stage of the given widths: the stem and stages are rebuilt
    with torchvision's own `_make_layer`, so module names, strides and shortcuts are those of `resnet18`."""
    model = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=num_classes)
    model.inplanes = widths[0]
    model.conv1 = nn.Conv2d(3, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
    model.bn1 = nn.BatchNorm2d(widths[0])
    for stage, width in enumerate(widths):
        setattr(model, f"layer{stage + 1}", model._make_layer(BasicBlock, width, 1, stride=1 if stage == 0 else 2))
    model.fc = nn.Linear(widths[-1], num_classes)
    for module in model.modules():  # torchvision ResNet's initialisation of the rebuilt layers
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return model


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
