"""SegNet (Badrinarayanan, Kendall & Cipolla, TPAMI 2017) with any pooling, each down pool paired with its up-sampler.

Encoder: torchvision's VGG `features` layout (conv 3x3 - BN - ReLU per layer, a pool closing each stage) with the
pools at torchvision's indices, so `vgg16_bn`'s ImageNet `features.*` weights load into `features` whatever the
pooling (`SegNet.load_encoder`). Decoder: SegNet's mirror of the encoder, conv for conv: per stage (deepest
first) the up-sampling partner of the stage's pool, then its convs reversed, the last narrowing to the stage's
input width; the first stage's last conv is the classifier (3x3, logits, no BN or ReLU).

Down pool -> up-sampling partner (`pool_pair`):
- max: `MaxPool2d(2, 2, return_indices=True)` -> `MaxUnpool2d` at the stored indices (SegNet);
- lift: `LiftDownPool2d.decompose` (the pooled output is the sum of the chosen sub-bands) -> `LiftUpPool2d`
  sharing that layer's P and U, fed with the stored LH, HL, HH and the decoder feature as LL (LiftPool,
  Zhao & Snoek, ICLR 2021: "all down-pooling and up-pooling layers" of SegNet replaced);
- haar: `haar_decompose` (LL out, as `HaarPool2d`) -> `haar_reconstruct`, likewise with the stored details;
- aps, lps: the polyphase component the pool kept, per sample -> `PolyphasePool2d.unpool` into that component,
  zeros elsewhere (APS-U, Chaman & Dokmanic 2021; LPS's un-pooling, Rojas-Gomez et al. 2022: in training the
  Gumbel-softmax weights of the down layer): with circular padding the whole SegNet is then exactly equivariant
  to circular shifts of an input whose sides are multiples of the network stride;
- avg, skip, blur (antialiased-cnns' dense 2x2 max then BlurPool, as at every max-pool site of the zoo), and the
  other poolings: bilinear interpolation (`align_corners=False`) to the size the pool saw.
Inputs of any size are zero-padded at the bottom and right to a multiple of the network stride (2^stages; zero
is the mean colour of normalised input) and the logits cropped back, so every pool sees even sizes (`pad_input`).
"""

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from robustbench_lift.errors import UsageError
from robustbench_lift.models.sites import Pooling, Site
from robustbench_lift.pooling import HaarPool2d, LiftDownPool2d, LiftUpPool2d, haar_decompose, haar_reconstruct
from robustbench_lift.pooling.polyphase import PolyphasePool2d

VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
"""Conv widths per stage of VGG-16 (torchvision `cfgs["D"]`)."""
DEMO_STAGES = ((16, 16), (32, 32), (64, 64))
"""The demo SegNet: three narrow stages (stride 8, 32 px input -> 4 px at the bottleneck)."""


def pad_input(x: Tensor, stride: int) -> Tensor:
    """Zero-pad `x` `(N, C, H, W)` at the bottom and right to multiples of `stride`, and to at least 4 strides:
    the deepest pool then sees >= 8 pixels, which every pooling needs (BlurPool reflects up to 3 beyond a dense
    2x2 max)."""
    height, width = x.shape[-2:]
    return F.pad(x, (0, max(4 * stride, width + -width % stride) - width,
                     0, max(4 * stride, height + -height % stride) - height))


def _sum_bands(bands: Any, names: Sequence[str]) -> Tensor:
    """The chosen sub-bands summed in order into one new tensor (`sum()` would allocate one per band, starting
    from `0 + band`); in place is safe under autograd, as addition's backward keeps neither operand."""
    first, *rest = (getattr(bands, name.lower()) for name in names)
    if not rest:
        return first
    total = first + rest[0]
    for band in rest[1:]:
        total.add_(band)
    return total


