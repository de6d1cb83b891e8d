"""Per-site sensitivity of suite `freq`: how much of each Fourier basis perturbation reaches each down-sampling
site of a model (google-research `freq_heatmap.py`'s per-tensor heat maps, at the sites a pooling acts on).

A site is an innermost module that down-samples: its first call's output is spatially smaller than its input, but
larger than 1 x 1 (global pooling is not a site), and none of its submodules down-samples (a stride-2 conv, a
max-pool, a `BlurPool`, a `LiftPool`; in `nn.Sequential(pool, conv)` the pool). Its activations are recorded
before (`in`, the module's input) and after (`out`, its output) it. Per basis image k and site, the value is the
mean over images of the l2 norm of the activation change, `||a(x + eps r U_k) - a(x)||_2` (the reference's
`_get_sum_of_norms` / n, without its rescaling to a maximum of 1), with the perturbation, the signs and the clip of
the heat map's cells (`suites.freq`).
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from corruptions.fourier import fourier_basis, fourier_perturb, fourier_signs
from robustbench_lift.metrics.freq import cell_name
from robustbench_lift.models.trace import first_calls

POSITIONS = ("in", "out")


def downsampling_sites(model: nn.Module, input_size: int) -> dict[str, nn.Module]:
    """`{dotted name: module}` of the model's down-sampling sites (module docstring) at `input_size` px, in the
    order their first calls finish."""
    calls = first_calls(model, input_size, lambda m: m is not model)
    shrinks = {m for m, (a, b) in calls.items() if len(a) == 4 == len(b) and b[-2:] < a[-2:] and b[-2:] != (1, 1)}
    names = {m: name for name, m in model.named_modules()}
    inner = [m for m in calls if m in shrinks and not any(c in shrinks for c in m.modules() if c is not m)]
    return {names[m]: m for m in inner}


@torch.inference_mode()
def site_sensitivity(model: nn.Module, images: Tensor, indices: Sequence[int], offsets: Sequence[tuple[int, int]],
                     eps: float, seed: int, mean: Sequence[float], std: Sequence[float],
                     batch_size: int = 250) -> pd.DataFrame:
    """Rows `(site, position, cell, l2)`: the mean l2 activation change per site, position ("in"/"out") and
    heat-map cell, over `images` `(N, 3, H, W)` (uint8, items `indices` of the data set, on the model's device)
    normalised with `mean`/`std` as the engine does."""
    model = model.eval()
    sites = downsampling_sites(model, images.shape[-1])
    device = images.device
    norm = torch.tensor(mean, device=device).view(1, 3, 1, 1), torch.tensor(std, device=device).view(1, 3, 1, 1)
    seen: dict[tuple[str, str], Tensor] = {}

    def hook(name: str):
        def record(module: nn.Module, args: tuple, output: Tensor) -> None:
            seen[(name, "in")], seen[(name, "out")] = args[0].flatten(1).float(), output.flatten(1).float()
        return record

    handles = [module.register_forward_hook(hook(name)) for name, module in sites.items()]
    totals = np.zeros((len(offsets), len(sites), 2))
    try:
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].float() / 255
            signs = fourier_signs(seed, indices[start:start + batch_size], len(offsets), x.shape[1]).to(device)
            model((x - norm[0]) / norm[1])
            clean = dict(seen)
            step = max(1, batch_size // len(x))  # frequencies per forward pass: about batch_size inputs
            for k in range(0, len(offsets), step):
                ks = slice(k, k + step)
                basis = fourier_basis(offsets[ks], tuple(x.shape[-2:]), device)  # only these: all can be 400 MB
                perturbed = fourier_perturb(x, basis, signs[:, ks], eps).transpose(0, 1)  # (m, B, C, H, W)
                model((perturbed.reshape(-1, *x.shape[1:]) - norm[0]) / norm[1])
                for j, name in enumerate(sites):
                    for p, position in enumerate(POSITIONS):
                        before = clean[(name, position)]  # (B, D); the perturbed ones (m * B, D), frequency-major
                        change = seen[(name, position)].view(-1, *before.shape) - before
                        totals[ks, j, p] += change.norm(dim=2).sum(dim=1).cpu().numpy()
    finally:
        for handle in handles:
            handle.remove()
    totals /= max(len(images), 1)
    return pd.DataFrame([{"site": name, "position": position, "cell": cell_name(offset), "l2": totals[k, j, p]}
                         for k, offset in enumerate(offsets) for j, name in enumerate(sites)
                         for p, position in enumerate(POSITIONS)])
