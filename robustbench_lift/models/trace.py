"""Shapes of a model's layers from one forward pass on the meta device: no memory, no compute, model untouched.

`torch.func.functional_call` runs the model with meta stand-ins for its parameters and buffers, so the real
weights (on any device) are neither read nor moved; forward hooks record what the chosen layers see.
"""

from collections.abc import Callable

import torch
from torch import nn

from robustbench_lift.errors import UsageError

Shape = tuple[int, ...]


def meta_call(module: nn.Module, shape: Shape) -> Shape:
    """Output shape of `module` on an input of `shape` (float, the dtype of its first parameter)."""
    tensors = {name: torch.empty_like(tensor, device="meta") for name, tensor in
               [*module.named_parameters(), *module.named_buffers()]}
    dtype = next((t.dtype for t in tensors.values() if t.is_floating_point()), torch.float32)
    with torch.no_grad():
        out = torch.func.functional_call(module, tensors, (torch.empty(shape, device="meta", dtype=dtype),))
    return tuple(out.shape)


def first_calls(model: nn.Module, input_size: int, select: Callable[[nn.Module], bool]) -> dict[nn.Module, tuple]:
    """`{layer: (input shape, output shape)}` of the first call of each `select`ed layer, in the order the layers
    finish, for one `(1, 3, input_size, input_size)` image in eval mode. Layers never called are absent.

    Raises `UsageError` if the model cannot run on the meta device at that size.
    """
    calls: dict[nn.Module, tuple] = {}

    def record(layer: nn.Module, args: tuple, output: object) -> None:
        if layer not in calls and args and isinstance(args[0], torch.Tensor) and isinstance(output, torch.Tensor):
            calls[layer] = (tuple(args[0].shape), tuple(output.shape))

    handles = [layer.register_forward_hook(record) for layer in model.modules() if select(layer)]
    try:
        output_shape(model, input_size)
    finally:
        for handle in handles:
            handle.remove()
    return calls


def output_shape(model: nn.Module, input_size: int) -> Shape:
    """Output shape of `model` for one `(1, 3, input_size, input_size)` image in eval mode (its mode is restored).

    Raises `UsageError` if the model cannot run on the meta device at that size.
    """
    training = model.training
    try:
        model.eval()  # batch statistics of one image would fail in train mode
        return meta_call(model, (1, 3, input_size, input_size))
    except Exception as exc:  # a model's forward can raise anything; the remedy is the same
        raise UsageError(f"could not run {type(model).__name__} on a {input_size}x{input_size} input on the meta "
                         f"device ({type(exc).__name__}: {exc}); pass the input size the model expects") from exc
    finally:
        model.train(training)
