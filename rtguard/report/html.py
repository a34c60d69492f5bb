"""report.html: the report's blocks as one self-contained page.

Styles are inline and every plot is embedded as a data: URI, so the file can be
mailed, archived or opened offline and shows exactly what the run measured.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from rtguard.report.blocks import Bullets, Figures, Grid, Heading, Paragraph
from rtguard.report.table import html_grid

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #1f2328; margin: 0; background: #f6f8fa; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 16px; } h2 { font-size: 20px; margin: 32px 0 10px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
p.good, p.bad { font-size: 18px; font-weight: 600; padding: 12px 16px; border-radius: 6px; }
p.good { background: #dafbe1; border-left: 6px solid #1a7f37; } p.bad { background: #ffebe9; border-left: 6px solid #cf222e; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: 4px 6px; text-align: right; overflow-wrap: anywhere; }
th:first-child, td:first-child { text-align: left; min-width: 12em; } thead th { background: #f6f8fa; }
td.good { background: #dafbe1; } td.bad { background: #ffebe9; color: #a40e26; font-weight: 600; } td.unknown { background: #fff8c5; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 20px; }
figure { margin: 0; } figure img { width: 100%; height: auto; border: 1px solid #d0d7de; }
figcaption { font-size: 13px; color: #57606a; }
li { margin: 3px 0; }
"""


def render_html(blocks: list, root: Path) -> str:
    """The page; `root` is the run folder the figures' files are read from."""
    title = next(block.text for block in blocks if isinstance(block, Heading))
    body = "\n".join(_block(block, root) for block in blocks)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{html.escape(title)}</title>\n'
            f"<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n")


def _block(block, root: Path) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        tone = f' class="{block.tone}"' if block.tone else ""
        return f"<p{tone}>{html.escape(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Grid):
        return f'<div class="scroll">{html_grid(block.header, block.rows)}</div>'
    if isinstance(block, Figures):
        return '<div class="figures">' + "".join(_figure(figure, root) for figure in block.figures) + "</div>"
    raise TypeError(f"no HTML for {type(block).__name__}")


def _figure(figure: dict, root: Path) -> str:
    data = base64.b64encode((root / figure["file"]).read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(figure["title"])}">'
            f"<figcaption><b>{html.escape(figure['title'])}</b>: {html.escape(figure['caption'])}</figcaption></figure>")
