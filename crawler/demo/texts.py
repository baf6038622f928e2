"""The demo's article texts, read from the Markdown files in ``crawler/demo/articles/``.

Texts live as data, not code, so they read like articles and can be edited as such. A file is a
header of ``key: value`` lines, a blank line, then paragraphs separated by blank lines. A section
``## extra: NAME`` holds paragraphs that only some copies use (an update adds one, say).

Automated news (earthquake reports, market closes) comes from one template in
``articles/templates/``: a story file names the template and fills its ``{placeholders}`` with
``var.NAME: value`` lines, exactly as a newsroom robot would.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib import resources

ARTICLES = resources.files("crawler.demo") / "articles"


@dataclass(frozen=True)
class Story:
    """One story as its first publisher wrote it."""

    key: str
    lang: str
    title: str
    author: str
    published: datetime
    category: str
    tags: tuple[str, ...]
    summary: str
    paragraphs: tuple[str, ...]
    extras: dict[str, tuple[str, ...]] = field(default_factory=dict)
    template: str | None = None

    @property
    def word_count(self) -> int:
        return sum(len(p.split()) for p in self.paragraphs)


def _parse(text: str) -> tuple[dict[str, str], list[str], dict[str, list[str]]]:
    head, _, body = text.strip().partition("\n\n")
    header = {}
    for line in head.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"header line without 'key: value': {line!r}")
        header[key.strip()] = value.strip()
    paragraphs: list[str] = []
    extras: dict[str, list[str]] = {}
    target = paragraphs
    for block in body.split("\n\n"):
        block = block.strip()
        if block.startswith("## extra:"):
            first, _, rest = block.partition("\n")
            target = extras.setdefault(first.removeprefix("## extra:").strip(), [])
            block = rest.strip()
        if block:
            target.append(" ".join(block.split()))
    return header, paragraphs, extras


def _read(path) -> str:
    return path.read_text(encoding="utf-8")


def load_story(key: str) -> Story:
    """Read ``articles/KEY.md``, filling in its template if it names one."""
    header, paragraphs, extras = _parse(_read(ARTICLES / f"{key}.md"))
    template = header.get("template")
    if template:
        values = {k.removeprefix("var."): v for k, v in header.items() if k.startswith("var.")}
        t_header, t_paragraphs, _ = _parse(_read(ARTICLES / "templates" / f"{template}.md"))
        header = {**{k: v.format_map(values) for k, v in t_header.items()}, **header}
        paragraphs = [p.format_map(values) for p in t_paragraphs]
    return Story(
        key=key,
        lang=header["lang"],
        title=header["title"],
        author=header["author"],
        published=datetime.fromisoformat(header["published"]),
        category=header["category"],
        tags=tuple(t.strip() for t in header.get("tags", "").split(",") if t.strip()),
        summary=header.get("summary", ""),
        paragraphs=tuple(paragraphs),
        extras={k: tuple(v) for k, v in extras.items()},
        template=template,
    )


@lru_cache(maxsize=1)
def load_stories() -> dict[str, Story]:
    """Every story of the demo, by key (the file name without ``.md``)."""
    keys = sorted(p.name[:-3] for p in ARTICLES.iterdir() if p.name.endswith(".md"))
    return {key: load_story(key) for key in keys}