class Upsampler(nn.Module):
    """Up-sampling partner of one down pool: bilinear to the pool's input size (avg, skip, blur, ...).

    `down(pool, x)` runs the pool and returns `(pooled, kept)`; `forward(y, kept)` up-samples a decoder feature
    `y` shaped like `pooled` to `x`'s size. Subclasses keep more (indices, detail sub-bands).
    """

    def down(self, pool: nn.Module, x: Tensor) -> tuple[Tensor, Any]:
        return pool(x), x.shape[-2:]

    def forward(self, y: Tensor, kept: Any) -> Tensor:
        return F.interpolate(y, size=kept, mode="bilinear", align_corners=False)


class MaxUnpool(Upsampler):
    """SegNet's partner of `MaxPool2d(2, 2, return_indices=True)`: `MaxUnpool2d` at the stored indices."""

    def __init__(self) -> None:
        super().__init__()
        self.unpool = nn.MaxUnpool2d(2, 2)

    def down(self, pool: nn.Module, x: Tensor) -> tuple[Tensor, Any]:
        pooled, indices = pool(x)
        return pooled, (indices, x.shape[-2:])

    def forward(self, y: Tensor, kept: Any) -> Tensor:
        indices, size = kept
        return self.unpool(y, indices, output_size=size)


class LiftUnpool(Upsampler):
    """Partner of a `LiftDownPool2d`: its `LiftUpPool2d` (same P and U) with the decoder feature as LL."""

    def __init__(self, pool: LiftDownPool2d) -> None:
        super().__init__()
        self.up = LiftUpPool2d(pool)

    def down(self, pool: nn.Module, x: Tensor) -> tuple[Tensor, Any]:
        bands = pool.decompose(x)
        return _sum_bands(bands, pool.subbands), bands

    def forward(self, y: Tensor, kept: Any) -> Tensor:
        return self.up(kept, ll=y)


class HaarUnpool(Upsampler):
    """Partner of a `HaarPool2d`: the exact inverse `haar_reconstruct` with the decoder feature as LL."""

    def down(self, pool: nn.Module, x: Tensor) -> tuple[Tensor, Any]:
        bands = haar_decompose(x)
        return _sum_bands(bands, pool.subbands), bands

    def forward(self, y: Tensor, kept: Any) -> Tensor:
        return haar_reconstruct(kept._replace(ll=y))


class PolyphaseUnpool(Upsampler):
    """Partner of an APS or LPS pool: its `unpool` into the component it kept for each sample."""

    def down(self, pool: nn.Module, x: Tensor) -> tuple[Tensor, Any]:
        pooled = pool(x)
        return pooled, (pool, pool.last_choice, x.shape[-2:])

    def forward(self, y: Tensor, kept: Any) -> Tensor:
        pool, choice, size = kept
        return pool.unpool(y, choice, size)


def pool_pair(pooling: Pooling, channels: int) -> tuple[nn.Module, Upsampler]:
    """A down pool for a max-pool site of `channels` channels and its up-sampling partner (module doc)."""
    if pooling.name == "max":
        return nn.MaxPool2d(2, 2, return_indices=True), MaxUnpool()
    layers = pooling.at_max_site(channels)
    pool = layers[0] if len(layers) == 1 else nn.Sequential(*layers)
    if isinstance(pool, LiftDownPool2d):
        return pool, LiftUnpool(pool)
    if isinstance(pool, PolyphasePool2d):
        return pool, PolyphaseUnpool()
    return pool, HaarUnpool() if isinstance(pool, HaarPool2d) else Upsampler()


def _conv_bn_relu(inputs: int, outputs: int) -> list[nn.Module]:
    return [nn.Conv2d(inputs, outputs, 3, padding=1), nn.BatchNorm2d(outputs), nn.ReLU(inplace=True)]


