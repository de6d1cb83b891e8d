"""Suite `p`: flip probability and top-5 distance against hand-computed sequences, on-the-fly sequences against
an independent per-image loop, baselines, released videos, resume and distribution."""

import os
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
from evaluate_fixtures import MEAN, STD, InvariantNet, bordered_set, photo_set, sorted_paths, tiny_model, write_folder
from single_thread_fixtures import single_thread  # noqa: F401
from test_evaluate_distributed import free_port

from corruptions.names import P_SUBSETS
from corruptions.perturbations import perturbation_sequence
from corruptions.seeding import derive_seed
from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.errors import UsageError
from robustbench_lift.metrics.perturbation import per_sequence
from robustbench_lift.report.aggregate import summarize
from robustbench_lift.store import load_results
from robustbench_lift.suites.options import PerturbationOptions
from robustbench_lift.suites.perturbation import PerturbationSuite

# Two sequences of 4 frames (top-5 lists, best first). Sequence 0, consecutive pairs: (f0, f1) same, (f1, f2)
# top-1 flips and classes 0, 1 swap ranks (distance |0-1| + |1-0| = 2), (f2, f3) class 4 drops out of the
# top 5 (|4 - 5| = 1): FP 1/3, uT5D 3/3. Against the first frame: (f0, f1) 0, (f0, f2) flip and 2, (f0, f3)
# flip and 2 + 1: FP 2/3, uT5D 5/3. Sequence 1 never changes: 0 and 0.
SEQUENCES = np.array([[[0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [1, 0, 2, 3, 4], [1, 0, 2, 3, 5]],
                      [[2, 3, 4, 0, 1]] * 4])


def test_hand_computed_flip_probability_and_t5d():
    fp, ut5d = per_sequence(("rotate", 1), SEQUENCES)
    assert fp == pytest.approx([1 / 3, 0]) and ut5d == pytest.approx([1, 0])
    fp, ut5d = per_sequence(("gaussian_noise", 1), SEQUENCES)  # noise: every frame against the first
    assert fp == pytest.approx([2 / 3, 0]) and ut5d == pytest.approx([5 / 3, 0])
    # three classes: the top-3 lists [0 1 2] -> [1 0 2] -> [1 2 0]: distances 2, then 0 + 1 + 1 = 2
    fp, ut5d = per_sequence(("rotate", 1), np.array([[[0, 1, 2], [1, 0, 2], [1, 2, 0]]]))
    assert fp == pytest.approx([1 / 2]) and ut5d == pytest.approx([2])


def write_photos(root, size=48):
    images, labels = photo_set(size)
    write_folder(root, images, labels)
    return root


def model_top5(model, frames):
    """Top-k `(T, k)` of one sequence `(T, 3, H, W)` uint8, one forward per frame."""
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        logits = torch.cat([model((frame[None].float() / 255 - mean) / std) for frame in frames])
    return logits.topk(3, dim=1).indices.numpy()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_photos(tmp_path_factory.mktemp("p") / "photos")


@pytest.fixture(scope="module")
def oblong(tmp_path_factory):
    """The photographs cut to 48 x 72 and 72 x 48 (landscape and portrait), in one folder."""
    root = tmp_path_factory.mktemp("p") / "oblong"
    images, labels = photo_set(72)
    write_folder(root, images[:4, :, 12:60], labels[:4])
    write_folder(root, images[4:8, :, :, 12:60], labels[4:8])
    return root


def test_on_the_fly_equals_independent_loop_on_whole_images(oblong, tmp_path):
    """make_imagenet_p.py: Resize(40) of the whole image, perturbed, then CenterCrop(32); images of two shapes."""
    import torchvision.transforms.functional as TF
    from PIL import Image

    model = tiny_model()
    names = ["gaussian_noise", "brightness", "translate", "scale"]
    frame = evaluate(model, PerturbationOptions(perturbations=names, resize=40, crop=32), oblong,
                     run=RunOptions(batch_size=40, seed=3, out=tmp_path / "r.db", progress=False))
    assert sorted(frame["corruption"]) == sorted(names) and (frame["dataset"] == "oblong-otf").all()
    paths = sorted_paths(oblong)
    for row in frame.itertuples():
        expected, flips = [], []
        for index, path in enumerate(paths):
            whole = TF.pil_to_tensor(TF.resize(Image.open(path).convert("RGB"), 40))[None]
            assert min(whole.shape[-2:]) == 40 and max(whole.shape[-2:]) == 60
            generator = torch.Generator().manual_seed(derive_seed(3, row.corruption, 1, index))
            frames = perturbation_sequence(whole, row.corruption, out_size=32, generator=generator)[0]
            top = model_top5(model, frames)
            expected.append(top)
            reference = top[0] if row.corruption == "gaussian_noise" else None
            flips.append(np.mean([top[j, 0] != (reference if reference is not None else top[j - 1])[0]
                                  for j in range(1, len(top))]))
        assert np.array_equal(row.predictions, np.stack(expected)), row.corruption
        assert row.flip_prob == pytest.approx(np.mean(flips))
    assert frame["flip_prob"].max() > 0  # the model does react to the perturbations


def test_deterministic_per_seed_and_batch_size(photos):
    runs = [evaluate(tiny_model(), PerturbationOptions(perturbations=["shot_noise"], resize=40, crop=32), photos,
                     run=RunOptions(batch_size=b, seed=s, progress=False)) for b, s in ((31, 0), (200, 0), (31, 1))]
    assert np.array_equal(runs[0].loc[0, "predictions"], runs[1].loc[0, "predictions"])
    assert runs[0].loc[0, "fingerprint"] == runs[1].loc[0, "fingerprint"]
    assert runs[0].loc[0, "fingerprint"]["seed"] != runs[2].loc[0, "fingerprint"]["seed"]


def test_invariant_model_never_flips_on_translate(tmp_path):
    images, labels = bordered_set()
    write_folder(tmp_path / "bordered", images, labels)
    model = InvariantNet()
    frame = evaluate(model,
                     PerturbationOptions(perturbations=["translate", "rotate"], resize=None, crop=None, preset="cifar"),
                     tmp_path / "bordered", run=RunOptions(progress=False))
    assert (frame["dataset"] == "bordered-otf-cifar").all()
    translate = frame[frame["corruption"] == "translate"].iloc[0]
    assert translate["predictions"].shape[:2] == (9, 16)  # CIFAR-10-P translate at 32 px
    assert translate["flip_prob"] == 0 and translate["ut5d"] == 0
    assert len(set(translate["predictions"][:, 0, 0])) > 1  # not a constant model
    assert frame.loc[frame["corruption"] == "rotate", "ut5d"].iloc[0] > 0


def test_demo_with_limit_and_baselines(tmp_path):
    store = tmp_path / "base.db"
    names = ["translate", "brightness"]
    base = evaluate(tiny_model(10, seed=1), PerturbationOptions(perturbations=names, preset="cifar"), "demo",
                    run=RunOptions(limit=10, out=store, progress=False), options=ModelOptions(name="base"))
    assert (base["n"] == 10).all() and (base["dataset"] == "demo-otf-cifar").all()
    assert base.loc[base["corruption"] == "translate", "predictions"].iloc[0].shape[1] == 16  # CIFAR-10-P
    frame = evaluate(tiny_model(10), PerturbationOptions(perturbations=names, p_baseline=store, preset="cifar"), "demo",
                     run=RunOptions(limit=10, out=tmp_path / "m.db", progress=False), options=ModelOptions(name="m"))
    fp = {row.corruption: per_sequence((row.corruption, 1), row.predictions)[0].mean() for row in frame.itertuples()}
    base_fp = {row.corruption: row.flip_prob for row in base.itertuples()}
    for row in frame.itertuples():
        assert row.flip_prob == pytest.approx(fp[row.corruption])
        assert row.fr == pytest.approx(fp[row.corruption] / base_fp[row.corruption])
        assert row.p_baseline == "base (base.db, demo-otf-cifar)"
    summary = summarize(frame, n_boot=50).iloc[0]
    assert summary["mFR"] == pytest.approx(np.mean([fp[n] / base_fp[n] for n in names]))
    assert summary["mFP_lo"] <= summary["mFP"] <= summary["mFP_hi"]
    # a CSV baseline re-scores the stored cells without running the model again
    csv = tmp_path / "alexnet.csv"
    pd.DataFrame({"perturbation": names, "flip_prob": [0.5, 0.25], "ut5d": [2.0, 4.0]}).to_csv(csv, index=False)
    again = evaluate(tiny_model(10), PerturbationOptions(perturbations=names, p_baseline=csv, preset="cifar"), "demo",
                     run=RunOptions(limit=10, out=tmp_path / "m.db", progress=False), options=ModelOptions(name="m"))
    assert (again["run_id"] == 1).all()
    for row in again.itertuples():
        assert row.p_baseline == "alexnet.csv"
        assert row.t5d == pytest.approx(row.ut5d / {"translate": 2.0, "brightness": 4.0}[row.corruption])
    with pytest.raises(UsageError, match="has no values for rotate/1"):
        evaluate(tiny_model(10), PerturbationOptions(perturbations=["rotate"], p_baseline=csv, preset="cifar"), "demo",
                 run=RunOptions(limit=2, progress=False))


def test_every_perturbation_has_difficulties_as_test_py(tmp_path):
    """Difficulty d of a non-noise perturbation scores its one sequence at frame gap d (frame j against j - d);
    a noise's difficulty is a stronger noise, still against the first frame."""
    names = ["rotate", "snow", "shot_noise"]
    frame = evaluate(tiny_model(10), PerturbationOptions(perturbations=names, difficulties=[1, 2, 3], preset="cifar"),
                     "demo", run=RunOptions(limit=4, progress=False))
    cells = {(row.corruption, row.severity): row for row in frame.itertuples()}
    assert sorted(cells) == sorted((p, d) for p in names for d in (1, 2, 3))
    for name in ("rotate", "snow"):
        for d in (2, 3):
            assert np.array_equal(cells[(name, d)].predictions, cells[(name, 1)].predictions)
            top1 = cells[(name, d)].predictions[..., 0]
            gap = [np.mean([video[j] != video[j - d] for j in range(d, len(video))]) for video in top1]
            assert cells[(name, d)].flip_prob == pytest.approx(np.mean(gap))
    assert cells[("rotate", 3)].flip_prob != cells[("rotate", 1)].flip_prob
    top1 = cells[("shot_noise", 3)].predictions[..., 0]
    assert cells[("shot_noise", 3)].flip_prob == pytest.approx(np.mean(top1[:, 1:] != top1[:, :1]))
    # other sequences (Poisson rate 200, not 700), the clean frame 0 shared
    assert not np.array_equal(cells[("shot_noise", 3)].predictions, cells[("shot_noise", 1)].predictions)
    assert np.array_equal(cells[("shot_noise", 3)].predictions[:, 0], cells[("shot_noise", 1)].predictions[:, 0])
    # means per difficulty over the perturbations CIFAR-10-P's cifar-p-eval.py averages (not snow)
    summary = summarize(frame, n_boot=0).iloc[0]
    assert summary["mFP@3"] == pytest.approx(np.mean([cells[(p, 3)].flip_prob for p in ("rotate", "shot_noise")]))
    assert summary["mFP"] == pytest.approx(np.mean([cells[(p, 1)].flip_prob for p in ("rotate", "shot_noise")]))
    assert summary["FP/snow@2"] == pytest.approx(cells[("snow", 2)].flip_prob)


def test_cifar_preset_defaults_to_cifar_p_eval_perturbations():
    suite = PerturbationSuite("demo", PerturbationOptions(preset="cifar"))
    assert [p for p, _ in suite.cells] == list(P_SUBSETS["cifar"]) and "snow" not in P_SUBSETS["cifar"]
    assert {"spatter", "gaussian_noise", "tilt"} <= set(P_SUBSETS["cifar"]) and len(P_SUBSETS["cifar"]) == 10
    imagenet = PerturbationSuite("demo", PerturbationOptions(preset="imagenet"))
    assert [p for p, _ in imagenet.cells] == list(P_SUBSETS["test"])


def test_resume_equals_single_run(photos, tmp_path):
    snow = PerturbationOptions(perturbations=["snow"], resize=40, crop=32)
    both = replace(snow, perturbations=["snow", "zoom_blur"])
    tiny, run = ModelOptions(name="tiny"), RunOptions(progress=False, out=tmp_path / "r.db")
    evaluate(tiny_model(), snow, photos, run=run, options=tiny)
    resumed = evaluate(tiny_model(), both, photos, run=run, options=tiny)
    single = evaluate(tiny_model(), both, photos, run=replace(run, out=None), options=tiny)
    assert sorted(resumed["run_id"]) == [1, 2]
    for a, b in zip(resumed.itertuples(), single.itertuples()):
        assert np.array_equal(a.predictions, b.predictions) and a.flip_prob == b.flip_prob


def rank_main(rank: int, world_size: int, port: int, data: str, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    evaluate(tiny_model(), PerturbationOptions(perturbations=["speckle_noise", "tilt"], resize=40, crop=32), data,
             run=RunOptions(out=out, batch_size=31, progress=False), options=ModelOptions(name="tiny"))


def test_two_gloo_ranks_equal_one(photos, tmp_path):
    mp.spawn(rank_main, args=(2, free_port(), str(photos), str(tmp_path / "two.db")), nprocs=2, join=True)
    one = evaluate(tiny_model(), PerturbationOptions(perturbations=["speckle_noise", "tilt"], resize=40, crop=32),
                   photos, run=RunOptions(progress=False), options=ModelOptions(name="tiny"))
    two = load_results(tmp_path / "two.db", predictions=True)
    assert len(two) == 2 and (two["n"] == 9).all()
    for a, b in zip(two.itertuples(), one.itertuples()):
        assert np.array_equal(a.predictions, b.predictions) and a.ut5d == b.ut5d


def write_videos(root, frames: torch.Tensor, labels: torch.Tensor, folder: str) -> None:
    """`root/<folder>/<class>/vid<i>.mp4`, H.264 at 1 fps like the release."""
    import av
    from evaluate_fixtures import CLASSES

    for i, (video, label) in enumerate(zip(frames, labels)):
        path = root / folder / CLASSES[int(label)] / f"vid{i}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=1)
            stream.width, stream.height, stream.pix_fmt = video.shape[-1], video.shape[-2], "yuv420p"
            for frame in video:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame.permute(1, 2, 0).numpy(), "rgb24")))
            container.mux(stream.encode())


