"""Runbooks: versioned Markdown steps in ``diagnostics/runbooks/<slug>.md``, loaded by slug.

Each file starts with a small YAML front matter (``title``, ``version``,
``applies_to``) followed by the steps in Markdown. Findings name a runbook by
its slug; the page ``/runbooks/<slug>/`` shows it.

The steps are the body's one top-level numbered list (``1. **Title.** text``):
``Runbook.steps`` holds them, numbered from 1, for the incident's checklist.
"""

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from django.urls import NoReverseMatch, reverse

RUNBOOK_DIR = Path(__file__).resolve().parent / "runbooks"
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@dataclass(frozen=True)
class Step:
    number: int
    title: str  # the bold lead of the item, or its first sentence
    text: str  # the whole item, Markdown


STEP_START = re.compile(r"^(\d+)\. (.*)$")
STEP_LEAD = re.compile(r"^\*\*(.+?)\*\*")


def parse_steps(body: str) -> tuple[Step, ...]:
    """The top-level numbered items of ``body`` (continuation lines are indented), in order."""
    items: list[list[str]] = []
    in_fence = False
    for line in body.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        match = STEP_START.match(line) if not in_fence else None
        if match:
            items.append([match.group(2)])
        elif items and (line.startswith((" ", "\t")) or in_fence or not line.strip()):
            items[-1].append(line.strip() if not in_fence else line)
    steps = []
    for number, lines in enumerate(items, start=1):
        text = "\n".join(lines).strip()
        lead = STEP_LEAD.match(text)
        title = lead.group(1).rstrip(".") if lead else re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
        steps.append(Step(number=number, title=title[:200], text=text))
    return tuple(steps)


@dataclass(frozen=True)
class Runbook:
    slug: str
    title: str
    version: int
    applies_to: tuple[str, ...]
    body: str  # Markdown
    steps: tuple[Step, ...] = ()

    @property
    def url(self) -> str:
        return runbook_url(self.slug)


def _parse(slug: str, text: str) -> Runbook:
    if not text.startswith("---\n"):
        raise ValueError(f"runbook {slug}: missing front matter")
    front, _, body = text[4:].partition("\n---\n")
    meta = yaml.safe_load(front) or {}
    return Runbook(
        slug=slug,
        title=str(meta["title"]),
        version=int(meta["version"]),
        applies_to=tuple(meta.get("applies_to") or ()),
        body=body.strip() + "\n",
        steps=parse_steps(body),
    )


@cache
def runbook_get(slug: str) -> Runbook | None:
    if not SLUG.fullmatch(slug or ""):
        return None
    path = RUNBOOK_DIR / f"{slug}.md"
    if not path.is_file():
        return None
    return _parse(slug, path.read_text(encoding="utf-8"))


def runbooks_all() -> list[Runbook]:
    return sorted((runbook_get(p.stem) for p in RUNBOOK_DIR.glob("*.md")), key=lambda r: r.title)


def runbook_url(slug: str) -> str:
    try:
        return reverse("runbook-detail", args=[slug])
    except NoReverseMatch:
        return f"/runbooks/{slug}/"
