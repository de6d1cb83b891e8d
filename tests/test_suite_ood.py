"""Suite ood: ImageNet-V2's folders are class indices (not sorted names), ImageNet-R/-A rank only their 200 outputs
(checked against a hand computation), a mapped set predicts folders, and a wrong layout is one line naming it.

Every image is a flat colour whose red and green channels spell a number (`code`); `CodeModel` reads it back, so
a test knows exactly what the model saw."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from robustbench_lift.cli import main
from robustbench_lift.data.ood import imagenet_index, shift_set, wnids
from robustbench_lift.engine import ModelOptions, RunOptions, evaluate
from robustbench_lift.errors import UsageError
from robustbench_lift.suites.options import OODOptions

R_FIRST_INDICES = [1, 2, 4, 6, 8, 9, 11, 13, 22, 23]
"""hendrycks/imagenet-r eval.py (commit 3131cac), the comment listing `imagenet_r_indices`: its first ten."""
A_FIRST_INDICES = [6, 11, 13, 15, 17, 22, 23, 27, 30, 37]
"""hendrycks/natural-adv-examples eval.py (commit 0777070), `thousand_k_to_200`: the first ten k mapped to 0..9."""
RAW = OODOptions(resize=None, crop=None)  # 8x8 images as they are


def write(folder, codes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for code in codes:
        pixel = np.array([code % 256, code // 256, 0], dtype=np.uint8)
        Image.fromarray(np.tile(pixel, (8, 8, 1))).save(folder / f"{code}.png")


class CodeModel(nn.Module):
    """1000 logits: the one-hot of an image's code (`oracle`) or seeded random logits per code."""

    def __init__(self, oracle: bool = True) -> None:
        super().__init__()
        self.oracle = oracle
        self.table = torch.randn(1000, 1000, generator=torch.Generator().manual_seed(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code = (x[:, 0, 0, 0] * 255).round().long() + 256 * (x[:, 1, 0, 0] * 255).round().long()
        return nn.functional.one_hot(code, 1000).float() if self.oracle else self.table[code]


def run(model: nn.Module, data, options: OODOptions = RAW):
    return evaluate(model, options, data, run=RunOptions(progress=False, batch_size=16),
                    options=ModelOptions(num_classes=1000, mean=(0, 0, 0), std=(1, 1, 1)))


def test_v2_folders_are_class_indices_not_sorted_names(tmp_path):
    root = tmp_path / "imagenetv2-matched-frequency-format-val"
    for index in range(1000):
        (root / str(index)).mkdir(parents=True)
    chosen = [2, 10, 100, 999, 0]  # sorted as strings (0, 1, 10, 100, 101, ...) 2, 10 and 100 move
    for index in chosen:
        write(root / str(index), [index])
    cells = run(CodeModel(), root)
    (cell,) = cells.itertuples()
    assert (cell.suite, cell.corruption, cell.top1_err) == ("ood", "imagenet-v2-matched-frequency", 0.0)
    assert sorted(cell.labels.tolist()) == sorted(chosen)
    sorted_names = {name: i for i, name in enumerate(sorted(map(str, range(1000))))}
    assert sum(sorted_names[str(i)] != i for i in chosen) == 3  # what a string-sorted ImageFolder would get wrong


def make_tree(root, classes, per_class: int = 2) -> dict[int, int]:
    """Every folder of `classes` (wnids); `per_class` images in the first eight, coded by 1k index; {code: index}."""
    index = imagenet_index()
    codes = {}
    for j, wnid in enumerate(classes):
        (root / wnid).mkdir(parents=True)
        if j < 8:
            picked = [(index[wnid] + 37 * k) % 1000 for k in range(per_class)]  # any code: the logits decide
            write(root / wnid, picked)
            codes.update({code: index[wnid] for code in picked})
    return codes


@pytest.mark.parametrize("name", ["imagenet-r", "imagenet-a"])
def test_200_class_sets_rank_only_their_outputs_as_a_hand_computation(tmp_path, name):
    classes = wnids(name.replace("-", "_"))
    codes = make_tree(tmp_path / name, classes)
    (cell,) = run(CodeModel(oracle=False), tmp_path / name).itertuples()
    outputs = np.array(sorted(imagenet_index()[w] for w in classes))
    logits = CodeModel(oracle=False).table.numpy()
    order = [code for code in sorted(codes, key=lambda c: (classes.index(wnids("imagenet_1k")[codes[c]]), str(c)))]
    expected = outputs[np.argsort(-logits[order][:, outputs], axis=1, kind="stable")[:, :5]]
    assert cell.corruption == name and cell.labels.tolist() == [codes[c] for c in order]
    assert np.array_equal(cell.predictions, expected)
    unrestricted = np.argmax(logits[order], axis=1)
    assert not np.isin(unrestricted, outputs).all()  # the restriction changed some predictions
    assert cell.top1_err == pytest.approx(np.mean(expected[:, 0] != cell.labels))


def test_class_lists_match_the_recorded_indices():
    index = imagenet_index()
    assert len(index) == 1000 and list(index) == sorted(index)
    for name, first in (("imagenet_r", R_FIRST_INDICES), ("imagenet_a", A_FIRST_INDICES)):
        indices = [index[w] for w in wnids(name)]
        assert len(set(indices)) == 200 and indices[:10] == first


def test_clean_cell_keeps_the_classes_of_the_set(tmp_path):
    r_classes = wnids("imagenet_r")
    make_tree(tmp_path / "imagenet-r", r_classes)
    val = tmp_path / "val"
    inside, outside = r_classes[0], next(w for w in wnids("imagenet_1k") if w not in r_classes)
    write(val / inside, [imagenet_index()[inside]])
    write(val / outside, [imagenet_index()[outside]])
    cells = run(CodeModel(), tmp_path / "imagenet-r", OODOptions(resize=None, crop=None, clean=str(val)))
    clean = cells[cells.corruption == "clean"].iloc[0]
    assert clean.labels.tolist() == [imagenet_index()[inside]] and clean.top1_err == 0.0
    assert clean.fingerprint["valid_labels"] == cells[cells.corruption == "imagenet-r"].iloc[0].fingerprint[
        "valid_labels"]


def test_mapped_set_predicts_folders(tmp_path):
    root = tmp_path / "objectnet"
    write(root / "chair", [423, 559])   # codes: the oracle answers these ImageNet classes
    write(root / "mug", [504, 968])
    write(root / "sock", [806])
    mapping = {"chair": [423, 559, 765], "mug": [504, 968], "sock": [806]}
    (tmp_path / "map.json").write_text(json.dumps(mapping))
    options = OODOptions(resize=None, crop=None, ood_class_map=str(tmp_path / "map.json"))
    (cell,) = run(CodeModel(), root, options).itertuples()
    assert cell.corruption == "mapped" and cell.top1_err == 0.0
    assert cell.labels.tolist() == [0, 0, 1, 1, 2] and cell.predictions[:, 0].tolist() == [0, 0, 1, 1, 2]


def test_wrong_layouts_name_what_was_found(tmp_path):
    r_classes = wnids("imagenet_r")
    make_tree(tmp_path / "r", r_classes, per_class=1)
    with pytest.raises(UsageError, match=r"0\.\.999.*200 wnid folders of imagenet-r: --ood-set imagenet-r"):
        shift_set(tmp_path / "r", "imagenet-v2")
    with pytest.raises(UsageError, match=r"imagenet-a needs its 200 wnid.*not imagenet-a's"):
        shift_set(tmp_path / "r", "imagenet-a")
    (tmp_path / "r" / r_classes[5]).rename(tmp_path / "r" / "n99999999")
    with pytest.raises(UsageError, match=r"1 not imagenet-r's; 1 missing \(" + r_classes[5]):
        shift_set(tmp_path / "r", "imagenet-r")
    with pytest.raises(UsageError, match=r"200 wnid folders .*match no natural-shift layout"):
        shift_set(tmp_path / "r")
    for index in range(998):
        (tmp_path / "v2" / str(index)).mkdir(parents=True)
    with pytest.raises(UsageError, match=r"found 2 of them missing \(998, 999\)"):
        shift_set(tmp_path / "v2")


def test_cli_refuses_a_wrong_layout_in_one_line(tmp_path, capsys):
    make_tree(tmp_path / "r", wnids("imagenet_r"), per_class=1)
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--model", "demo-max", "--suite", "ood", "--data", str(tmp_path / "r"), "--ood-set",
              "imagenet-v2", "--out", str(tmp_path / "r.db"), "--no-progress"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and "--ood-set imagenet-r" in err