def test_released_videos_equal_independent_decoding(tmp_path):
    av = pytest.importorskip("av")
    images, labels = photo_set(32)
    write_videos(tmp_path / "P", perturbation_sequence(images, "rotate", length=5), labels, "rotate")
    write_videos(tmp_path / "P", perturbation_sequence(images, "gaussian_noise", length=4, difficulty=2,
                                                       generator=torch.Generator().manual_seed(0)),
                 labels, "gaussian_noise_2")
    model = tiny_model()
    frame = pd.concat([evaluate(model, PerturbationOptions(perturbations=["rotate"], difficulties=[1, 2]),
                                tmp_path / "P", run=RunOptions(batch_size=8, progress=False)),
                       evaluate(model, PerturbationOptions(perturbations=["gaussian_noise"], difficulties=[2]),
                                tmp_path / "P", run=RunOptions(batch_size=8, progress=False))], ignore_index=True)
    assert sorted(zip(frame["corruption"], frame["severity"])) == [("gaussian_noise", 2), ("rotate", 1),
                                                                   ("rotate", 2)]  # rotate/2: folder rotate
    assert (frame["dataset"] == "P").all()
    for row in frame.itertuples():
        folder = tmp_path / "P" / ("rotate" if row.corruption == "rotate" else "gaussian_noise_2")
        expected = []
        for path in sorted_paths(folder):
            with av.open(str(path)) as container:
                decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
            expected.append(model_top5(model, torch.from_numpy(np.stack(decoded)).permute(0, 3, 1, 2)))
        assert np.array_equal(row.predictions, np.stack(expected))
    with pytest.raises(UsageError, match="no folder translate/"):
        evaluate(model, PerturbationOptions(perturbations=["translate"]), tmp_path / "P",
                 run=RunOptions(progress=False))


def test_missing_pyav_is_a_clear_usage_error(tmp_path, monkeypatch):
    from robustbench_lift.data.imagenet_p import decode_video

    monkeypatch.setitem(__import__("sys").modules, "av", None)  # `import av` now raises ImportError
    with pytest.raises(UsageError, match=r"needs PyAV.*robustbench-lift\[video\]"):
        decode_video(tmp_path / "any.mp4")


@pytest.mark.parametrize("options, message", [
    (dict(perturbations=["rotat"]), "unknown perturbation 'rotat'"),
    (dict(difficulties=[4]), "difficulties must be in 1..3"),
    (dict(p_baseline="missing.csv"), "p baseline missing.csv not found"),
    (dict(preset="cifar10"), "unknown severity preset 'cifar10'"),
    (dict(crop=None), "resized image folders need a crop"),
])
def test_usage_errors(photos, options, message):
    with pytest.raises(UsageError, match=message):
        evaluate(tiny_model(), PerturbationOptions(**options), photos, run=RunOptions(progress=False))
