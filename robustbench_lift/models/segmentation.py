"""The segmentation entries of the zoo: encoder-decoders that place each pool together with its up-sampler.

`<arch>-<pool>` names as for classification (`segnet_vgg16_bn-lift`, `deeplabv3plus_resnet50-blur5`,
`demo_seg-max`); the zoo (`models/registry.py`) parses them and calls `SegArch.build(pooling, num_classes)`,
which returns the model and its `(pool name, site)` pairs. Models map `(N, 3, H, W)` to logits
`(N, classes, H, W)` for any H, W. Only the demo models ship weights (`DEMO_SEG_MANIFEST`); the others build at
their (seeded) random initialisation, and their encoders load ImageNet classification weights with
`model.load_encoder`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from torch import nn

from robustbench_lift.data.demo import MEAN, STD
from robustbench_lift.data.segmentation import VOC_CLASSES
from robustbench_lift.models import deeplab, segnet
from robustbench_lift.models.demo import DEMO_DIR, DEMO_TAG, shipped_demo_weights
from robustbench_lift.models.preprocess import IMAGENET_MEAN, IMAGENET_STD
from robustbench_lift.models.sites import Pooling, Site
from robustbench_lift.registry import Registry

SEG_INPUT = 512
"""Side of the square input the summary's FLOPs are counted at (PASCAL VOC training crops are 512 or 513)."""
DEMO_SEG_CLASSES = 11
"""The demo data set's 10 shape classes and background (`robustbench_lift.data.demo.CLASSES`)."""
DEMO_SEG_MANIFEST = DEMO_DIR / "manifest_seg.json"
"""The shipped `demo_seg-<pool>` checkpoints (file, sha256, test pixel accuracy, command), written by
`scripts/ship_demo_seg.py`."""


@dataclass(frozen=True)
class SegArch:
    """A segmentation architecture: title, builder `(pooling, num_classes) -> (model, placed)`, how its pools
    pair with up-sampling (for `describe_model`), default input side and classes, and whether it is the demo's
    (demo normalisation instead of ImageNet's)."""

    title: str
    build: Callable[[Pooling, int], tuple[nn.Module, list[tuple[str, Site]]]]
    pairing: str
    input_size: int = SEG_INPUT
    num_classes: int = VOC_CLASSES
    demo: bool = False


_SEGNET = ("SegNet: each max-pool site's pool paired with its up-sampler (max: MaxUnpool2d at the indices; lift: "
           "LiftUpPool2d with the stored LH/HL/HH; haar: haar_reconstruct; aps, lps: into the kept polyphase "
           "component; others: bilinear)")
_DEEPLAB = ("DeepLabV3+ at output stride 16: pools at the ResNet's sites (layer4 dilated); decoder 16 -> 4 by "
            "LiftUpPool2d of layer3.0's and layer2.0's residual pools for lift, else bilinear")

SEGMENTATION: Registry[SegArch] = Registry("segmentation model")
SEGMENTATION.register("segnet_vgg16_bn", SegArch("SegNet, VGG-16-BN encoder", segnet.segnet_vgg16_bn, _SEGNET))
for _arch in ("resnet18", "resnet34", "resnet50"):
    SEGMENTATION.register(f"deeplabv3plus_{_arch}", SegArch(f"DeepLabV3+, ResNet-{_arch.removeprefix('resnet')}",
                                                            partial(deeplab.deeplabv3plus, _arch), _DEEPLAB))
SEGMENTATION.register("demo_seg", SegArch("SegNet-S, 3 stages of 16/32/64 (demo)", segnet.demo_segnet, _SEGNET,
                                          input_size=32, num_classes=DEMO_SEG_CLASSES, demo=True))


def segmentation_fields(arch: str, pool: str, default_options: bool) -> dict[str, Any]:
    """The `ModelSpec` fields of segmentation model `arch`-`pool`: input size, classes, input normalisation
    (ImageNet's for the ImageNet-initialised encoders, the demo data's for demo_seg), the task and, for a demo
    model with default options, the shipped weights of `DEMO_SEG_MANIFEST`."""
    seg = SEGMENTATION.get(arch)
    mean, std = (MEAN, STD) if seg.demo else (IMAGENET_MEAN, IMAGENET_STD)
    fields = {"input_size": seg.input_size, "num_classes": seg.num_classes, "mean": mean, "std": std,
              "task": "segmentation"}
    shipped = shipped_demo_weights(DEMO_SEG_MANIFEST).get(pool) if seg.demo and default_options else None
    if shipped is not None:
        fields.update(weights={DEMO_TAG: str(shipped.path)}, default_weights=DEMO_TAG,
                      weights_sha256={DEMO_TAG: shipped.sha256})
    return fields
