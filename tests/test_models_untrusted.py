"""No file from outside runs code: every reader of weights (torch.hub cache, URLs, checkpoints, encoder weights,
timm's caches, training resume) reads data only; a pickle whose payload would create a marker file never runs."""

import re
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)

from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.models import cache_path, create_model, resolve_model, transfer_weights
from robustbench_lift.training.init import ModelStart, initial_model

SQUEEZE = torchvision.models.SqueezeNet1_1_Weights.IMAGENET1K_V1


class _Payload:
    """Unpickled with `weights_only=False`, this calls `open(marker, "w")`: the file appears."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def _plant(path: Path, marker: Path) -> Path:
    """A torch.save file at `path` holding a state-dict-looking mapping with the payload inside."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {"weight": torch.zeros(1)}, "meta": {"x": _Payload(marker)}}, path)
    return path


def _one_line_refusal(caught: pytest.ExceptionInfo, path: Path) -> None:
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and "weights_only=True" in message


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache under tmp_path, no network, and no 8-hex prefix check: a planted file counts as
    one whose sha256 starts with the prefix in its name (what a 2^32 search finds), so only the reader stands."""
    def no_network(url: str, *args, **kwargs) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setattr(torch.hub, "HASH_REGEX", re.compile(r"(?!)"))
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.mark.parametrize("weights", ["DEFAULT", "IMAGENET1K_V1", "SqueezeNet1_1_Weights.IMAGENET1K_V1"])
def test_a_planted_torchvision_cache_file_never_runs(hub: Path, tmp_path: Path, weights: str) -> None:
    marker = tmp_path / "ran"
    planted = _plant(cache_path(SQUEEZE.url), marker)
    with pytest.raises(UsageError) as caught:
        resolve_model("torchvision:squeezenet1_1", weights=weights)
    assert not marker.exists()
    _one_line_refusal(caught, planted)
    assert "sha256" in str(caught.value)  # says that torchvision publishes only a prefix


def test_torchvision_weights_in_the_cache_load_strictly(hub: Path) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        reference = torchvision.models.squeezenet1_1(num_classes=1000)
    cache_path(SQUEEZE.url).parent.mkdir(parents=True)
    torch.save(reference.state_dict(), cache_path(SQUEEZE.url))
    model, meta = resolve_model("torchvision:squeezenet1_1", weights="DEFAULT")
    loaded = model.state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in reference.state_dict().items())
    assert meta["weights"] == f"{SQUEEZE} ({SQUEEZE.url})" and meta["num_classes"] == 1000
    torch.save({k: v for k, v in reference.state_dict().items() if k != "classifier.1.bias"}, cache_path(SQUEEZE.url))
    with pytest.raises(UsageError, match=r"missing keys \(1\): classifier\.1\.bias"):
        resolve_model("torchvision:squeezenet1_1", weights="DEFAULT")


def _old_densenet_key(key: str) -> str:
    """torchvision's published DenseNet files name `denselayer1.norm1.weight` as `denselayer1.norm.1.weight`."""
    return re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", key)


@pytest.mark.slow
def test_densenet_files_with_the_old_key_names_load(hub: Path) -> None:
    member = torchvision.models.DenseNet121_Weights.IMAGENET1K_V1
    reference = torchvision.models.densenet121()
    state = reference.state_dict()
    assert "features.denseblock1.denselayer1.norm.1.weight" in {_old_densenet_key(k) for k in state}
    cache_path(member.url).parent.mkdir(parents=True)
    torch.save({_old_densenet_key(k): v for k, v in state.items()}, cache_path(member.url))
    model, _ = resolve_model("torchvision:densenet121", weights="DEFAULT")
    assert all(torch.equal(model.state_dict()[key], value) for key, value in state.items())


