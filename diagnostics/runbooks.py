"""Runbooks: versioned Markdown steps in ``diagnostics/runbooks/<slug>.md``, loaded by slug.

Each file starts with a small YAML front matter (``title``, ``version``,
``applies_to``) followed by the steps in Markdown. Findings name a runbook by
its slug; the page ``/runbooks/<slug>/`` shows it.
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
class Runbook:
    slug: str
    title: str
    version: int
    applies_to: tuple[str, ...]
    body: str  # Markdown

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
