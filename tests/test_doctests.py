"""Every `>>>` example in the docstrings of `robustbench_lift/` and `corruptions/` runs, and shows what it prints.

Modules are found by their text (any `.py` file containing `>>>`), so a new example is tested without being
listed here. Each module's examples run in a fresh temporary directory (they write `results.db`, `runs/...`),
never in the checkout. Examples that would download weights or run for minutes carry `# doctest: +SKIP` with
the reason next to them.
"""

import doctest
import importlib
import io
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules_with_examples() -> list[str]:
    """Dotted names of the modules of both packages whose source holds a `>>>` example."""
    names = []
    for package in ("robustbench_lift", "corruptions"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if ">>>" in path.read_text(encoding="utf-8"):
                parts = path.relative_to(ROOT).with_suffix("").parts
                names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize("name", _modules_with_examples())
def test_docstring_examples(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = io.StringIO()
    for test in tests:
        runner.run(test, out=report.write)
    # a `>>>` outside any docstring (a comment, a string) would be found but never run: that is a failure too
    assert runner.tries > 0, f"{name} has '>>>' but no docstring example was run"
    assert runner.failures == 0, report.getvalue()
