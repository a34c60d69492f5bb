"""report.md: the report's blocks as markdown, plots linked from plots/."""

from __future__ import annotations

from rtguard.report.blocks import Bullets, Figures, Grid, Heading, Paragraph
from rtguard.report.table import markdown_grid


def render_markdown(blocks: list) -> str:
    return "\n\n".join(_block(block) for block in blocks) + "\n"


def _block(block) -> str:
    if isinstance(block, Heading):
        return "#" * block.level + " " + block.text
    if isinstance(block, Paragraph):
        return f"**{block.text}**" if block.tone else block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Grid):
        return markdown_grid(block.header, block.rows)
    if isinstance(block, Figures):
        return "\n\n".join(f"![{f['title']}]({f['file']})\n\n*{f['title']}*: {f['caption']}" for f in block.figures)
    raise TypeError(f"no markdown for {type(block).__name__}")
