"""The engine against independent per-image loops on photographs: pre-rendered trees, CIFAR-C arrays, clean
folders, on-the-fly corruption, limits, resume, weights identity and errors."""

import hashlib
import json
import pickle
from dataclasses import replace

import numpy as np
import pytest
import torch
from evaluate_fixtures import (
    CLASSES,
    CORRUPTIONS,
    MEAN,
    SEVERITIES,
    STD,
    build_data,
    photo_set,
    reference_top5,
    render,
    sorted_paths,
    tiny_model,
)
from PIL import Image
from torch import nn

from corruptions import corrupt
from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.engine.options import split_options
from robustbench_lift.engine.runner import Engine
from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.report.aggregate import summarize
from robustbench_lift.store import load_results
from robustbench_lift.suites.options import CleanOptions, CorruptionOptions


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return build_data(tmp_path_factory.mktemp("data"))


def test_prerendered_and_clean_cells_equal_reference_loop(data, tmp_path):
    model = tiny_model()
    frame = evaluate(model, CorruptionOptions(clean=data / "clean", corruptions=CORRUPTIONS, severities=SEVERITIES),
                     data / "tiny-c", run=RunOptions(out=tmp_path / "r.db", batch_size=4, progress=False))
    assert sorted(zip(frame["corruption"], frame["severity"])) == [("clean", 0), ("fog", 1), ("fog", 3),
                                                                  ("gaussian_noise", 1), ("gaussian_noise", 3)]
    labels = np.sort(np.arange(9) % 3)  # items are sorted by class folder, then file
    varied = set()
    for row in frame.itertuples():
        folder = data / "clean" if row.corruption == "clean" else data / "tiny-c" / row.corruption / str(row.severity)
        expected = reference_top5(model, sorted_paths(folder), resize=row.corruption == "clean")
        assert np.array_equal(row.predictions, expected), (row.corruption, row.severity)
        assert np.array_equal(row.labels, labels)
        assert row.top1_err == pytest.approx(np.mean(expected[:, 0] != labels))
        assert row.n == 9 and row.dataset == "tiny-c" and row.suite == "c"
        varied |= set(expected[:, 0])
    assert len(varied) > 1  # the model's predictions depend on the image
    summary = summarize(frame, n_boot=200)
    clean = frame[frame["corruption"] == "clean"].iloc[0]
    corrupted = frame[frame["corruption"] != "clean"]
    assert summary.loc[0, "clean_err"] == pytest.approx(clean.top1_err)
    assert summary.loc[0, "mean_err"] == pytest.approx(corrupted["top1_err"].mean())
    assert summary.loc[0, "mean_err_lo"] <= summary.loc[0, "mean_err"] <= summary.loc[0, "mean_err_hi"]
    assert "mCE" not in summary  # 3 classes: no AlexNet normaliser


def test_cifar_c_arrays_equal_reference_loop(tmp_path):
    images, labels = photo_set(32)
    stacked = torch.cat([render(images, "fog", s) for s in range(1, 6)]).permute(0, 2, 3, 1).numpy()
    (tmp_path / "CIFAR-3-C").mkdir()
    np.save(tmp_path / "CIFAR-3-C" / "fog.npy", stacked)
    np.save(tmp_path / "CIFAR-3-C" / "labels.npy", np.tile(labels.numpy(), 5))
    (tmp_path / "cifar-10-batches-py").mkdir()  # the clean test set as torchvision's pickle: rows of C*H*W bytes
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({"data": images.reshape(9, -1).numpy(), "labels": labels.tolist()}, f)
    model = tiny_model()
    frame = evaluate(model, CorruptionOptions(clean=tmp_path, corruptions=["fog"], severities=[2, 5]),
                     tmp_path / "CIFAR-3-C", run=RunOptions(progress=False))
    assert sorted(zip(frame["corruption"], frame["severity"])) == [("clean", 0), ("fog", 2), ("fog", 5)]
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    for row in frame.itertuples():
        block = images if row.corruption == "clean" else \
            torch.from_numpy(stacked[(row.severity - 1) * 9:row.severity * 9]).permute(0, 3, 1, 2)
        with torch.no_grad():
            logits = model((block.float() / 255 - mean) / std)
        assert np.array_equal(row.predictions, logits.argsort(dim=1, descending=True, stable=True).numpy())
        assert np.array_equal(row.labels, labels.numpy())
        assert row.dataset == "CIFAR-3-C"


