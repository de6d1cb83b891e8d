"""Suite seg end to end: per-image counts against a confusion-matrix oracle, images of two sizes, a rendered
tree equal to the on-the-fly cells, resume after a crash, mCD against a baseline store, CLI and render."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from single_thread_fixtures import single_thread  # noqa: F401 (autouse)
from torch import nn

from robustbench_lift.cli import cli, main
from robustbench_lift.data.render_segmentation import render_segmentation
from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.models import IMAGENET_MEAN, IMAGENET_STD
from robustbench_lift.report.aggregate import summarize
from robustbench_lift.suites.options import SegmentationOptions

CLASSES = 3
CELLS = dict(corruptions=["gaussian_noise", "contrast"], severities=[1, 3])


class PixelNet(nn.Module):
    """A 1x1 conv: per-pixel logits `(N, 3, H, W)`; `fail_after` forward calls, it raises (a crash)."""

    def __init__(self, seed: int = 0, fail_after: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, CLASSES, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(CLASSES, 3, 1, 1, generator=torch.Generator().manual_seed(seed)))
            self.conv.bias.zero_()
        self.calls, self.fail_after = 0, fail_after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("simulated crash")
        return self.conv(x)


class StridedNet(nn.Module):
    """A stride-2 3x3 conv upsampled back (nearest): labels depend on the crop's alignment (not shift-invariant)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, CLASSES, 3, stride=2, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(CLASSES, 3, 3, 3, generator=torch.Generator().manual_seed(5)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(self.conv(x), scale_factor=2.0)[..., :x.shape[-2], :x.shape[-1]]