@pytest.mark.slow
def test_torchvisions_builders_make_the_same_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reference: torchvision's own builder given the weights, its file reading replaced by our architecture's state
    dict (meta device: no memory). Its strict load passes only if both have the same keys and shapes; the settings
    its builder derives from those weights must agree too. Every member of one architecture per torchvision module
    (the settings are the module's builder's)."""
    from robustbench_lift.models import hub

    state: dict[str, dict] = {}
    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", lambda self, *a, **k: state["sd"])
    monkeypatch.setattr(hub, "read_published", lambda url: (state["sd"], {}))
    names = ["alexnet", "convnext_tiny", "densenet121", "efficientnet_b0", "googlenet", "inception_v3", "maxvit_t",
             "mnasnet0_5", "mobilenet_v2", "mobilenet_v3_small", "regnet_y_400mf", "resnet18", "shufflenet_v2_x0_5",
             "squeezenet1_1", "swin_t", "vgg11", "vit_b_16"]
    module_of = torchvision.models.get_model_builder
    assert {module_of(n).__module__ for n in names} == {
        module_of(n).__module__ for n in torchvision.models.list_models(module=torchvision.models)}
    settings = ("transform_input", "aux_logits", "AuxLogits", "aux1", "image_size", "num_classes")
    for name in names:
        for member in torchvision.models.get_model_weights(name):
            with torch.device("cpu" if name.startswith("regnet") else "meta"):  # RegNet's builder reads values
                state["sd"] = hub.torchvision_architecture(name, member, {}).state_dict()
                ours = hub.torchvision_pretrained(name, member, {})
                theirs = torchvision.models.get_model(name, weights=member)
            assert {s: repr(getattr(ours, s, None)) for s in settings} == {
                s: repr(getattr(theirs, s, None)) for s in settings}, (name, member)
            assert ours.state_dict().keys() == theirs.state_dict().keys()


def test_urls_and_checkpoints_never_run(hub: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    url = "https://example.org/weights/evil.pth"
    planted = _plant(cache_path(url), marker)
    local = _plant(tmp_path / "evil.pt", marker)
    calls = [lambda: resolve_model("torchvision:squeezenet1_1", weights=url),
             lambda: create_model("resnet18-max", weights=url),
             lambda: create_model("cifar_resnet10s-max", weights=local),
             lambda: transfer_weights(create_model("cifar_resnet10s-max"), local)]
    for call, path in zip(calls, [planted, planted, local, local], strict=True):
        with pytest.raises(UsageError) as caught:
            call()
        assert not marker.exists()
        _one_line_refusal(caught, path)


def test_encoder_weights_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    local = _plant(tmp_path / "encoder.pt", marker)
    with pytest.raises(UsageError) as caught:
        initial_model(ModelStart("demo_seg-max", encoder_weights=local), num_classes=3, seed=0)
    assert not marker.exists()
    _one_line_refusal(caught, local)


def test_a_planted_training_checkpoint_is_not_resumed(tmp_path: Path) -> None:
    from robustbench_lift.training.loop import _read_state

    marker = tmp_path / "ran"
    planted = _plant(tmp_path / "last.pt", marker)
    with pytest.raises(UsageError, match="is not a training checkpoint.*--no-resume"):
        _read_state(planted)
    assert not marker.exists()


def test_timm_pretrained_files_are_read_as_data(hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """timm's Hugging Face file (safetensors when published, else the pickle) is read by liftbench, never by timm's
    own loader; a planted pickle never runs and a real state dict loads."""
    timm = pytest.importorskip("timm")
    huggingface_hub = pytest.importorskip("huggingface_hub")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    name = "resnet10t"
    cfg = timm.models.get_pretrained_cfg(name)
    files: dict[str, Path] = {}

    def cached(repo_id: str, filename: str, **kwargs) -> str:
        assert repo_id == cfg.hf_hub_id
        if filename not in files:
            raise huggingface_hub.errors.EntryNotFoundError(f"{filename} not cached")
        return str(files[filename])

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", cached)
    monkeypatch.setattr(timm.models._builder, "load_state_dict_from_hf", None)  # timm's reader must not be used
    monkeypatch.setattr(timm.models._builder, "load_state_dict_from_url", None)
    marker = tmp_path / "ran"
    files["pytorch_model.bin"] = _plant(tmp_path / "pytorch_model.bin", marker)
    with pytest.raises(UsageError) as caught:
        resolve_model(f"timm:{name}", weights="DEFAULT")
    assert not marker.exists()
    _one_line_refusal(caught, files["pytorch_model.bin"])
    reference = timm.create_model(name, pretrained=False, num_classes=1000)
    safetensors_torch.save_file(reference.state_dict(), tmp_path / "model.safetensors")
    files["model.safetensors"] = tmp_path / "model.safetensors"
    model, meta = resolve_model(f"timm:{name}", weights="DEFAULT", num_classes=7)  # timm's loader re-heads it
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in reference.state_dict().items() if not k.startswith("fc."))
    assert state["fc.weight"].shape == (7, reference.fc.in_features) and meta["num_classes"] == 7
    assert "state_dict" not in model.pretrained_cfg  # the tensors are not kept twice


def test_offline_torchvision_error_says_the_file_is_read_as_data(hub: Path) -> None:
    with pytest.raises(LiftbenchError, match="place it at .*read as data") as caught:
        resolve_model("torchvision:squeezenet1_1", weights="DEFAULT")
    assert str(cache_path(SQUEEZE.url)) in str(caught.value)
