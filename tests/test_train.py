"""`liftbench train`: the loss falls for every pooling, one step is plain SGD on CE + lifting loss, mid-epoch resume
is exact, foreign checkpoints are refused, final.pt loads from the zoo, two gloo ranks agree, CIFAR pickles load."""

import hashlib
import pickle

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from distributed_fixtures import free_port, train_rank
from single_thread_fixtures import single_thread  # noqa: F401

import robustbench_lift.training.loop as train_module
from robustbench_lift.cli import main
from robustbench_lift.data.demo import MEAN, STD, demo_dataset
from robustbench_lift.engine import ModelOptions
from robustbench_lift.errors import UsageError
from robustbench_lift.models import REQUIRED_META, create_model, load_model, read_checkpoint
from robustbench_lift.pooling import lifting_loss, list_pools
from robustbench_lift.training import Recipe, TrainSet, open_train_set, train
from robustbench_lift.training.sets import Split, crop_flip

SIZE = 16
CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
FAST = Recipe(epochs=2, batch_size=16, lr=0.05, label_smoothing=0.1, crop_padding=2)


@pytest.fixture(scope="module")
def tiny() -> TrainSet:
    """48 demo training images and 20 test images of 16x16."""
    return TrainSet("demo16", "demo", Split(*demo_dataset("train", SIZE, limit=48)),
                    Split(*demo_dataset("test", SIZE, limit=20)), 10, MEAN, STD)


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_crop_flip_equals_torchvision_per_image():
    images = demo_dataset("test", SIZE, limit=12)[0]
    out = crop_flip(images, torch.Generator().manual_seed(5), padding=3)
    generator = torch.Generator().manual_seed(5)
    offsets = torch.randint(0, 7, (2, 12), generator=generator)
    flips = torch.rand(12, generator=generator) < 0.5
    for image, result, top, left, flip in zip(images, out, offsets[0], offsets[1], flips):
        expected = TF.crop(TF.pad(image, 3), int(top), int(left), SIZE, SIZE)
        assert torch.equal(result, TF.hflip(expected) if flip else expected)


@pytest.mark.parametrize("pool", list_pools())
def test_a_few_steps_decrease_the_loss(pool, tiny, tmp_path):
    recipe = Recipe(epochs=4, batch_size=24, lr=0.05, augment="none")
    path = train(f"demo-{pool}", tiny, tmp_path, recipe, progress=False)
    images = (tiny.train.images.float() / 255 - 0.5) / 0.25  # the demo MEAN and STD

    def loss(model: torch.nn.Module) -> float:
        with torch.no_grad():
            return float(F.cross_entropy(model.train()(images), tiny.train.labels))

    before, after = loss(create_model(f"demo-{pool}", seed=0)), loss(load_model(path))
    assert after < before - 0.1, (before, after)
    history = read_checkpoint(path)[1]["history"]
    assert (history[0]["lift_loss"] > 0) == (pool == "lift")


def sgd_step(tiny: TrainSet, lr: float, lambdas: tuple[float, float] | None) -> dict[str, torch.Tensor]:
    """Parameters of demo-lift after one SGD step on all of `tiny`'s images: CE (+ lifting loss with `lambdas`)."""
    model = create_model("demo-lift", seed=0).train()
    task = F.cross_entropy(model((tiny.train.images.float() / 255 - 0.5) / 0.25), tiny.train.labels,
                           label_smoothing=0.1)
    lift = lifting_loss(model, *lambdas) if lambdas else 0
    (task + lift).backward()
    with torch.no_grad():
        return {name: p - lr * p.grad for name, p in model.named_parameters()}


