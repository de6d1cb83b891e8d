"""DeepLabV3+ (Chen et al., ECCV 2018) on the zoo's ResNet-18/34/50 with any pooling.

Encoder: the zoo's classification ResNet with the pooling at its sites (`models/resnet.py`, `models/sites.py`:
the stem max-pool, the residual and shortcut convs of layer2.0, layer3.0, layer4.0; the stem conv keeps its
stride), brought to output stride 16: layer4's pools become `nn.Identity` (its strided convs, for max, stride 1)
and the 3x3 convs of its later blocks dilate by 2 (torchvision's `replace_stride_with_dilation=[False, False,
True]`, carried over to BasicBlock); avgpool and fc become `nn.Identity`. Module names stay the classification
model's, so its checkpoints load into `backbone` (`load_encoder`).

Head: torchvision's ASPP on layer4 (256 channels: 1x1 conv, 3x3 convs at rates 6, 12, 18, image pooling;
1x1 projection, dropout 0.5); the low-level feature is layer1's output (stride 4) projected to 48 channels;
the ASPP output is up-sampled from stride 16 to 4, concatenated with it, and two 3x3 conv-BN-ReLU (256) and a
1x1 classifier follow. The logits are up-sampled bilinearly by 4 to the (padded) input and cropped.

Up-sampling from stride 16 to 4:
- every pooling but lift: one bilinear interpolation (`align_corners=False`) to layer1's size;
- lift: two LiftUpPool2d steps, each sharing P and U with a LiftDownPool2d of the encoder and fed with that
  layer's stored LH, HL, HH and the decoder feature as LL:
    16 -> 8  by the pool of layer3.0's residual branch (in front of `layer3.0.conv2` in ResNet-18/34,
             `layer3.0.conv3` in ResNet-50; 256 channels), LL = the ASPP output (256 channels);
    8 -> 4   by the pool of layer2.0's residual branch (in front of `layer2.0.conv2` / `layer2.0.conv3`;
             128 channels), LL = a 1x1 conv-BN-ReLU 256 -> 128 of the stride-8 feature.
  The decoder's first 3x3 conv then sees 128 + 48 channels (bilinear: 256 + 48). The shortcut pools and the
  stem pool feed no up-sampling, and the final x4 to the input is bilinear in every variant (the logits have
  the classes' channels, and the strided stem conv keeps no sub-bands). With `sites="stem"` layer2/layer3 keep
  their strided convs, so the decoder is bilinear.
Inputs of any size are zero-padded at the bottom and right to a multiple of 16 (at least 64) and the logits
cropped back (`segnet.pad_input`).
"""

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.segmentation.deeplabv3 import ASPP

from robustbench_lift.errors import UsageError
from robustbench_lift.models import resnet
from robustbench_lift.models.segnet import pad_input
from robustbench_lift.models.sites import Pooling, Site, apply_pooling
from robustbench_lift.pooling import LiftDownPool2d, LiftSubbands2d, LiftUpPool2d

OUTPUT_STRIDE = 16
ASPP_RATES = (6, 12, 18)
"""Atrous rates of ASPP at output stride 16 (DeepLabV3, Chen et al. 2017)."""
ASPP_CHANNELS, LOW_LEVEL_CHANNELS = 256, 48
LIFT_UP_STAGES = ("layer3", "layer2")
"""Whose first block's residual-branch pool up-samples 16 -> 8 and 8 -> 4 (module doc)."""


class BandKeepingLiftDownPool2d(LiftDownPool2d):
    """A `LiftDownPool2d` that keeps the sub-bands of its last forward until `take()`: it sits inside a ResNet
    block whose forward the decoder cannot reach. Same parameters and state-dict keys as `LiftDownPool2d`."""

    kept: LiftSubbands2d | None = None

    def forward(self, x: Tensor) -> Tensor:
        self.kept = self.decompose(x)
        return sum(getattr(self.kept, name.lower()) for name in self.subbands)

    def take(self) -> LiftSubbands2d:
        """The kept sub-bands, forgotten here so no tensor outlives the forward pass."""
        kept, self.kept = self.kept, None
        return kept


def _conv_bn_relu(inputs: int, outputs: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, kernel_size, padding=kernel_size // 2, bias=False),
                         nn.BatchNorm2d(outputs), nn.ReLU(inplace=True))


def _out_channels(stage: nn.Module) -> int:
    """Output channels of a ResNet stage: those of its last block's last BatchNorm (bn2, or bn3 in Bottleneck)."""
    return [m for m in stage[-1].modules() if isinstance(m, nn.BatchNorm2d)][-1].num_features


def dilate_layer4(backbone: nn.Module, placed: list[tuple[str, Site]]) -> None:
    """Output stride 16: layer4's pools (of the `placed` ones) become `nn.Identity`, its strided convs run at
    stride 1, and the 3x3 convs of its later blocks dilate by 2."""
    for path, _ in placed:
        if path.startswith("layer4.") and not isinstance(backbone.get_submodule(path), nn.Conv2d):
            parent, _, key = path.rpartition(".")
            setattr(backbone.get_submodule(parent), key, nn.Identity())
    for index, block in enumerate(backbone.layer4):
        for conv in block.modules():
            if isinstance(conv, nn.Conv2d) and conv.stride == (2, 2):
                conv.stride = (1, 1)
            elif isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3) and index > 0:
                conv.dilation, conv.padding = (2, 2), (2, 2)


