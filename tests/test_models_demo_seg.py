"""The shipped demo segmentation models: sha256 and metadata as the manifest says, and the recorded test pixel
accuracy reproduced on the demo-seg test split."""

import json

import pytest
import torch
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)

from robustbench_lift.data.demo import MEAN, STD
from robustbench_lift.models import create_model, model_spec
from robustbench_lift.models.segmentation import DEMO_SEG_MANIFEST
from robustbench_lift.models.weights import file_sha256
from robustbench_lift.training.segmentation import demo_seg_train_set

MANIFEST = json.loads(DEMO_SEG_MANIFEST.read_text())


def test_max_lift_and_blur_are_shipped() -> None:
    assert {"max", "lift", "blur"} <= set(MANIFEST)


@pytest.mark.parametrize("pool", sorted(MANIFEST))
def test_shipped_weights_reproduce_their_test_pixel_accuracy(pool: str) -> None:
    entry = MANIFEST[pool]
    path = DEMO_SEG_MANIFEST.with_name(entry["file"])
    assert file_sha256(path) == entry["sha256"] == model_spec(f"demo_seg-{pool}").weights_sha256["demo"]
    model = create_model(f"demo_seg-{pool}", weights="DEFAULT").eval()
    assert model.liftbench_meta["test_acc"] == entry["test_acc"] and model.liftbench_meta["num_classes"] == 11
    assert f"--model demo_seg-{pool} --data demo-seg" in entry["command"]
    test = demo_seg_train_set().test
    x = (test.images.float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        predicted = torch.cat([model(batch).argmax(1) for batch in x.split(64)])
    assert float((predicted == test.labels).double().mean()) == pytest.approx(entry["test_acc"], abs=1e-6)