def test_one_step_is_sgd_on_cross_entropy_plus_lifting_loss(tiny, tmp_path):
    recipe = Recipe(epochs=1, batch_size=48, lr=0.3, momentum=0.0, weight_decay=0.0, label_smoothing=0.1,
                    augment="none", lambda_u=0.02, lambda_p=0.2)
    trained = read_checkpoint(train("demo-lift", tiny, tmp_path, recipe, progress=False))[0]
    expected, without = sgd_step(tiny, 0.3, (0.02, 0.2)), sgd_step(tiny, 0.3, None)
    for name, value in expected.items():  # the cosine factor of the single step is 1: one plain SGD step
        torch.testing.assert_close(trained[name], value, atol=2e-5, rtol=1e-4)
    assert max(float((trained[n] - without[n]).abs().max()) for n in expected) > 1e-3


def test_mid_epoch_resume_equals_uninterrupted(tiny, tmp_path, monkeypatch):
    """3 steps per epoch, last.pt every 2 steps: the run dies right after saving epoch 2, step 1, then resumes."""
    straight_path = train("demo-lift", tiny, tmp_path / "a", FAST, progress=False)
    original = train_module.save_atomically

    def crash_mid_second_epoch(state, path):
        original(state, path)
        if (state["epoch"], state["step"]) == (1, 1):
            raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "save_atomically", crash_mid_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train("demo-lift", tiny, tmp_path / "b", FAST, checkpoint_every=2, progress=False)
    monkeypatch.setattr(train_module, "save_atomically", original)
    assert not (tmp_path / "b" / "final.pt").exists()
    resumed, meta = read_checkpoint(train("demo-lift", tiny, tmp_path / "b", FAST, checkpoint_every=2,
                                          progress=False))
    straight, straight_meta = read_checkpoint(straight_path)
    assert states_equal(resumed, straight)
    keys = ("epoch", "loss", "lift_loss", "train_acc", "test_acc", "lr")
    assert [[e[k] for k in keys] for e in meta["history"]] == [[e[k] for k in keys] for e in straight_meta["history"]]


def test_resume_with_another_recipe_is_refused(tiny, tmp_path):
    recipe = Recipe(epochs=1, batch_size=24, augment="none")
    train("demo-max", tiny, tmp_path, recipe, progress=False)
    with pytest.raises(UsageError, match=r"lr.*--no-resume"):
        train("demo-max", tiny, tmp_path, recipe.override(lr=0.2), progress=False)
    with pytest.raises(UsageError, match="model"):
        train("demo-avg", tiny, tmp_path, recipe, progress=False)
    path = train("demo-max", tiny, tmp_path, recipe.override(lr=0.2), resume=False, progress=False)
    assert read_checkpoint(path)[1]["recipe"]["lr"] == 0.2


def test_final_checkpoint_carries_the_zoo_metadata(tiny, tmp_path):
    path = train("demo-blur", tiny, tmp_path, Recipe(epochs=1, batch_size=24), progress=False)
    assert (tmp_path / "final.pt.sha256").read_text() == \
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  final.pt\n"
    model = load_model(path).eval()
    meta = model.liftbench_meta
    assert all(meta[key] is not None for key in REQUIRED_META)
    assert (meta["model"], meta["num_classes"], meta["dataset"]) == ("demo-blur", 10, "demo16")
    assert (tuple(meta["mean"]), tuple(meta["std"])) == (MEAN, STD)
    assert meta["recipe"]["batch_size"] == 24 and meta["version"]
    with torch.no_grad():
        predictions = model((tiny.test.images.float() / 255 - 0.5) / 0.25).argmax(1)
    assert meta["test_acc"] == pytest.approx(float((predictions == tiny.test.labels).float().mean()))


