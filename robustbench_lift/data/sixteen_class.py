"""model-vs-human's 16-class protocol for ImageNet models (Geirhos et al., NeurIPS 2018 / 2021): each of 16
entry-level categories is the mean of the softmax probabilities of its ImageNet classes, the decision their
arg max (`ImageNetProbabilitiesTo16ClassesMapping`, `modelvshuman/datasets/decision_mappings.py`).

`class_map="16-class"` selects it in `evaluate`: class folders named after the categories get the indices of
`CATEGORIES` (sorted, as model-vs-human orders them), and the 1000-class model is wrapped in
`ProbabilityAggregation`, a 16-class model stored under `<name>@16-class`. The category -> ImageNet index (and
wnid) lists are shipped data, `sixteen_class.json`, with their source.
"""

import json
from functools import cache
from pathlib import Path

import torch
from torch import Tensor, nn

SIXTEEN_CLASS = "16-class"
"""The class-map name that selects the protocol."""
IMAGENET_CLASSES = 1000
_DATA = Path(__file__).with_name("sixteen_class.json")


@cache
def category_indices() -> dict[str, tuple[int, ...]]:
    """Category -> its ImageNet class indices (0..999), in the sorted category order (the shipped data)."""
    categories = json.loads(_DATA.read_text())["categories"]
    return {name: tuple(categories[name]["indices"]) for name in sorted(categories)}


def category_class_map() -> dict[str, int]:
    """`{category folder: index}`: the 16 categories' positions in sorted order, the labels of the protocol."""
    return {name: i for i, name in enumerate(category_indices())}


def membership(device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Tensor:
    """`(1000, 16)` averaging matrix: column c is 1 / |classes of c| on the ImageNet classes of category c."""
    matrix = torch.zeros(IMAGENET_CLASSES, len(category_indices()), dtype=dtype, device=device)
    for column, indices in enumerate(category_indices().values()):
        matrix[list(indices), column] = 1 / len(indices)
    return matrix


def aggregate_probabilities(logits: Tensor) -> Tensor:
    """`(B, 1000)` ImageNet logits -> `(B, 16)` mean softmax probability over each category's classes."""
    if logits.ndim != 2 or logits.shape[1] != IMAGENET_CLASSES:
        raise ValueError(f"the 16-class mapping takes (batch, 1000) ImageNet logits, got {tuple(logits.shape)}")
    probabilities = logits.float().softmax(dim=1)
    return probabilities @ membership(logits.device)


class ProbabilityAggregation(nn.Module):
    """A 1000-class ImageNet model as a 16-class one: `log(aggregate_probabilities(model(x)))`, `(B, 16)`, whose
    arg max / top-k are those of the aggregated probabilities (log is monotone); `liftbench_meta` passes through."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        if hasattr(model, "liftbench_meta"):
            self.liftbench_meta = model.liftbench_meta

    def forward(self, x: Tensor) -> Tensor:
        return aggregate_probabilities(self.model(x)).log()
