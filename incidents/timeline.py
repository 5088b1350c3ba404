"""Writing timeline entries. Every entry goes through here, explicitly.

Also the rule for notes (a note added to the timeline, or the note that goes with a move): trimmed,
line breaks normalised, at most ``NOTE_MAX_LENGTH`` characters. Forms and serializers declare the same
limit with the same message, so a browser and an API client hear the same thing.
"""

from django.utils import timezone
from django.utils.text import normalize_newlines

from incidents.actors import Actor
from incidents.models import NOTE_MAX_LENGTH, Incident, TimelineEntry

NOTE_TOO_LONG = f"A note holds at most {NOTE_MAX_LENGTH:,} characters. Link long logs rather than pasting them."
NOTE_BLANK = "A note cannot be blank."


def note_clean(text: str | None) -> str:
    """A note as it is stored: line breaks normalised, surrounding blanks trimmed."""
    return normalize_newlines(text or "").strip()


def note_problem(text: str, *, required: str = "") -> str:
    """What is wrong with a cleaned note, or "" when nothing is. ``required`` is the message when it is empty."""
    if len(text) > NOTE_MAX_LENGTH:
        return NOTE_TOO_LONG
    if not text and required:
        return required
    return ""


def timeline_entry_new(
    *, kind: str, actor: Actor, text: str, data: dict | None = None, at=None, incident: Incident | None = None
) -> TimelineEntry:
    """An unsaved entry, for writing several in one statement (``bulk_create``) with their incident."""
    return TimelineEntry(
        incident=incident,
        kind=kind,
        created_at=at,
        actor_kind=actor.kind,
        actor_user=actor.user,
        actor_name=actor.name,
        text=text,
        data=data or {},
    )


def timeline_entry_add(
    *, incident: Incident, kind: str, actor: Actor, text: str, data: dict | None = None, at=None
) -> TimelineEntry:
    entry = timeline_entry_new(incident=incident, kind=kind, actor=actor, text=text, data=data, at=at or timezone.now())
    entry.save(force_insert=True)
    return entry