def build_tree(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """images/ + masks/ with images of two sizes; masks use every class, ignore pixels and an absent class."""
    rng = np.random.default_rng(0)
    pairs = {}
    for k, size in enumerate([(36, 40), (32, 32), (36, 40), (32, 32), (36, 40)]):
        image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        mask = rng.integers(0, CLASSES - (k % 2), size).astype(np.uint8)
        mask[:2] = 255
        pairs[f"img{k}"] = (image, mask)
        for folder, array in (("images", image), ("masks", mask)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / folder / f"img{k}.png")
    return pairs


def oracle_counts(model: nn.Module, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(2, C) intersection and union from the confusion matrix of one image's argmax over its labelled pixels."""
    x = (torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
         ) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        pred = model.conv(x).argmax(1)[0].numpy()
    confusion = np.zeros((CLASSES, CLASSES), np.int64)
    for p, t in zip(pred[mask != 255], mask[mask != 255]):
        confusion[t, p] += 1
    tp = np.diag(confusion)
    return np.stack([tp, confusion.sum(0) + confusion.sum(1) - tp])


def _by_cell(frame) -> dict:
    return {(c, s): p for c, s, p in zip(frame["corruption"], frame["severity"], frame["predictions"])}


def test_clean_counts_match_a_confusion_matrix_per_image(tmp_path: Path) -> None:
    pairs = build_tree(tmp_path / "set")
    model = PixelNet()
    frame = evaluate(model, SegmentationOptions(**CELLS), tmp_path / "set",
                     run=RunOptions(progress=False, batch_size=4), options=ModelOptions(num_classes=CLASSES))
    clean = frame[frame["corruption"] == "clean"].iloc[0]
    expected = np.stack([oracle_counts(model, *pair) for pair in pairs.values()])
    np.testing.assert_array_equal(clean["predictions"], expected)
    np.testing.assert_array_equal(clean["labels"], [np.bincount(m[m != 255], minlength=CLASSES) for _, m in
                                                    pairs.values()])
    totals = expected.sum(0)
    assert clean["miou"] == pytest.approx(np.mean(totals[0] / totals[1]))
    assert clean["pixel_acc"] == pytest.approx(totals[0].sum() / sum((m != 255).sum() for _, m in pairs.values()))
    assert len(frame) == 6 and frame["top1_err"].isna().all()


def test_rendered_tree_equals_on_the_fly_and_resumes_after_a_crash(tmp_path: Path) -> None:
    build_tree(tmp_path / "set")
    run, pixel_net = RunOptions(progress=False, batch_size=2), ModelOptions(num_classes=CLASSES, name="PixelNet")
    on_the_fly = _by_cell(evaluate(PixelNet(), SegmentationOptions(**CELLS), tmp_path / "set", run=run,
                                   options=pixel_net))
    render_segmentation(tmp_path / "set", tmp_path / "rendered", **CELLS, device="cpu")
    assert (tmp_path / "rendered" / "contrast" / "3" / "masks" / "img4.png").is_file()
    store, rendered = tmp_path / "r.db", SegmentationOptions(clean=tmp_path / "set", **CELLS)
    with pytest.raises(RuntimeError, match="simulated crash"):  # dies after the clean cell and a few more
        evaluate(PixelNet(fail_after=16), rendered, tmp_path / "rendered", run=replace(run, out=store),
                 options=pixel_net)
    survived = _by_cell(evaluate(PixelNet(fail_after=0), replace(rendered, corruptions=["gaussian_noise"],
                                                                 severities=[1]),
                                 tmp_path / "rendered", run=replace(run, out=store), options=pixel_net))
    resumed = _by_cell(evaluate(PixelNet(), rendered, tmp_path / "rendered", run=replace(run, out=store),
                                options=pixel_net))
    assert set(resumed) == set(on_the_fly) and len(survived) == 3
    for cell, counts in resumed.items():
        np.testing.assert_array_equal(counts, on_the_fly[cell])


def test_mcd_against_a_baseline_store(tmp_path: Path) -> None:
    build_tree(tmp_path / "set")
    run, classes = RunOptions(progress=False), ModelOptions(num_classes=CLASSES)
    base = evaluate(PixelNet(seed=1), SegmentationOptions(**CELLS), tmp_path / "set",
                    run=replace(run, out=tmp_path / "b.db"), options=replace(classes, name="base"))
    frame = evaluate(PixelNet(), SegmentationOptions(seg_baseline=tmp_path / "b.db", **CELLS), tmp_path / "set",
                     run=run, options=classes)
    row = summarize(frame, n_boot=50).iloc[0]
    mine, theirs = (dict(zip(zip(f["corruption"], f["severity"]), f["miou"])) for f in (frame, base))
    del mine["shift", 0], theirs["shift", 0]
    cds = [sum(1 - mine[c, s] for s in (1, 3)) / sum(1 - theirs[c, s] for s in (1, 3)) for c in CELLS["corruptions"]]
    assert row["mCD"] == pytest.approx(np.mean(cds))
    assert row["mean_mIoU"] == pytest.approx(np.mean([mine[k] for k in mine if k[0] != "clean"]))
    assert row["mCD_lo"] <= row["mCD"] <= row["mCD_hi"] and row["clean_mIoU"] == pytest.approx(mine["clean", 0])
    with pytest.raises(UsageError, match="no mIoU for"):
        evaluate(PixelNet(), SegmentationOptions(seg_baseline=tmp_path / "b.db", corruptions=["fog"], severities=[1]),
                 tmp_path / "set", run=RunOptions(progress=False), options=ModelOptions(num_classes=CLASSES))


def test_cli_prints_miou_and_renders_a_tree(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "photos").mkdir()
    with pytest.raises(SystemExit) as exited:
        main(["evaluate", "--model", "demo_seg-max", "--suite", "seg", "--data", str(tmp_path), "--out",
              str(tmp_path / "x.db"), "--no-progress"])
    assert exited.value.code == 2 and "no segmentation data set" in capsys.readouterr().err
    build_tree(tmp_path / "set")
    result = CliRunner().invoke(cli, ["render", "--data", str(tmp_path / "set"), "--out", str(tmp_path / "r"),
                                      "--corruptions", "contrast", "--severities", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "r" / "contrast" / "2" / "images").iterdir())[0] == "img0.png"
    result = CliRunner().invoke(cli, ["evaluate", "--model", "demo_seg-max", "--suite", "seg", "--data", "demo",
                                      "--limit", "8", "--corruptions", "contrast", "--severities", "1", "--preset",
                                      "cifar", "--out", str(tmp_path / "d.db"), "--no-progress", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert "clean mIoU" in result.output and "mean mIoU" in result.output


def test_shift_consistency_counts_match_numpy_crops(tmp_path: Path) -> None:
    """Per image: two crops of (H - m + 1, W - m + 1), m = min(H, W) // 8, at the seeded corners; the agreeing
    and overlap pixels of their argmax maps, recomputed in NumPy from the crops' source coordinates."""
    from corruptions.seeding import derive_seed

    pairs = build_tree(tmp_path / "set")
    model = StridedNet()
    frame = evaluate(model, SegmentationOptions(corruptions=["contrast"], severities=[1]), tmp_path / "set",
                     run=RunOptions(progress=False, batch_size=4, seed=7), options=ModelOptions(num_classes=CLASSES))
    cell = frame[frame["corruption"] == "shift"].iloc[0]
    agree, overlap = [], []
    for index, (image, mask) in enumerate(pairs.values()):
        m = min(mask.shape) // 8
        h, w = mask.shape[0] - m + 1, mask.shape[1] - m + 1
        corners = torch.randint(m, (1, 2, 2), generator=torch.Generator().manual_seed(
            derive_seed(7, "seg-shift", 0, index)))[0].numpy()
        labels = {}  # source pixel -> labels predicted by the crops that contain it
        for top, left in corners:
            crop = image[top:top + h, left:left + w]
            x = (torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255 - torch.tensor(IMAGENET_MEAN).view(
                1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
            with torch.no_grad():
                pred = model(x).argmax(1)[0].numpy()
            for (r, c), label in np.ndenumerate(pred):
                labels.setdefault((top + r, left + c), []).append(label)
        shared = [v for v in labels.values() if len(v) == 2]
        agree.append(sum(a == b for a, b in shared))
        overlap.append(len(shared))
    np.testing.assert_array_equal(cell["predictions"].sum(-1), np.stack([agree, overlap], 1))
    assert 0 < sum(agree) < sum(overlap)
    assert cell["consistency"] == pytest.approx(sum(agree) / sum(overlap))
    row = summarize(frame, n_boot=50).iloc[0]
    assert row["seg_consistency"] == pytest.approx(sum(agree) / sum(overlap))
    assert row["seg_consistency_lo"] <= row["seg_consistency"] <= row["seg_consistency_hi"]


def test_mask_labels_beyond_the_models_classes_are_an_error_not_an_index_error(tmp_path: Path) -> None:
    build_tree(tmp_path / "set")
    Image.fromarray(np.full((32, 32), 7, np.uint8)).save(tmp_path / "set" / "masks" / "img1.png")
    with pytest.raises(LiftbenchError, match=r"mask values \[7\] are not classes of a 3-class model"):
        evaluate(PixelNet(), SegmentationOptions(corruptions=["contrast"], severities=[1]), tmp_path / "set",
                 run=RunOptions(progress=False, batch_size=2), options=ModelOptions(num_classes=CLASSES))
