"""Writing timeline entries. Every entry goes through here, explicitly."""

from django.utils import timezone

from incidents.actors import Actor
from incidents.models import Incident, TimelineEntry


def timeline_entry_add(
    *, incident: Incident, kind: str, actor: Actor, text: str, data: dict | None = None, at=None
) -> TimelineEntry:
    return TimelineEntry.objects.create(
        incident=incident,
        kind=kind,
        created_at=at or timezone.now(),
        actor_kind=actor.kind,
        actor_user=actor.user,
        actor_name=actor.name,
        text=text,
        data=data or {},
    )
