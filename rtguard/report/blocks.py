"""The few kinds of blocks a report is made of (document.py orders them; markdown.py and html.py render them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str
    tone: str | None = None  # good | bad: the verdict


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Grid:
    header: list[str]
    rows: list[list]


@dataclass(frozen=True)
class Figures:
    figures: list[dict]  # {file, title, caption}, file relative to the run folder
