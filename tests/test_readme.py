"""The README and the docs pages say what the repository holds: CI's test command, the demo's numbers, links."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]


def _table(text: str, first_header: str) -> dict[str, dict[str, str]]:
    """The markdown table whose header row starts with `first_header`, as {row name: {column: cell}}."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header[1:], cells[1:]))
    return rows


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_ci_runs_exactly_the_readme_test_command() -> None:
    quick_start = README.read_text().split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    command = quick_start.splitlines()[1]
    assert command == ".venv/bin/python -m pytest -n 2"
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_demo_tables_are_the_committed_summary() -> None:
    tables = ROOT / "reports/demo/tables"
    summary = {**_table((tables / "summary.md").read_text(), "model"),
               **_table((tables / "seg_summary.md").read_text(), "model")}
    text = README.read_text()
    shown = {**_table(text, "model | clean err."), **_table(text, "model | clean mIoU")}
    assert set(shown) == set(summary)
    for model, values in shown.items():
        for column, value in values.items():
            # the summary's cell is "point [low, high]" (bold when best): the README shows the point
            assert value == summary[model][column].strip("*").split(" [")[0], (model, column)


def test_every_relative_link_of_the_readme_and_docs_resolves() -> None:
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            assert file.exists(), f"{page.name} links to missing {target}"
            if anchor:
                headings = [_anchor(line.lstrip("#")) for line in file.read_text().splitlines() if line.startswith("#")]
                assert anchor in headings, f"{page.name} links to {target}: no such heading in {file.name}"


def test_the_readme_links_every_docs_page() -> None:
    linked = set(re.findall(r"\]\((docs/[^)#\s]+)", README.read_text()))
    assert {f"docs/{page.name}" for page in PAGES[1:]} <= linked