def test_bad_requests_name_the_fix(tiny, tmp_path):
    with pytest.raises(UsageError, match="exceeds the 48"):
        train("demo-max", tiny, tmp_path, Recipe(epochs=1, batch_size=64), progress=False)
    with pytest.raises(UsageError, match="num_classes=100"):
        train("demo-max", tiny, tmp_path, FAST, options=ModelOptions(num_classes=100), progress=False)
    with pytest.raises(UsageError, match="not mean, std: leave them unset"):
        train("demo-max", tiny, tmp_path, FAST, options=ModelOptions(mean=(0.5,) * 3, std=(0.2,) * 3), progress=False)
    with pytest.raises(UsageError, match="use crop_flip"):
        train("demo-max", tiny, tmp_path, FAST.override(augment="resized_crop_flip"), progress=False)
    with pytest.raises(UsageError, match="lr=-1"):
        FAST.override(lr=-1)
    with pytest.raises(UsageError, match="not found"):
        open_train_set(tmp_path / "missing")


def write_cifar(root, name: str, files: list[str], key: str, count: int, classes: int) -> dict[str, np.ndarray]:
    """Fake torchvision pickles: `count` random images per file in CIFAR's 3072-byte channel-major rows."""
    folder = root / name
    folder.mkdir(parents=True)
    rng, written = np.random.default_rng(0), {}
    for file in files:
        data = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
        labels = [int(i % classes) for i in range(count)]
        with open(folder / file, "wb") as f:
            pickle.dump({"data": data, key: labels}, f)
        written[file] = data
    return written


def test_cifar_pickles_load_as_cifar10_and_cifar100(tmp_path):
    ten = write_cifar(tmp_path / "c10", "cifar-10-batches-py", CIFAR10_FILES, "labels", 4, 10)
    data = open_train_set(tmp_path / "c10")
    assert (data.name, data.kind, data.num_classes) == ("cifar10", "cifar", 10)
    assert (len(data.train), len(data.test)) == (20, 4)
    row = ten["data_batch_2"][1]  # image 5: the second of the second batch; channel planes of 32x32
    assert torch.equal(data.train.images[5], torch.from_numpy(row.reshape(3, 32, 32)))
    assert torch.equal(data.test.images[3, 2], torch.from_numpy(ten["test_batch"][3][2048:].reshape(32, 32)))
    write_cifar(tmp_path / "c100", "cifar-100-python", ["train", "test"], "fine_labels", 6, 100)
    hundred = open_train_set(tmp_path / "c100" / "cifar-100-python")
    assert (hundred.name, hundred.num_classes, len(hundred.train)) == ("cifar100", 100, 6)


def test_cli_trains_on_cifar_pickles(tmp_path, capsys):
    """Also from a --config file (the command line winning: batch 10, not the file's 20)."""
    write_cifar(tmp_path, "cifar-10-batches-py", CIFAR10_FILES, "labels", 4, 10)
    (tmp_path / "run.yaml").write_text("model: demo-max\nepochs: 1\nbatch-size: 20\nprogress: false\n")
    args = ["train", "--config", str(tmp_path / "run.yaml"), "--data", str(tmp_path), "--out", str(tmp_path / "run"),
            "--batch-size", "10"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and f"checkpoint: {tmp_path / 'run' / 'final.pt'}" in out
    meta = read_checkpoint(tmp_path / "run" / "final.pt")[1]
    assert (meta["dataset"], meta["recipe"]["epochs"], meta["recipe"]["weight_decay"]) == ("cifar10", 1, 5e-4)
    assert meta["recipe"]["batch_size"] == 10
    assert f"test accuracy: {100 * meta['test_acc']:.2f}%" in out
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--model", "demo-max", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r2")])
    assert exit_info.value.code == 2 and "not found" in capsys.readouterr().err


def test_ddp_two_gloo_ranks_end_with_identical_weights(tiny, tmp_path):
    mp.spawn(train_rank, args=(free_port(), "demo-lift", tiny, str(tmp_path), FAST), nprocs=2, join=True)
    zero, one = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    final, meta = read_checkpoint(tmp_path / "final.pt")
    assert states_equal(zero, one) and states_equal(zero, final)
    assert meta["world_size"] == 2 and len(meta["history"]) == 2 and meta["test_acc"] is not None
    assert not states_equal(final, create_model("demo-lift", seed=0).state_dict())
