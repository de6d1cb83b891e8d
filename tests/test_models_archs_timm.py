"""timm's `resnetblur50`, a second published blur ResNet-50: `timm:resnetblur50 --weights DEFAULT` reads timm's
Hugging Face file as data and loads it strictly, giving timm's own logits. The file is a state dict with timm's key
names from timm's own architecture at random weights, served from a stand-in Hub cache: nothing is downloaded."""

from pathlib import Path

import pytest
import torch
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from test_models_archs import images  # noqa: F401 (fixture)
from test_models_parity import _assert_same_logits, _scramble

from robustbench_lift.models import resolve_model

timm = pytest.importorskip("timm")
huggingface_hub = pytest.importorskip("huggingface_hub")
safetensors_torch = pytest.importorskip("safetensors.torch")


def test_resnetblur50_loads_timms_file_strictly(images: torch.Tensor, tmp_path: Path,  # noqa: F811
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = timm.models.get_pretrained_cfg("resnetblur50")
    torch.manual_seed(0)
    reference = _scramble(timm.create_model("resnetblur50", pretrained=False))
    safetensors_torch.save_file(reference.state_dict(), tmp_path / "model.safetensors")

    def cached(repo_id: str, filename: str, **kwargs) -> str:
        assert repo_id == cfg.hf_hub_id  # timm/resnetblur50.bt_in1k
        if filename != "model.safetensors":
            raise huggingface_hub.errors.EntryNotFoundError(f"{filename} not cached")
        return str(tmp_path / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", cached)
    monkeypatch.setattr(timm.models._builder, "load_state_dict_from_hf", None)  # timm's readers must not be used
    monkeypatch.setattr(timm.models._builder, "load_state_dict_from_url", None)
    model, meta = resolve_model("timm:resnetblur50", weights="DEFAULT")
    assert meta["model"] == "timm:resnetblur50.bt_in1k" and meta["interpolation"] == "bicubic"
    # BlurPool after the stem's dense 3x3 max and in the first Bottleneck of layer2..4 (timm's `aa` before conv3)
    blurs = [name for name, module in model.named_modules() if type(module).__name__ == "BlurPool2d"]
    assert blurs == ["maxpool.1", "layer2.0.aa", "layer3.0.aa", "layer4.0.aa"]
    assert model.state_dict().keys() == reference.state_dict().keys()
    _assert_same_logits(model, reference, images)