class SegNet(nn.Module):
    """SegNet over `stages` (conv widths per stage): `(N, 3, H, W)` -> logits `(N, num_classes, H, W)`, any H, W.

    Attributes: `features` (encoder, torchvision VGG layout), `pool_index` (index of each stage's pool in
    `features`), `unpools[i]` and `decoder[i]` (stage i's up-sampler and decoder convs, run deepest first),
    `classifier` (the mirror of the first conv).
    """

    def __init__(self, stages: Sequence[Sequence[int]], pooling: Pooling, num_classes: int) -> None:
        super().__init__()
        if pooling.sites != "all":
            raise UsageError(f"sites={pooling.sites!r}: SegNet pools at every stage and has no stem; use 'all'")
        layers: list[nn.Module] = []
        unpools, decoder, self.pool_index = [], [], []
        inputs = [3, *(widths[-1] for widths in stages[:-1])]
        for widths, width_in in zip(stages, inputs):
            for a, b in pairwise([width_in, *widths]):
                layers += _conv_bn_relu(a, b)
            pool, unpool = pool_pair(pooling, widths[-1])
            self.pool_index.append(len(layers))
            layers.append(pool)
            unpools.append(unpool)
            # back to the stage's input width; the first stage's last conv is the classifier instead
            mirrored = [*reversed(widths), width_in] if decoder else list(reversed(widths))
            decoder.append(nn.Sequential(*[m for a, b in pairwise(mirrored) for m in _conv_bn_relu(a, b)]))
        self.features = nn.Sequential(*layers)
        self.unpools, self.decoder = nn.ModuleList(unpools), nn.ModuleList(decoder)
        self.classifier = nn.Conv2d(stages[0][0], num_classes, 3, padding=1)
        self.stride = 2 ** len(stages)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        x = pad_input(x, self.stride)
        kept, stage = [], 0
        for index, layer in enumerate(self.features):
            if stage < len(self.pool_index) and index == self.pool_index[stage]:
                x, memo = self.unpools[stage].down(layer, x)
                kept.append(memo)
                stage += 1
            else:
                x = layer(x)
        for stage in reversed(range(len(kept))):
            x = self.decoder[stage](self.unpools[stage](x, kept[stage]))
        return self.classifier(x)[..., :height, :width]

    def load_encoder(self, state_dict: Mapping[str, Tensor]) -> None:
        """Load the `features.*` entries of a torchvision VGG state dict (e.g. `VGG16_BN_Weights.IMAGENET1K_V1`)
        into the encoder. Every conv and BN entry must match; only the pools' own parameters and buffers (LiftPool's
        P and U, BlurPool's filter) keep their initialisation. Other entries (`classifier.*`) are ignored."""
        features = {k.removeprefix("features."): v for k, v in state_dict.items() if k.startswith("features.")}
        missing, unexpected = self.features.load_state_dict(features, strict=False)
        pools = tuple(f"{index}." for index in self.pool_index)
        missing = [key for key in missing if not key.startswith(pools)]
        if missing or unexpected:
            raise UsageError(f"the state dict does not fit the SegNet encoder: missing {missing[:8]}, "
                             f"unexpected {unexpected[:8]}; expected torchvision's VGG-16-BN `features.*` entries")


def _build(stages: Sequence[Sequence[int]], pooling: Pooling, num_classes: int,
           ) -> tuple[nn.Module, list[tuple[str, Site]]]:
    model = SegNet(stages, pooling, num_classes)
    placed = []
    for stage, (index, widths) in enumerate(zip(model.pool_index, stages)):
        note = f"stage {stage + 1} pool; up-sampled by unpools.{stage} ({type(model.unpools[stage]).__name__})"
        placed.append((f"features.{index}", Site(f"features.{index}", widths[-1], note=note)))
    return model, placed


def segnet_vgg16_bn(pooling: Pooling, num_classes: int) -> tuple[nn.Module, list[tuple[str, Site]]]:
    """SegNet with the VGG-16-BN encoder (29.46M parameters for 21 classes with max pooling) and its pool sites."""
    return _build(VGG16_STAGES, pooling, num_classes)


def demo_segnet(pooling: Pooling, num_classes: int) -> tuple[nn.Module, list[tuple[str, Site]]]:
    """The small SegNet of the demo data (`DEMO_STAGES`) and its pool sites."""
    return _build(DEMO_STAGES, pooling, num_classes)
