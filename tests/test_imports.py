"""The layering the architecture promises (docs/architecture.md): light modules stay light.

Each import runs in a fresh interpreter, so what an earlier test imported cannot hide a heavy dependency.
"""

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "torchvision", "pandas", "matplotlib", "numpy", "scipy", "PIL")


def imported_after(statement: str) -> set[str]:
    """Top-level packages in `sys.modules` after running `statement` in a fresh interpreter."""
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize(("statement", "forbidden"), [
    ("import robustbench_lift.cli", HEAVY),
    ("from robustbench_lift.cli import cli; from click.testing import CliRunner; "
     "assert CliRunner().invoke(cli, ['--help']).exit_code == 0", HEAVY),
    ("from robustbench_lift.cli import cli; from click.testing import CliRunner; "  # options from the dataclasses
     "assert CliRunner().invoke(cli, ['evaluate', '--help']).exit_code == 0", HEAVY),
    ("from robustbench_lift.cli import cli; from click.testing import CliRunner; "  # options from Recipe's fields
     "assert CliRunner().invoke(cli, ['train', '--help']).exit_code == 0", HEAVY),
    ("from robustbench_lift.pooling.registry import POOLS; from robustbench_lift.pooling import DEFAULT_LAMBDA_U",
     HEAVY),
    ("import corruptions", ("torchvision", "pandas", "matplotlib")),
    ("from corruptions.names import CORRUPTIONS, expand_corruptions; expand_corruptions(['noise'])", HEAVY),
    ("import robustbench_lift.report", ("torch", "torchvision", "matplotlib")),
    ("import robustbench_lift.metrics.corruption, robustbench_lift.metrics.perturbation", ("torch", "pandas")),
])
def test_light_imports(statement: str, forbidden: tuple[str, ...]) -> None:
    loaded = imported_after(statement)
    assert not loaded & set(forbidden), f"{statement!r} imported {sorted(loaded & set(forbidden))}"



def test_report_names_are_not_submodules() -> None:
    """`from robustbench_lift.report import check, compare` gives the functions, whatever was loaded before
    (`from package import name` imports a submodule `name` when there is one, which then shadows the lazy name)."""
    code = ("import inspect, robustbench_lift.report as report, robustbench_lift.report.build\n"
            "from robustbench_lift.report import check, compare\n"
            "assert inspect.isfunction(check) and inspect.isfunction(compare), (check, compare)\n"
            "shadowed = [n for n in report.__all__ if inspect.ismodule(getattr(report, n))]\n"
            "assert not shadowed, shadowed")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
