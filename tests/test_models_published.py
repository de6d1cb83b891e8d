"""The authors' own ResNets of the published poolings (models/published.py, models/releases.py): their state
dicts (key names and shapes transcribed from their code, tests/data/published/) load strictly, in their file
formats; our FLC ResNet computes what their recipe computes; APS and LPS with circular padding are exactly
invariant to circular shifts, also through the shift suite."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from evaluate_fixtures import bordered_set, write_folder
from test_models_lightning import lightning_file

from robustbench_lift.engine import RunOptions, evaluate
from robustbench_lift.errors import UsageError
from robustbench_lift.models import create_model, list_models
from robustbench_lift.models.published import authors_keys
from robustbench_lift.models.registry import model_spec
from robustbench_lift.models.weights import load_weights
from robustbench_lift.suites.options import ShiftOptions

DATA = Path(__file__).parent / "data" / "published"
RECORDS = {path.stem: json.loads(path.read_text()) for path in sorted(DATA.glob("*.json"))}


def authors_state(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under the authors' key names and shapes of `name` (BatchNorm variances positive)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in RECORDS[name]["keys"].items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        else:
            value = torch.randn(shape, generator=generator, dtype=torch.float64) * 0.1
            state[key] = (value.abs() + 0.5 if key.endswith(("running_var", "bn1.weight")) else value).float()
    return state


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_every_transcribed_architecture_loads_strictly(name):
    spec = model_spec(name)
    with torch.device("meta"):
        model, _ = spec.build()
    state = {key: torch.empty(shape, device="meta") for key, shape in RECORDS[name]["keys"].items()}
    load_weights(model, authors_keys(spec.pooling, state), name)  # raises on any missing, unexpected or reshaped key


@pytest.mark.parametrize(("name", "form"), [("resnet18-lps_circular", "lightning"), ("resnet18-dwt_haar", "dp"),
                                            ("resnet18-aps", "dp"), ("resnet18-flc", "plain")])
def test_authors_files_load_through_the_zoo_name(tmp_path, name, form):
    state = authors_state(name)
    path = tmp_path / "authors.ckpt"
    if form == "lightning":
        lightning_file(path, tmp_path / "marker", {f"core.{key}": value for key, value in state.items()})
    else:
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}} if form == "dp" else state, path)
    model = create_model(name, weights=str(path))
    ours = model.state_dict()
    renamed = authors_keys(model_spec(name).pooling, state)
    assert all(torch.equal(ours[key], value) for key, value in renamed.items())
    assert not (tmp_path / "marker").exists()


def test_asap_loads_the_flc_keys_and_a_wrong_file_is_refused():
    with torch.device("meta"):
        model, _ = model_spec("resnet50-asap").build()
    flc = RECORDS["resnet50-flc"]["keys"]
    load_weights(model, {key: torch.empty(shape, device="meta") for key, shape in flc.items()})
    with pytest.raises(UsageError, match="missing keys"):
        load_weights(model, {key: torch.empty(shape, device="meta")
                             for key, shape in RECORDS["resnet50-dwt_haar"]["keys"].items()})


def _flc_recipe(x: torch.Tensor) -> torch.Tensor:
    """Their FLC_Pooling in numpy: fftshift(fft2(norm forward)), crop [n/4, 3n/4), ifftshift, ifft2, real part."""
    spectrum = np.fft.fftshift(np.fft.fft2(x.numpy(), norm="forward"), axes=(-2, -1))
    h, w = x.shape[-2:]
    crop = spectrum[..., int(h / 4):int(h / 4 * 3), int(w / 4):int(w / 4 * 3)]
    return torch.from_numpy(np.fft.ifft2(np.fft.ifftshift(crop, axes=(-2, -1)), norm="forward").real)


def _flc_resnet18(x: torch.Tensor, sd: dict[str, torch.Tensor]) -> torch.Tensor:
    """Their resnet_flc ResNet-18 forward written out from their module list, with their key names."""
    def bn(t, key):
        return F.batch_norm(t, sd[f"{key}.running_mean"], sd[f"{key}.running_var"], sd[f"{key}.weight"],
                            sd[f"{key}.bias"], False, 0.0, 1e-5)

    x = F.relu(bn(F.conv2d(_flc_recipe(x), sd["conv1.1.weight"], padding=3), "bn1"))
    x = _flc_recipe(x)
    for stage in range(1, 5):
        for block in range(2):
            p, strided = f"layer{stage}.{block}", stage > 1 and block == 0
            first = F.conv2d(_flc_recipe(x), sd[f"{p}.conv1.1.weight"], padding=1) if strided else \
                F.conv2d(x, sd[f"{p}.conv1.weight"], padding=1)
            out = bn(F.conv2d(F.relu(bn(first, f"{p}.bn1")), sd[f"{p}.conv2.weight"], padding=1), f"{p}.bn2")
            identity = bn(F.conv2d(_flc_recipe(x), sd[f"{p}.downsample.0.1.weight"]), f"{p}.downsample.1") \
                if strided else x
            x = F.relu(out + identity)
    return F.linear(x.mean(dim=(2, 3)), sd["fc.weight"], sd["fc.bias"])


def test_flc_resnet_computes_their_recipe():
    state = {key: value.double() if value.is_floating_point() else value
             for key, value in authors_state("resnet18-flc", seed=3).items()}
    model = create_model("resnet18-flc").double().eval()
    load_weights(model, state)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), _flc_resnet18(x, state), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["resnet18-aps", "resnet18-lps_circular"])
def test_circular_shifts_leave_aps_and_lps_logits_unchanged(name):
    model = create_model(name, num_classes=10, seed=4).eval()
    assert all(m.padding_mode == "circular" for m in model.modules()
               if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1))
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    control = create_model("resnet18-max", num_classes=10, seed=4).eval()
    with torch.no_grad():
        logits = model(x)
        for shift in [(1, 0), (5, 7), (17, 31)]:
            torch.testing.assert_close(model(torch.roll(x, shift, dims=(2, 3))), logits, rtol=1e-4, atol=1e-5)
        assert not torch.allclose(control(torch.roll(x, (1, 1), dims=(2, 3))), control(x), rtol=1e-4, atol=1e-5)


@pytest.mark.filterwarnings("ignore:.*the model takes 224x224 inputs")
@pytest.mark.parametrize("name", ["resnet18-aps", pytest.param("resnet18-lps_circular", marks=pytest.mark.slow)])
def test_shift_suite_circular_mode_is_fully_consistent(tmp_path, name):
    images, labels = bordered_set()  # 32 x 32: divisible by 32, the five halvings of these ResNets
    write_folder(tmp_path / "bordered", images, labels)
    model = create_model(name, num_classes=3, seed=5).eval()
    _centre_head(model, images)
    frame = evaluate(model, ShiftOptions(shift_mode="circular", resize=None, crop=None, pairs=2), tmp_path / "bordered",
                     run=RunOptions(progress=False))
    pairs = frame[frame["corruption"] == "pairs"].iloc[0]
    assert pairs["consistency"] == 1 and pairs["shift_mode"] == "circular"
    assert len(np.unique(pairs["predictions"][..., 0])) > 1  # not a constant classifier
    assert (frame.loc[frame["corruption"] == "diagonal", "agreement"] == 1).all()


def _centre_head(model: torch.nn.Module, images: torch.Tensor) -> None:
    """Shift the random head's bias so that the mean feature of `images` scores zero in every class: a random
    ResNet's features barely differ between images, and its head would otherwise predict one class for all."""
    mean, std = (torch.tensor(model.liftbench_meta[key]).view(1, 3, 1, 1) for key in ("mean", "std"))
    features = []
    hook = model.avgpool.register_forward_hook(lambda module, args, out: features.append(out.flatten(1)))
    with torch.no_grad():
        model((images.float() / 255 - mean) / std)
        hook.remove()
        model.fc.weight.mul_(100)
        model.fc.bias.copy_(-model.fc.weight @ features[0].mean(dim=0))


