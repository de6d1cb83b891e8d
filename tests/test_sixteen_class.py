"""model-vs-human's 16-class protocol: the shipped category lists against facts of `modelvshuman/helper/
human_categories.py` (bethgelab/model-vs-human), the aggregation against their formula (mean of the softmax over
each category's indices, NumPy), and `class_map="16-class"` end to end on a category folder."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from robustbench_lift.data.sixteen_class import (
    ProbabilityAggregation,
    aggregate_probabilities,
    category_class_map,
    category_indices,
)
from robustbench_lift.engine.evaluation import evaluate
from robustbench_lift.engine.options import RunOptions
from robustbench_lift.errors import UsageError
from robustbench_lift.suites.options import CleanOptions

# human_categories.py: the 16 categories and some of their `<category>_indices`
CATEGORIES = ["airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat", "chair", "clock", "dog",
              "elephant", "keyboard", "knife", "oven", "truck"]
KNOWN = {"airplane": (404,), "knife": (499,), "oven": (766,), "cat": (281, 282, 283, 284, 285, 286),
         "bear": (294, 295, 296, 297), "truck": (555, 569, 656, 675, 717, 734, 864, 867)}


def test_shipped_categories_are_model_vs_humans():
    indices = category_indices()
    assert list(indices) == CATEGORIES and category_class_map()["cat"] == 7
    assert all(indices[name] == value for name, value in KNOWN.items())
    assert len(indices["bird"]) == 49 and indices["bird"][:3] == (8, 10, 11)
    assert len(indices["dog"]) == 109 and indices["dog"][-1] == 268
    flat = [i for values in indices.values() for i in values]
    assert len(flat) == len(set(flat)) and all(0 <= i < 1000 for i in flat)


def test_aggregation_is_the_mean_softmax_of_each_category():
    logits = torch.randn(5, 1000, generator=torch.Generator().manual_seed(0)) * 3
    p = np.exp(logits.double().numpy())
    p /= p.sum(axis=1, keepdims=True)
    expected = np.stack([p[:, list(idx)].mean(axis=1) for idx in category_indices().values()], axis=1)
    np.testing.assert_allclose(aggregate_probabilities(logits).numpy(), expected, rtol=1e-5, atol=1e-9)
    with pytest.raises(ValueError, match="1000"):
        aggregate_probabilities(logits[:, :10])


class Constant(nn.Module):
    """1000 logits, the largest at ImageNet class `top` (a bird class, say), whatever the image."""

    def __init__(self, top: int) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 1000)
        self.top = top

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(len(x), 1000, device=x.device)
        logits[:, self.top] = 5.0
        return logits + 0 * self.linear(x.mean(dim=(1, 2, 3))[:, None])


def test_a_category_folder_is_scored_through_the_aggregation(tmp_path):
    rng = np.random.default_rng(0)
    for category in ("cat", "oven"):
        (tmp_path / category).mkdir()
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / category / f"{i}.png")
    model = Constant(top=766)  # oven's single class: oven's mean probability beats every other category's
    assert ProbabilityAggregation(model)(torch.zeros(1, 3, 8, 8)).argmax().item() == CATEGORIES.index("oven")
    run = RunOptions(out=tmp_path / "r.db", progress=False, batch_size=4)
    cells = evaluate(model, CleanOptions(class_map="16-class", resize=None, crop=None), tmp_path, run=run)
    assert cells["model"].iloc[0].endswith("@16-class") and cells["top1_err"].iloc[0] == pytest.approx(0.5)
    with pytest.raises(UsageError, match="1000-class"):
        evaluate(nn.Linear(3, 10), CleanOptions(class_map="16-class"), tmp_path, run=run)
