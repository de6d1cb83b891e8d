"""CIFAR forms of the backbones: 32x32 input, 3x3 stem, no stem pooling (`cifar_resnet18-lift`, ...).

The LiftPool paper runs its ablations on CIFAR-100 and the project's demo models are CIFAR-sized. Each form
is the torchvision model adapted the way the common CIFAR ports do (kuangliu/pytorch-cifar), then pooled at its
remaining sites like the ImageNet form:
- ResNet: stem conv 3x3 stride 1 (no bias), `maxpool` is `nn.Identity`; stages at 32, 16, 8, 4 pixels.
- VGG: the last max-pool is dropped (four down-samplings, 32 -> 2, so every pool sees at least 4x4 pixels), then
  global average pooling and one `nn.Linear(512, num_classes)`.
- MobileNetV2: the stem conv and the first stride-2 block (24 channels) run at stride 1, as in kuangliu's port;
  three down-samplings remain (32 -> 4).
New layers get torchvision's initialisation for their kind (Kaiming-normal fan-out convs, N(0, 0.01) linear).
"""

from torch import nn

from robustbench_lift.models import mobilenet


def cifar_resnet(model: nn.Module, num_classes: int) -> nn.Module:
    """3x3 stride-1 stem and no stem max-pool; `num_classes` is already set by the builder."""
    model.conv1 = nn.Conv2d(3, model.conv1.out_channels, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()
    return model


def cifar_vgg(model: nn.Module, num_classes: int) -> nn.Module:
    """Drop the fifth max-pool; global average pooling and a single linear classifier."""
    del model.features[-1]
    channels = [layer.out_channels for layer in model.features if isinstance(layer, nn.Conv2d)][-1]
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    model.classifier = nn.Linear(channels, num_classes)
    nn.init.normal_(model.classifier.weight, 0, 0.01)
    nn.init.zeros_(model.classifier.bias)
    return model


def cifar_mobilenet(model: nn.Module, num_classes: int) -> nn.Module:
    """Stride 1 in the stem conv and in the first stride-2 depthwise conv."""
    model.features[0][0].stride = (1, 1)
    model.get_submodule(mobilenet.sites(model)[0].path).stride = (1, 1)
    return model