def test_names_listing_and_released_weights(tmp_path, monkeypatch):
    listed = list_models()
    for name in ["resnet101-pasa3", "resnet101-pasa5", "resnet50-lps3", "resnet101-lps3", "resnet18-lps_circular",
                 "resnet34-dwt_haar", "resnet18-dwt_bior2.2", "resnet101-flc", "resnet101-asap", "resnet50-aps",
                 "resnet101-blur", "resnet101-max"]:
        assert name in listed
    lps = list_models(pool="lps")  # a family lists the authors' spellings; a spelling only itself
    assert {"resnet50-lps", "resnet50-lps3", "resnet101-lps3", "resnet18-lps_circular"} <= set(lps)
    assert "resnet18-dwt_bior2.2" in list_models(pool="dwt") and "resnet18-dwt_haar" not in list_models(pool="lps")
    assert list_models(backbone="resnet50", pool="lps3") == ["resnet50-lps3"]
    assert dict(model_spec("resnet50-dwt_db2").pool_kwargs) == {"wavelet": "db2"}
    with pytest.raises(UsageError, match="wavelet='db2' but wavelet='haar'"):
        model_spec("resnet50-dwt_db2", wavelet="haar")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    placed = tmp_path / "checkpoints" / "published" / "resnet18-dwt_haar.pth"
    with pytest.raises(UsageError, match=r"pan\.baidu\.com.*--weights PATH.*resnet18-dwt_haar\.pth") as caught:
        create_model("resnet18-dwt_haar", weights="DEFAULT")
    assert str(placed) in str(caught.value)
    with pytest.raises(UsageError, match="resnet101_k3_pasa_group8_softmax from https://drive.google.com"):
        create_model("resnet101-pasa3", weights="DEFAULT")
    placed.parent.mkdir(parents=True)
    state = authors_state("resnet18-dwt_haar")
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, placed)
    model = create_model("resnet18-dwt_haar", weights="DEFAULT")
    assert torch.equal(model.state_dict()["layer2.0.conv2.1.weight"], state["layer2.0.conv2.1.weight"])
    assert model_spec("resnet18-dwt_haar", wavelet="haar").weights == {}  # options beyond the name: no release
