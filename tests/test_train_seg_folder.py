"""Segmentation training on folders: the poly schedule, DeepLab's scale/crop/flip of images and masks alike, the
recipes and splits of VOC, Cityscapes and images/ + masks/, validation over images of several sizes, exact resume,
encoder weights, two gloo ranks."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
import torchvision.transforms.functional as TF
from distributed_fixtures import free_port, train_rank
from PIL import Image
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from torchvision.models import vgg
from torchvision.transforms import InterpolationMode

import robustbench_lift.training.loop as loop_module
from robustbench_lift.cli import main
from robustbench_lift.data.demo import demo_segmentation
from robustbench_lift.data.segmentation import SegmentationFolder
from robustbench_lift.errors import UsageError
from robustbench_lift.models import IMAGENET_MEAN, IMAGENET_STD, create_model, read_checkpoint
from robustbench_lift.training import Recipe, open_train_set, recipe_for, train
from robustbench_lift.training.init import ModelStart, initial_model
from robustbench_lift.training.segmentation import SegmentationTrain

ADDED_FIELDS = ("schedule", "poly_power", "min_scale", "max_scale")
"""Recipe fields added after checkpoints were first written."""
FAST = recipe_for("segmentation").override(epochs=2, batch_size=8, crop_size=32, lr=0.02)


def _write(root: Path, stem: str, image: torch.Tensor, mask: torch.Tensor) -> None:
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(root / "images" / f"{stem}.png")
    Image.fromarray(mask.numpy(), mode="L").save(root / "masks" / f"{stem}.png")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """`train/` (24 demo images with masks, every third one scaled to 40x48) and `val/` (6 more, two sizes)."""
    root = tmp_path_factory.mktemp("seg") / "shapes"
    images, masks = demo_segmentation("train", limit=30)
    for i, (image, mask) in enumerate(zip(images, masks)):
        if i % 3 == 0:
            image = TF.resize(image, [40, 48], InterpolationMode.BILINEAR, antialias=True)
            mask = TF.resize(mask[None], [40, 48], InterpolationMode.NEAREST)[0]
        _write(root / ("train" if i < 24 else "val"), f"{i:03d}", image, mask)
    return root / "train"


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_poly_schedule_is_the_torchvision_reference_after_the_warm_up():
    steps, epochs = 7, 3
    plain = Recipe(epochs=epochs, schedule="poly")
    warm = plain.override(warmup_epochs=1)
    for step in range(steps * epochs):  # references/segmentation/train.py: (1 - x / total) ** 0.9, per step
        assert plain.lr_factor(step, steps) == pytest.approx((1 - step / (steps * epochs)) ** 0.9)
        after = step - steps  # its LinearLR warm-up, then the poly lambda over the remaining steps
        expected = (step + 1) / steps if step < steps else (1 - after / (steps * (epochs - 1))) ** 0.9
        assert warm.lr_factor(step, steps) == pytest.approx(expected)


def test_an_earlier_versions_recipe_reads_with_the_old_behaviour():
    old = {k: v for k, v in Recipe(epochs=3).to_dict().items() if k not in ADDED_FIELDS}
    assert Recipe.from_dict(old) == Recipe(epochs=3) and Recipe.from_dict(old).schedule == "cosine"
    with pytest.raises(UsageError, match="unknown recipe field.*newer"):
        Recipe.from_dict({**old, "mixup": 0.2})


def test_scale_crop_flip_moves_masks_with_their_images(tree):
    folder = SegmentationFolder(tree)
    _, image, mask = folder[0]  # 40 x 48
    doubled = SegmentationTrain(folder, IMAGENET_MEAN)
    doubled.set_epoch(3, FAST.override(min_scale=2.0, max_scale=2.0, crop_size=36))
    big_image = TF.resize(image, [80, 96], InterpolationMode.BILINEAR, antialias=True)
    big_mask = mask.long().repeat_interleave(2, 0).repeat_interleave(2, 1)  # nearest at x2
    flips = set()
    for epoch in range(6):
        doubled.set_epoch(epoch, doubled.recipe)
        index, crop, labels = doubled[0]
        again = doubled[0]
        assert index == 0 and crop.shape == (3, 36, 36) and labels.dtype == torch.int64
        assert torch.equal(crop, again[1]) and torch.equal(labels, again[2])  # the draws are the seed's
        matches = [(top, left, flip) for top in range(45) for left in range(61) for flip in (False, True)
                   if torch.equal(labels, (big_mask.flip(-1) if flip else big_mask)[top:top + 36, left:left + 36])]
        assert any(torch.equal(crop, (big_image.flip(-1) if flip else big_image)[:, top:top + 36, left:left + 36])
                   for top, left, flip in matches)
        flips.update(flip for *_, flip in matches)
    assert flips == {False, True}
    halved = SegmentationTrain(folder, IMAGENET_MEAN)
    halved.set_epoch(0, FAST.override(min_scale=0.5, max_scale=0.5, crop_size=32))
    _, crop, labels = halved[0]  # 20 x 24 inside a 32 x 32 crop: the rest is padding
    outside = labels == 255
    assert int(outside.sum()) >= 32 * 32 - 20 * 24 and int((~outside).sum()) <= 20 * 24
    fill = torch.tensor([round(255 * m) for m in IMAGENET_MEAN], dtype=torch.uint8)
    assert torch.equal(crop[:, 20:, :], fill.view(3, 1, 1).expand(3, 12, 32))


def test_folders_open_with_their_recipe_classes_and_validation_split(tree, tmp_path):
    data = open_train_set(tree)
    assert (data.kind, data.name, data.num_classes, data.dense) == ("segmentation", "shapes", 11, True)
    assert len(data.train) == 24 and len(data.test) == 6 and recipe_for(data.kind).schedule == "poly"
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    listings = voc / "ImageSets" / "Segmentation"
    for folder in ("JPEGImages", "SegmentationClass", "SegmentationClassAug"):
        (voc / folder).mkdir(parents=True)
    listings.mkdir(parents=True)
    for stem in "abc":
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(voc / "JPEGImages" / f"{stem}.jpg")
        Image.fromarray(np.zeros((8, 8), np.uint8), mode="L").save(voc / "SegmentationClass" / f"{stem}.png")
    for stem in "bc":
        Image.fromarray(np.ones((8, 8), np.uint8), mode="L").save(voc / "SegmentationClassAug" / f"{stem}.png")
    (listings / "train.txt").write_text("a\n")
    (listings / "val.txt").write_text("b\n")
    voc_set = open_train_set(tmp_path / "VOCdevkit")
    assert (voc_set.kind, voc_set.num_classes, len(voc_set.train), len(voc_set.test)) == ("voc", 21, 1, 1)
    (listings / "train_aug.txt").write_text("c\n")  # SBD's masks: read from SegmentationClassAug
    assert int(open_train_set(tmp_path / "VOCdevkit").train.images.folder[0][2].max()) == 1
    (listings / "train_aug.txt").write_text("c\nb\n")
    with pytest.raises(UsageError, match=r"1 validation images .* also training images \(first: .*b.jpg\)"):
        open_train_set(tmp_path / "VOCdevkit")
    assert recipe_for("voc").crop_size == 513 and recipe_for("cityscapes").crop_size == 768
    ade = tmp_path / "ade"
    for split in ("training", "validation"):
        (ade / "images" / split).mkdir(parents=True)
        (ade / "annotations" / split).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(ade / "images" / split / "x.jpg")
        Image.fromarray(np.ones((8, 8), np.uint8), mode="L").save(ade / "annotations" / split / "x.png")
    ade_set = open_train_set(ade)
    assert (ade_set.kind, ade_set.num_classes, len(ade_set.train), len(ade_set.test)) == ("ade20k", 150, 1, 1)
    with pytest.raises(UsageError, match="augment=crop_flip does not apply.*segmentation folder.*scale_crop_flip"):
        train("demo_seg-max", data, tmp_path / "bad", FAST.override(augment="crop_flip"), progress=False)


def test_a_run_validates_on_images_of_two_sizes_and_resumes_exactly(tree, tmp_path, monkeypatch):
    """3 steps per epoch, last.pt every 2 steps: the run dies after saving epoch 2, step 1, then resumes."""
    straight_path = train("demo_seg-max", tree, tmp_path / "a", FAST, progress=False)
    original = loop_module.save_atomically

    def crash(state, path):
        original(state, path)
        if (state["epoch"], state["step"]) == (1, 1):
            raise KeyboardInterrupt

    monkeypatch.setattr(loop_module, "save_atomically", crash)
    with pytest.raises(KeyboardInterrupt):
        train("demo_seg-max", tree, tmp_path / "b", FAST, checkpoint_every=2, progress=False)
    monkeypatch.setattr(loop_module, "save_atomically", original)
    resumed, _ = read_checkpoint(train("demo_seg-max", tree, tmp_path / "b", FAST, checkpoint_every=2,
                                       progress=False))
    straight, meta = read_checkpoint(straight_path)
    assert states_equal(resumed, straight) and meta["recipe"]["schedule"] == "poly"
    model = create_model("demo_seg-max", weights=straight_path).eval()
    right = labelled = 0
    for _, image, mask in SegmentationFolder(tree.with_name("val")):  # one image at a time, independently
        x = (image.float() / 255 - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)
        with torch.no_grad():
            predicted = model(x[None])[0].argmax(0)
        right, labelled = right + int((predicted == mask.long()).sum()), labelled + mask.numel()
    record = json.loads((tmp_path / "a" / "log.jsonl").read_text().splitlines()[-1])
    assert record["test_acc"] == pytest.approx(right / labelled, abs=1e-9)
    assert record["lr"] == pytest.approx(FAST.lr * FAST.lr_factor(2 * 3, 3))  # the poly factor after the last step


def test_cli_trains_on_a_folder_with_its_recipe_and_the_options_given(tree, tmp_path, capsys):
    args = ["train", "--model", "demo_seg-lift", "--data", str(tree), "--out", str(tmp_path / "run"), "--epochs", "1",
            "--batch-size", "12", "--crop-size", "24", "--min-scale", "0.75", "--schedule", "cosine", "--no-progress"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out = capsys.readouterr().out
    meta = read_checkpoint(tmp_path / "run" / "final.pt")[1]
    assert exit_info.value.code == 0 and f"test accuracy: {100 * meta['test_acc']:.2f}%" in out
    recipe = Recipe.from_dict(meta["recipe"])
    assert recipe == recipe_for("segmentation").override(epochs=1, batch_size=12, crop_size=24, min_scale=0.75,
                                                         schedule="cosine")
    with pytest.raises(SystemExit) as exit_info:
        main([*args[:6], str(tmp_path / "r2"), "--schedule", "step", "--no-progress"])
    assert exit_info.value.code == 2 and "schedule='step': expected one of cosine, poly" in capsys.readouterr().err


def test_encoder_weights_load_into_a_segnet_encoder(tmp_path):
    torch.manual_seed(3)
    features = vgg.make_layers(vgg.cfgs["D"], batch_norm=True)  # torchvision's VGG-16-BN `features`
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, tmp_path / "vgg16_bn.pth")
    module, _ = initial_model(ModelStart("segnet_vgg16_bn-lift", encoder_weights=tmp_path / "vgg16_bn.pth"), 5, 0)
    assert all(torch.equal(module.features.state_dict()[k], v) for k, v in features.state_dict().items())
    assert module.liftbench_meta["encoder_weights"] == "vgg16_bn.pth"
    with pytest.raises(UsageError, match="encoder-weights is for segmentation models"):
        initial_model(ModelStart("demo-max", encoder_weights=tmp_path / "vgg16_bn.pth"), 10, 0)


@pytest.mark.slow
def test_ddp_two_gloo_ranks_end_with_identical_lift_segnets(tree, tmp_path):
    mp.spawn(train_rank, args=(free_port(), "demo_seg-lift", str(tree), str(tmp_path), FAST.override(epochs=1)),
             nprocs=2, join=True)
    zero, one = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    final, meta = read_checkpoint(tmp_path / "final.pt")
    assert states_equal(zero, one) and states_equal(zero, final)
    assert meta["world_size"] == 2 and meta["test_acc"] is not None
    assert not states_equal(final, create_model("demo_seg-lift", num_classes=11, seed=0).state_dict())