def reference_on_the_fly(model: nn.Module, images: torch.Tensor, corruption: str, severity: int, seed: int,
                         backend: str) -> np.ndarray:
    """Top-1 of each image corrupted alone, a random corruption with a generator seeded from
    blake2b("seed/corruption/severity/index") (the seeds of `liftbench render`)."""
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    top1 = []
    for i, image in enumerate(images):
        digest = hashlib.blake2b(f"{seed}/{corruption}/{severity}/{i}".encode(), digest_size=8).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)
        x = corrupt(image[None], corruption, severity, generator=generator, backend=backend).float() / 255
        with torch.no_grad():
            top1.append(int(model((x - mean) / std).argmax()))
    return np.array(top1)


@pytest.mark.parametrize("backend", ["torch", "reference"])
def test_on_the_fly_is_seeded_per_image(data, backend):
    model = tiny_model()
    clean = data / "clean"
    corruptions = ["gaussian_noise", "contrast"]  # random, deterministic
    options = CorruptionOptions(corruptions=corruptions, severities=[2], backend=backend, resize=None, crop=None)
    runs = [evaluate(model, options, clean, run=RunOptions(batch_size=batch, workers=workers, seed=7, progress=False))
            for batch, workers in ((9, 0), (2, 0) if backend == "torch" else (4, 2))]
    images = torch.stack([torch.from_numpy(np.array(Image.open(p).convert("RGB")))
                          for p in sorted_paths(clean)]).permute(0, 3, 1, 2)
    for frame in runs:
        assert frame["dataset"].unique().tolist() == ["clean-otf"]
        assert sorted(frame["corruption"]) == ["clean", "contrast", "gaussian_noise"]
        for run_row, first_row in zip(frame.itertuples(), runs[0].itertuples()):
            assert np.array_equal(run_row.predictions, first_row.predictions)
    clean_predictions = runs[0].loc[runs[0]["corruption"] == "clean", "predictions"].iloc[0]
    assert any(not np.array_equal(p, clean_predictions) for p in runs[0]["predictions"])
    for row in runs[0].itertuples():
        if row.corruption != "clean":
            expected = reference_on_the_fly(model, images, row.corruption, row.severity, 7, backend)
            assert np.array_equal(row.predictions[:, 0], expected), row.corruption


def test_limit_takes_evenly_spaced_images_and_settings_conflict(data, tmp_path):
    model = tiny_model()
    out = tmp_path / "r.db"
    fog, run = CorruptionOptions(corruptions=["fog"], severities=[1]), RunOptions(out=out, progress=False)
    frame = evaluate(model, fog, data / "tiny-c", run=replace(run, limit=3))
    full = reference_top5(model, sorted_paths(data / "tiny-c" / "fog" / "1"))
    assert frame.loc[0, "n"] == 3 and np.array_equal(frame.loc[0, "predictions"], full[[0, 3, 6]])
    with pytest.raises(UsageError, match=r"fog/1 computed with other settings .*limit: stored 3, now None"):
        evaluate(model, fog, data / "tiny-c", run=run)
    frame = evaluate(model, fog, data / "tiny-c", run=replace(run, overwrite=True))
    assert frame.loc[0, "n"] == 9 and len(load_results(out)) == 1 and frame.loc[0, "run_id"] == 3
    again = evaluate(model, fog, data / "tiny-c", run=replace(run, overwrite=True))  # same settings: kept
    assert again.loc[0, "run_id"] == 3


