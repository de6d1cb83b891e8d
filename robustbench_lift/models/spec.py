"""Zoo specifications: the backbone registry and `ModelSpec`, what a zoo name builds.

A backbone is a torchvision architecture with its pooling-site finder and CIFAR adaptation, registered in
`BACKBONES` (a `Registry`; metadata `title`, `cifar`, `baseline_only`, `cifar_only`, `published_only`). Nothing
is built at import: parameter counts and FLOPs are computed on demand on the meta device.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from robustbench_lift.models import densenet, mobilenet, resnet, vgg
from robustbench_lift.models.cifar import cifar_mobilenet, cifar_resnet, cifar_vgg
from robustbench_lift.models.demo import DEMO_PREFIX
from robustbench_lift.models.preprocess import IMAGENET_MEAN, IMAGENET_STD
from robustbench_lift.models.published import place
from robustbench_lift.models.releases import RELEASE_TAG
from robustbench_lift.models.segmentation import SEGMENTATION
from robustbench_lift.models.sites import Pooling, Site
from robustbench_lift.registry import Registry

IMAGENET_INPUT, CIFAR_INPUT = 224, 32
CIFAR_CLASSES = 100
"""Default classes of a CIFAR form: CIFAR-100, the data set of the LiftPool paper's ablations."""
CIFAR_PREFIX = "cifar_"
PUBLISHED_POOLS = ("max", "blur")
"""The poolings a `published_only` backbone takes: those with published ImageNet weights."""


@dataclass(frozen=True)
class Backbone:
    """A torchvision architecture: builder, site finder, CIFAR adaptation (None: no CIFAR form); `published_only`:
    only the `PUBLISHED_POOLS` (max: torchvision's weights, blur: antialiased-cnns')."""

    title: str
    build: Callable[[str, int], nn.Module]
    sites: Callable[[nn.Module], list[Site]]
    cifar: Callable[[nn.Module, int], nn.Module] | None = None
    baseline_only: bool = False
    cifar_only: bool = False
    published_only: bool = False


BACKBONES: Registry[Backbone] = Registry("backbone")
for _arch, _backbone in {
    "resnet18": Backbone("ResNet-18", resnet.build, resnet.sites, cifar_resnet),
    "resnet34": Backbone("ResNet-34", resnet.build, resnet.sites, cifar_resnet),
    "resnet50": Backbone("ResNet-50", resnet.build, resnet.sites, cifar_resnet),
    "resnet101": Backbone("ResNet-101", resnet.build, resnet.sites, cifar_resnet),
    "vgg13": Backbone("VGG-13", vgg.build, vgg.sites, cifar_vgg),
    "vgg13_bn": Backbone("VGG-13-BN", vgg.build, vgg.sites, cifar_vgg),
    "vgg16_bn": Backbone("VGG-16-BN", vgg.build, vgg.sites, cifar_vgg),
    "mobilenet_v2": Backbone("MobileNetV2", mobilenet.build, mobilenet.sites, cifar_mobilenet),
    "alexnet": Backbone("AlexNet", vgg.build, vgg.sites, baseline_only=True),
    "resnet10s": Backbone("ResNet-10-S", resnet.build, resnet.sites, cifar_resnet, cifar_only=True),
}.items():
    BACKBONES.register(_arch, _backbone)
for _module in (resnet, vgg, densenet):  # every other architecture with published max and blur weights
    for _arch, _title in _module.PUBLISHED.items():
        BACKBONES.register(_arch, Backbone(_title, _module.build, _module.sites, published_only=True))


