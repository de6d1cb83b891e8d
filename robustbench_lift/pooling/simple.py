"""Parameter-free baselines: max and average pooling (torch built-ins) and plain subsampling ("skip")."""

from torch import Tensor, nn

from robustbench_lift.pooling.registry import register_pool


class Subsample2d(nn.Module):
    """Keep every `stride`-th pixel: `(N, C, H, W) -> (N, C, ceil(H/stride), ceil(W/stride))` (a strided conv's
    sampling)."""

    def __init__(self, stride: int = 2) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        return x[:, :, ::self.stride, ::self.stride]

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


@register_pool("max", "max pooling (kernel 2, stride 2; the ResNet stem uses kernel_size=3, padding=1)")
def _max(channels: int, kernel_size: int = 2, stride: int = 2, padding: int = 0) -> nn.Module:
    return nn.MaxPool2d(kernel_size, stride, padding)


@register_pool("avg", "average pooling (kernel 2, stride 2)")
def _avg(channels: int, kernel_size: int = 2, stride: int = 2, padding: int = 0) -> nn.Module:
    return nn.AvgPool2d(kernel_size, stride, padding)


@register_pool("skip", "plain subsampling: every second pixel, as a stride-2 convolution samples")
def _skip(channels: int, stride: int = 2) -> nn.Module:
    return Subsample2d(stride)
