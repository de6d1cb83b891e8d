"""Numeric precision of a run: fp32 with TF32 off by default on every device (the published protocols measured in
fp32), bf16 autocast only when asked, the precision recorded in every cell's fingerprint and shown in reports,
and the process's TF32 flags restored after a run."""

import pytest
import torch
from evaluate_fixtures import MEAN, STD, photo_set, tiny_model, write_folder
from torch import nn
from torch.nn import functional as F

from robustbench_lift.cli import main
from robustbench_lift.engine import RunOptions, evaluate
from robustbench_lift.engine.device import PRECISIONS, choose_precision, numerics
from robustbench_lift.engine.model import PreparedModel
from robustbench_lift.engine.runner import Engine
from robustbench_lift.errors import UsageError
from robustbench_lift.report import build_report
from robustbench_lift.report.notes import precision_note
from robustbench_lift.store import load_results
from robustbench_lift.suites.options import CleanOptions

CPU = torch.device("cpu")
DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def tf32_flags() -> tuple[str, bool]:
    """The process-wide switches that let fp32 matmuls and cuDNN convolutions use TF32."""
    return torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32


class Probe(nn.Module):
    """Predicts what its forward saw: class = index of its Linear's output dtype in `DTYPES` (fp32 0, bf16 1,
    fp16 2), plus 3 when TF32 was allowed (matmul precision below "highest" or cuDNN TF32 on)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 6)
        nn.init.zeros_(self.fc.weight)  # one weights identity for every instance
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x.mean((2, 3)))
        matmul, cudnn = tf32_flags()
        index = DTYPES.index(y.dtype) + 3 * (matmul != "highest" or cudnn)
        return F.one_hot(torch.full((len(x),), index), 6).float() + 0 * y.float()


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("precision") / "clean"
    images, labels = photo_set(32)
    write_folder(root, images[:4], labels[:4])
    return root


@pytest.fixture
def tf32_on():
    """PyTorch's own default lets cuDNN use TF32; a user may also have lowered the matmul precision."""
    saved = tf32_flags()
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.allow_tf32 = True
    yield tf32_flags()
    torch.set_float32_matmul_precision(saved[0])
    torch.backends.cudnn.allow_tf32 = saved[1]


def run(model: nn.Module, clean, tmp_path, amp: bool = False):
    return evaluate(model, CleanOptions(resize=None, crop=None), clean,
                    run=RunOptions(out=tmp_path / "r.db", progress=False, amp=amp))


def test_default_is_fp32_with_tf32_off_and_flags_restored(clean, tmp_path, tf32_on):
    frame = run(Probe(), clean, tmp_path)
    assert frame["fingerprint"][0]["precision"] == "fp32"
    assert (frame["predictions"][0][:, 0] == 0).all()  # fp32 Linear, TF32 off inside the forward
    assert tf32_flags() == tf32_on  # the process's own settings are back
    assert precision_note(frame) == "fp32"
    page = [p for p in build_report(frame, tmp_path / "report", formats=("html",), grid=False, n_boot=0)
            if p.name == "report.html"][0]
    assert "Precision: fp32." in page.read_text()


def test_amp_on_cpu_is_bf16_autocast(clean, tmp_path, tf32_on):
    frame = run(Probe(), clean, tmp_path, amp=True)
    assert frame["fingerprint"][0]["precision"] == "bf16"
    assert (frame["predictions"][0][:, 0] == 1).all()  # bf16 Linear, TF32 still off
    assert tf32_flags() == tf32_on
    # a store of cells computed in fp32 refuses them, naming the precision
    with pytest.raises(UsageError, match="precision: stored 'bf16', now 'fp32'"):
        run(Probe(), clean, tmp_path)


def test_amp_predictions_match_a_manual_autocast_loop():
    images = photo_set(32)[0]
    model = tiny_model()
    prepared = PreparedModel(model, "tiny", "", 3, MEAN, STD)
    engine = Engine(prepared, CPU, RunOptions(amp=True, channels_last=False, progress=False))
    top, finite = engine.forward(images)
    x = (images.float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x).float()
    assert torch.equal(top, logits.topk(3, dim=1).indices) and finite.all()
    with torch.no_grad():
        assert not torch.equal(logits, model(x))  # bf16 changed the numbers, so the match above can fail


def test_choose_precision_and_numerics():
    assert choose_precision(CPU) == "fp32" and choose_precision(CPU, amp=True) == "bf16"
    with pytest.raises(UsageError, match="tf32 needs a CUDA device"):
        choose_precision(CPU, tf32=True)
    with pytest.raises(UsageError, match="choose one"):
        choose_precision(CPU, amp=True, tf32=True)
    saved = tf32_flags()
    for precision in PRECISIONS:
        with numerics(CPU, precision):
            inside = tf32_flags()
            dtype = torch.nn.functional.linear(torch.ones(1, 2), torch.ones(1, 2)).dtype
        tf32 = precision == "fp32+tf32"
        assert inside == ("high" if tf32 else "highest", tf32)
        assert dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
        assert tf32_flags() == saved
    with pytest.raises(RuntimeError), numerics(CPU, "fp32+tf32"):
        raise RuntimeError("a failing forward")
    assert tf32_flags() == saved  # restored on errors too
    with pytest.raises(UsageError, match="unknown precision 'fp8'"), numerics(CPU, "fp8"):
        pass
    with pytest.raises(UsageError, match="amp must be True or False"):
        RunOptions(amp=None)


def test_precision_note_names_models_that_differ():
    import pandas as pd

    frame = pd.DataFrame({"model": ["a", "a", "b", "c"], "fingerprint": [
        {"precision": "fp32"}, {"precision": "fp32"}, {"precision": "bf16"}, {}]})
    assert precision_note(frame) == "a fp32, b bf16, c unrecorded"
    assert precision_note(frame[:2]) == "fp32"


def test_cli_amp_and_tf32_flags(clean, tmp_path, capsys):
    args = ["evaluate", "--model", "demo-max", "--weights", "DEFAULT", "--data", str(clean), "--corruptions",
            "brightness", "--severities", "1", "--device", "cpu", "--bootstrap", "0", "--no-progress"]
    for flag, code, text in (("--amp", 0, "precision: bf16"), ("--tf32", 2, "tf32 needs a CUDA device")):
        with pytest.raises(SystemExit) as exit_info:
            main([*args, "--out", str(tmp_path / f"{flag}.db"), flag])
        captured = capsys.readouterr()
        assert exit_info.value.code == code and text in captured.out + captured.err


def test_demo_amp_flag(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--amp", "--pool", "max", "--suite", "shift", "--limit", "2", "--no-report", "--device", "cpu",
              "--no-progress", "--out", str(tmp_path)])
    assert exit_info.value.code == 0, capsys.readouterr().err
    frame = load_results(tmp_path / "results.db")
    assert {f["precision"] for f in frame["fingerprint"]} == {"bf16"}