@dataclass(frozen=True)
class ModelSpec:
    """What a zoo name builds.

    Attributes:
        name: canonical name, e.g. `resnet50-lift`, `resnet50-blur5`, `cifar_resnet18-max`.
        backbone: `resnet50` or `cifar_resnet50`; `arch` is the torchvision architecture.
        pooling: pooling name; `pool_kwargs` its options (suffix and keyword arguments, `sites` included).
        input_size: side of the square input the model is meant for (224, CIFAR forms 32).
        num_classes: default number of classes (1000, CIFAR forms 100).
        weights: known pretrained weights, tag -> URL (torchvision for `-max`, antialiased-cnns for `-blur`) or
            path (the shipped demo models); `default_weights` is the tag `weights="DEFAULT"` picks;
            `weights_sha256` the sha256 a tag's file must have, where known in full.
        mean, std: input normalisation of the known weights (None for CIFAR forms: set by whoever trains them).
        task: "classification" (logits `(N, classes)`) or "segmentation" (logits `(N, classes, H, W)`).
    """

    name: str
    backbone: str
    arch: str
    pooling: str
    pool_kwargs: Mapping[str, Any] = field(default_factory=dict)
    input_size: int = IMAGENET_INPUT
    num_classes: int = 1000
    weights: Mapping[str, str] = field(default_factory=dict)
    default_weights: str | None = None
    weights_sha256: Mapping[str, str] = field(default_factory=dict)
    mean: tuple[float, float, float] | None = IMAGENET_MEAN
    std: tuple[float, float, float] | None = IMAGENET_STD
    task: str = "classification"

    @property
    def cifar(self) -> bool:
        return self.backbone.startswith(CIFAR_PREFIX)

    @property
    def weights_source(self) -> str:
        """Where pretrained weights for this spec come from, in words."""
        if not self.weights:
            return "none published (train it, or pass a checkpoint)"
        origin = "shipped with liftbench" if self.name.split("-")[0] in (DEMO_PREFIX, "demo_seg") else \
            "torchvision" if self.pooling == "max" else \
            "the authors, downloaded by hand (docs/models.md)" if RELEASE_TAG in self.weights else "antialiased-cnns"
        return f"{origin}: {', '.join(self.weights)} (DEFAULT = {self.default_weights})"

    def build(self, num_classes: int | None = None) -> tuple[nn.Module, list[tuple[str, Site]]]:
        """The model at torchvision's random initialisation (global RNG) and its `(pool name, site)` pairs."""
        options = dict(self.pool_kwargs)
        pooling = Pooling(self.pooling, options, options.pop("sites", "all"))
        if self.task == "segmentation":  # encoder-decoders place each pool with its up-sampler themselves
            return SEGMENTATION.get(self.arch).build(pooling, num_classes or self.num_classes)
        backbone = BACKBONES.get(self.arch)
        model = backbone.build(self.arch, num_classes or self.num_classes)
        if self.cifar:
            model = backbone.cifar(model, num_classes or self.num_classes)
        sites = backbone.sites(model)
        if self.pooling == "max":
            return model, [(site.path, site) for site in sites]
        return model, place(model, sites, pooling)

    def num_params(self, num_classes: int | None = None) -> int:
        """Number of parameters (built on the meta device: no memory, no initialisation)."""
        with torch.device("meta"):
            model, _ = self.build(num_classes)
        return sum(p.numel() for p in model.parameters())

    def summary(self) -> dict[str, Any]:
        """Name, backbone, pooling, input size, parameters, GFLOPs, number of pooling sites and known weight tags.

        GFLOPs: one forward pass at `input_size` as counted by `torch.utils.flop_counter.FlopCounterMode`, 2 FLOPs
        per multiply-accumulate of convolutions and matrix products (pooling, normalisation and element-wise ops
        are not counted; LiftPool's depthwise convs are). Built and run on the meta device: no memory, no compute.
        """
        with torch.device("meta"):
            model, placed = self.build()
            with FlopCounterMode(display=False) as counter:
                model.eval()(torch.empty(1, 3, self.input_size, self.input_size))
        return {"name": self.name, "backbone": self.backbone, "pooling": self.pooling, "input_size": self.input_size,
                "params": sum(p.numel() for p in model.parameters()), "gflops": counter.get_total_flops() / 1e9,
                "sites": len(placed), "weights": list(self.weights)}
