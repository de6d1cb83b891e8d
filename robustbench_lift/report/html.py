"""A self-contained HTML report: one file, inline CSS, figures embedded (inline SVG, or base64 PNG for photos),
tables inline; no script, no external stylesheet, font or image, so it opens offline and can be mailed.

Relative links point to the files written next to it (PNG/SVG of each figure, CSV/Markdown/LaTeX of each
table) for people who want to reuse them; the page itself does not need them.
"""

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1a1a1a;
       max-width: 1180px; margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.25em; margin-top: 2em;
     border-bottom: 1px solid #ccc; padding-bottom: .2em; }
p.meta, p.links, p.note { color: #555; font-size: .9em; margin: .3em 0; }
p.links a { margin-right: .8em; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: .6em 0; font-variant-numeric: tabular-nums; font-size: .88em; }
th, td { padding: .25em .7em; border-bottom: 1px solid #e3e3e3; white-space: nowrap; }
td { text-align: right; } th { text-align: left; } thead th { border-bottom: 2px solid #444; }
tbody tr:nth-child(even) { background: #f6f7f9; }
strong { color: #0b4f8a; }
figure { margin: 1em 0; } figure svg, figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: .88em; }
dl { display: grid; grid-template-columns: max-content auto; gap: .15em 1em; font-size: .9em; }
dt { font-weight: 600; } dd { margin: 0; }
"""


@dataclass
class Section:
    """One report section: a heading, a paragraph, optionally a table (HTML) and a figure file to embed."""

    title: str
    text: str = ""
    table_html: str = ""
    figure: Path | None = None
    caption: str = ""
    links: list[Path] = field(default_factory=list)


def embed_figure(path: Path, alt: str) -> str:
    """The figure as inline `<svg>` (matplotlib's file without its XML prologue) or a base64 `<img>` (PNG)."""
    if path.suffix == ".svg":
        text = path.read_text()
        return text[text.index("<svg"):]
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def render_page(title: str, meta: list[str], glossary: dict[str, str], sections: list[Section],
                base_dir: Path) -> str:
    """The full HTML document; `links` of each section are written relative to `base_dir`."""
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
             f"<h1>{html.escape(title)}</h1>"]
    parts += [f'<p class="meta">{html.escape(line)}</p>' for line in meta]
    parts.append("<nav><p class=\"links\">" + " ".join(
        f'<a href="#{_anchor(s.title)}">{html.escape(s.title)}</a>' for s in sections) + "</p></nav>")
    if glossary:
        parts.append("<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>"
                                      for k, v in glossary.items()) + "</dl>")
    for section in sections:
        parts.append(f'<section id="{_anchor(section.title)}">')
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.text:
            parts.append(f'<p class="note">{html.escape(section.text)}</p>')
        if section.table_html:
            parts.append(f'<div class="table-wrap">{section.table_html}</div>')
        if section.figure is not None:
            parts.append(f"<figure>{embed_figure(section.figure, section.caption or section.title)}"
                         f"<figcaption>{html.escape(section.caption)}</figcaption></figure>")
        if section.links:
            parts.append('<p class="links">' + " ".join(
                f'<a href="{html.escape(p.relative_to(base_dir).as_posix())}">{html.escape(p.name)}</a>'
                for p in section.links) + "</p>")
        parts.append("</section>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def write_page(path: str | Path, title: str, meta: list[str], glossary: dict[str, str],
               sections: list[Section]) -> Path:
    """Write `render_page` to `path` and return it."""
    path = Path(path)
    path.write_text(render_page(title, meta, glossary, sections, path.parent), encoding="utf-8")
    return path
