"""`liftbench validate-data` on a tree rendered by `liftbench render` with subset freq's corruptions: each has its
own published levels (model-vs-human: 8 low-pass sigmas, 7 phase-noise widths), so 1..8 and 1..7 are the complete
severities, and 8 of phase_noise or a missing 8 of low_pass are problems."""

import shutil

import numpy as np
import pytest
from PIL import Image
from test_cli_options import invoke


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("freq")
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / "clean" / name).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / "clean" / name / "0.png")
    code, output = invoke(["render", "--data", str(root / "clean"), "--out", str(root / "tree"), "--corruptions",
                           "low_pass,phase_noise"])
    assert code == 0, output
    return root / "tree"


def test_each_corruption_has_its_own_levels(tree):
    assert sorted(int(p.name) for p in (tree / "low_pass").iterdir()) == list(range(1, 9))
    assert sorted(int(p.name) for p in (tree / "phase_noise").iterdir()) == list(range(1, 8))
    code, output = invoke(["validate-data", str(tree)])
    assert code == 0 and "15 cell(s)" in output and "no problems found" in output, output


def test_a_missing_or_extra_level_is_a_problem(tree, tmp_path):
    broken = tmp_path / "tree"
    shutil.copytree(tree, broken)
    shutil.rmtree(broken / "low_pass" / "8")
    shutil.copytree(broken / "phase_noise" / "7", broken / "phase_noise" / "8")
    code, output = invoke(["validate-data", str(broken)])
    assert code == 1, output
    assert "problem: low_pass/: severities 8 missing" in output
    assert "problem: phase_noise/: folder(s) 8 are not severities 1..7" in output