def test_resume_after_crash_equals_uninterrupted(data, tmp_path, monkeypatch):
    model = tiny_model()
    options = CorruptionOptions(corruptions=CORRUPTIONS, severities=SEVERITIES, clean=data / "clean")
    reference = evaluate(model, options, data / "tiny-c", run=RunOptions(out=tmp_path / "full.db", progress=False))
    resuming = RunOptions(out=tmp_path / "resumed.db", progress=False)
    calls = []
    original = Engine.run

    def crash_after_two(self, group, cells, *args):
        calls.append(cells)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C during the third cell
        return original(self, group, cells, *args)

    monkeypatch.setattr(Engine, "run", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        evaluate(model, options, data / "tiny-c", run=resuming)
    assert len(load_results(tmp_path / "resumed.db")) == 2
    calls.clear()
    monkeypatch.setattr(Engine, "run", original)
    resumed = evaluate(model, options, data / "tiny-c", run=resuming)
    assert sorted(resumed["run_id"]) == [1, 1, 2, 2, 2]  # the two committed cells were not recomputed
    columns = ["corruption", "severity", "n", "top1_err", "top5_err"]
    assert resumed[columns].equals(reference[columns])
    for a, b in zip(resumed.itertuples(), reference.itertuples()):
        assert np.array_equal(a.predictions, b.predictions) and np.array_equal(a.labels, b.labels)


def test_other_weights_never_reuse_rows(data, tmp_path):
    fog, run = CorruptionOptions(corruptions=["fog"], severities=[1]), RunOptions(out=tmp_path / "r.db", progress=False)
    first = evaluate(tiny_model(seed=0), fog, data / "tiny-c", run=run, options=ModelOptions(name="tiny"))
    second = evaluate(tiny_model(seed=1), fog, data / "tiny-c", run=run, options=ModelOptions(name="tiny"))
    assert first.loc[0, "weights_sha256"] != second.loc[0, "weights_sha256"]
    assert second.loc[0, "run_id"] == 2 and len(load_results(tmp_path / "r.db")) == 2


def test_nan_logits_fail_the_cell(data, tmp_path):
    class AlwaysNaN(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return self.fc(x.mean((2, 3))) * torch.nan

    with pytest.raises(LiftbenchError, match=r"NaN/inf logits for 9 image\(s\) of cell fog/1 \(first: image 0\)"):
        evaluate(AlwaysNaN(), CorruptionOptions(corruptions=["fog"], severities=[1]), data / "tiny-c",
                 run=RunOptions(out=tmp_path / "r.db", progress=False))
    assert len(load_results(tmp_path / "r.db")) == 0


def test_layout_and_name_errors(data, tmp_path):
    model = tiny_model()
    run = RunOptions(progress=False)
    with pytest.raises(UsageError, match="one corruption of a tree; pass its parent"):
        evaluate(model, "c", data / "tiny-c" / "fog", run=run)
    with pytest.raises(UsageError, match=r"no corruption folder\(s\) gausian_noise/ .*closest to gausian_noise: "
                                         "gaussian_noise"):
        evaluate(model, CorruptionOptions(corruptions=["gausian_noise"]), data / "tiny-c", run=run)
    with pytest.raises(UsageError, match=r"no corruption folder\(s\) shot_noise/, .*contrast/"):
        evaluate(model, CorruptionOptions(severities=[1]), data / "tiny-c", run=run)  # default: the 15 common ones
    with pytest.raises(UsageError, match=r"no severity folder\(s\) 2 \(found 1, 3"):
        evaluate(model, CorruptionOptions(corruptions=["fog"], severities=[1, 2]), data / "tiny-c", run=run)
    with pytest.raises(UsageError, match=r"unknown corruption 'fogg'.*did you mean fog"):
        evaluate(model, CorruptionOptions(corruptions=["fogg"]), data / "clean", run=run)  # on the fly
    with pytest.raises(UsageError, match="severities must be in 1..5"):
        evaluate(model, CorruptionOptions(corruptions=["fog"], severities=[7]), data / "tiny-c", run=run)
    with pytest.raises(UsageError, match=r"unknown suite 'cc'.*did you mean c\?"):
        evaluate(model, "cc", data / "tiny-c", run=run)
    with pytest.raises(UsageError, match="does not take corruptions"):  # the command line's and a config's values
        split_options("clean", {"corruptions": ["fog"]})
    with pytest.raises(UsageError, match="no suite takes RunOptions"):
        evaluate(model, RunOptions(), data / "clean")
    with pytest.raises(UsageError, match="CUDA is not available|unknown device"):
        evaluate(model, "clean", data / "clean", run=RunOptions(device="tpu" if torch.cuda.is_available() else "cuda"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no sub-folders and no labels.npy"):
        evaluate(model, "c", tmp_path / "empty", run=run)
    (tmp_path / "hollow" / CLASSES[0]).mkdir(parents=True)
    with pytest.raises(UsageError, match="hold no images"):
        evaluate(model, "clean", tmp_path / "hollow", run=run)
    (tmp_path / "map.txt").write_text(f"{CLASSES[0]}\n{CLASSES[1]}\n")
    with pytest.raises(UsageError, match=f"{CLASSES[2]} are not in the class map"):
        evaluate(model, CleanOptions(class_map=tmp_path / "map.txt"), data / "clean", run=run)
    (tmp_path / "badc").mkdir()
    np.save(tmp_path / "badc" / "labels.npy", np.zeros(10, np.int64))
    np.save(tmp_path / "badc" / "fog.npy", np.zeros((10, 32, 32), np.uint8))
    with pytest.raises(UsageError, match=r"fog.npy: expected uint8 \(10, H, W, 3\).*found uint8 \(10, 32, 32\)"):
        evaluate(model, CorruptionOptions(corruptions=["fog"]), tmp_path / "badc", run=run)
    with pytest.raises(UsageError, match="weights=, pool= and model_args= go with a model name"):
        evaluate(model, "clean", data / "clean", run=run, options=ModelOptions(weights=tmp_path / "w.pt"))


class ThousandWay(nn.Module):
    """The tiny 3-class model's logits placed at ImageNet classes 10, 500 and 999 of 1000."""

    def __init__(self) -> None:
        super().__init__()
        self.body = tiny_model()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.full((x.shape[0], 1000), -100.0, device=x.device)
        logits[:, [10, 500, 999]] = self.body(x)
        return logits


def test_imagenet_summary_uses_the_alexnet_normaliser(data, tmp_path):
    """A 1000-class model with a class map: CE, mCE and relative mCE from the stored errors by the formulas."""
    (tmp_path / "map.json").write_text(json.dumps({CLASSES[0]: 10, CLASSES[1]: 500, CLASSES[2]: 999}))
    options = CorruptionOptions(clean=data / "clean", corruptions=CORRUPTIONS, severities=SEVERITIES,
                                class_map=tmp_path / "map.json")
    frame = evaluate(ThousandWay(), options, data / "tiny-c", run=RunOptions(progress=False),
                     options=ModelOptions(num_classes=1000))
    assert set(np.concatenate(frame["labels"].tolist())) == {10, 500, 999}
    err = {(row.corruption, row.severity): row.top1_err for row in frame.itertuples()}
    assert 0 < min(err.values()) and max(err.values()) < 1
    alexnet = {"gaussian_noise": (0.69528, 0.93554), "fog": (0.67474, 0.84378)}  # severities 1 and 3
    ce = {c: (err[c, 1] + err[c, 3]) / sum(alexnet[c]) for c in CORRUPTIONS}
    relative = {c: (err[c, 1] + err[c, 3] - 2 * err["clean", 0]) / (sum(alexnet[c]) - 2 * 0.43478)
                for c in CORRUPTIONS}
    summary = summarize(frame, n_boot=100).iloc[0]
    assert summary["CE/fog"] == pytest.approx(ce["fog"])
    assert summary["mCE"] == pytest.approx(np.mean(list(ce.values())))
    assert summary["rel_mCE"] == pytest.approx(np.mean(list(relative.values())))
    assert summary["mCE_lo"] <= summary["mCE"] <= summary["mCE_hi"]


def test_one_forward_over_uint8_and_float_cells_reads_each_in_its_scale():
    """Cells queued into one forward pass may come as uint8 levels (0-255) and floats (0-1): each is read in its
    own scale, so the shared pass gives every cell the predictions of its own pass."""
    from robustbench_lift.engine.model import prepare_model
    from robustbench_lift.engine.runner import Engine

    engine = Engine(prepare_model(tiny_model()), torch.device("cpu"), RunOptions(progress=False))
    levels = torch.randint(0, 256, (4, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    floats = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    tops, finite = {"a": [], "b": []}, {"a": [], "b": []}
    with torch.inference_mode():
        engine._forward_queue([("a", levels), ("b", floats)], tops, finite)
        alone = {"a": engine.forward(levels)[0], "b": engine.forward(floats)[0]}
    for cell in ("a", "b"):
        assert torch.equal(tops[cell][0], alone[cell])