class DeepLabV3Plus(nn.Module):
    """DeepLabV3+ over a dilated, pooled ResNet: `(N, 3, H, W)` -> logits `(N, num_classes, H, W)`, any H, W.

    `lift_paths`: dotted names (in `backbone`) of the two `BandKeepingLiftDownPool2d` that feed the LiftUpPool2d
    steps 16 -> 8 and 8 -> 4, or None for bilinear up-sampling (module doc).
    """

    def __init__(self, backbone: nn.Module, num_classes: int, lift_paths: tuple[str, str] | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.aspp = ASPP(_out_channels(backbone.layer4), ASPP_RATES, ASPP_CHANNELS)
        self.low_level = _conv_bn_relu(_out_channels(backbone.layer1), LOW_LEVEL_CHANNELS, 1)
        self.lift_paths = lift_paths
        up_channels = ASPP_CHANNELS
        if lift_paths is not None:
            pool16, pool8 = (backbone.get_submodule(path) for path in lift_paths)
            self.up16, self.up8 = LiftUpPool2d(pool16), LiftUpPool2d(pool8)
            up_channels = self.up8.predictor.pointwise.numel()
            self.narrow = _conv_bn_relu(self.up16.predictor.pointwise.numel(), up_channels, 1)
        self.decoder = nn.Sequential(_conv_bn_relu(up_channels + LOW_LEVEL_CHANNELS, ASPP_CHANNELS, 3),
                                     _conv_bn_relu(ASPP_CHANNELS, ASPP_CHANNELS, 3))
        self.classifier = nn.Conv2d(ASPP_CHANNELS, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        x = pad_input(x, OUTPUT_STRIDE)
        net = self.backbone
        low = net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(x)))))
        y = self.aspp(net.layer4(net.layer3(net.layer2(low))))
        if self.lift_paths is None:
            y = F.interpolate(y, size=low.shape[-2:], mode="bilinear", align_corners=False)
        else:
            kept16, kept8 = (net.get_submodule(path).take() for path in self.lift_paths)
            y = self.up8(kept8, ll=self.narrow(self.up16(kept16, ll=y)))
        y = self.classifier(self.decoder(torch.cat([y, self.low_level(low)], dim=1)))
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)[..., :height, :width]

    def load_encoder(self, state_dict: Mapping[str, Tensor]) -> None:
        """Load a classification ResNet's state dict of the same pooling (torchvision's for `-max`, a zoo
        checkpoint of `<arch>-<pool>` for the others) into `backbone`. Entries of the modules DeepLab removed
        (now `nn.Identity`: fc, layer4's pools) are ignored; every other must match."""
        removed = tuple(f"{name}." for name, m in self.backbone.named_modules() if isinstance(m, nn.Identity))
        state = {k: v for k, v in state_dict.items() if not k.startswith(removed)}
        missing, unexpected = self.backbone.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise UsageError(f"the state dict does not fit the DeepLabV3+ backbone: missing {missing[:8]}, "
                             f"unexpected {unexpected[:8]}; expected a ResNet of the same depth and pooling")


def _keep_bands(backbone: nn.Module, path: str) -> None:
    """Swap the LiftDownPool2d at `path` for a band-keeping one with the same options and parameters."""
    pool = backbone.get_submodule(path)
    keeper = BandKeepingLiftDownPool2d(pool.predictor.pointwise.numel(), pool.predictor.kernel_size, pool.subbands)
    keeper.load_state_dict(pool.state_dict())
    parent, _, key = path.rpartition(".")
    setattr(backbone.get_submodule(parent), key, keeper)


def deeplabv3plus(arch: str, pooling: Pooling, num_classes: int) -> tuple[nn.Module, list[tuple[str, Site]]]:
    """DeepLabV3+ on ResNet `arch` with `pooling`, and its `(pool name, site)` pairs (names in the model)."""
    backbone = resnet.build(arch, 1)
    backbone.avgpool, backbone.fc = nn.Identity(), nn.Identity()
    sites = resnet.sites(backbone)
    placed = [(s.path, s) for s in sites] if pooling.name == "max" else apply_pooling(backbone, sites, pooling)
    dilate_layer4(backbone, placed)
    placed = [(path, site) for path, site in placed if not path.startswith("layer4.")]
    feeding = [next((path for path, site in placed if site.path.startswith(f"{stage}.0.conv")), None)
               for stage in LIFT_UP_STAGES]  # the residual-branch pools (the shortcut's are `downsample.0`)
    lift_paths = None
    if all(path is not None and isinstance(backbone.get_submodule(path), LiftDownPool2d) for path in feeding):
        lift_paths = tuple(feeding)
        for path in lift_paths:
            _keep_bands(backbone, path)
    return DeepLabV3Plus(backbone, num_classes, lift_paths), [(f"backbone.{path}", site) for path, site in placed]
