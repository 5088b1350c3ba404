"""Action items: follow-ups that belong to an incident and must not get lost."""

from datetime import date

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from incidents.actors import Actor
from incidents.models import ActionItem, ActionItemStatus, Incident, TimelineKind
from incidents.timeline import timeline_entry_add

FIELDS = ("title", "description", "owner", "due_date", "priority", "type", "status")


def action_item_create(*, incident: Incident, actor: Actor, **fields) -> ActionItem:
    with transaction.atomic():
        item = ActionItem.objects.create(incident=incident, created_by=actor.user, **fields)
        owner = item.owner.get_username() if item.owner else "nobody yet"
        timeline_entry_add(
            incident=incident,
            kind=TimelineKind.ACTION_ITEM,
            actor=actor,
            text=f"Action item added: {item.title} (owner {owner})",
            data={
                "action_item": item.pk,
                "type": item.type,
                "due_date": item.due_date.isoformat() if item.due_date else None,
            },
        )
    return item


def action_item_update(*, item: ActionItem, actor: Actor, **changes) -> ActionItem:
    with transaction.atomic():
        locked = ActionItem.objects.select_for_update().select_related("incident").get(pk=item.pk)
        old_status = locked.status
        for name, value in changes.items():
            if name in FIELDS:
                setattr(locked, name, value)
        if locked.status != old_status:
            locked.completed_at = timezone.now() if locked.status != ActionItemStatus.OPEN else None
        locked.save()
        if locked.status != old_status:
            timeline_entry_add(
                incident=locked.incident,
                kind=TimelineKind.ACTION_ITEM,
                actor=actor,
                text=f"Action item {locked.get_status_display().lower()}: {locked.title}",
                data={"action_item": locked.pk, "old": old_status, "new": locked.status},
            )
    return locked


def action_items_overdue(*, today: date | None = None) -> QuerySet[ActionItem]:
    today = today or timezone.localdate()
    return ActionItem.objects.filter(status=ActionItemStatus.OPEN, due_date__lt=today)


def action_items_remind_overdue(*, today: date | None = None) -> int:
    """Once a day: a reminder on the incident's timeline for each overdue item, at most once per day."""
    today = today or timezone.localdate()
    reminded = 0
    for item_id in action_items_overdue(today=today).values_list("pk", flat=True):
        with transaction.atomic():
            won = (
                ActionItem.objects.filter(pk=item_id, status=ActionItemStatus.OPEN, due_date__lt=today)
                .exclude(last_reminded_on=today)
                .update(last_reminded_on=today)
            )
            if not won:
                continue
            item = ActionItem.objects.select_related("incident", "owner").get(pk=item_id)
            owner = item.owner.get_username() if item.owner else "no owner"
            days = (today - item.due_date).days
            timeline_entry_add(
                incident=item.incident,
                kind=TimelineKind.ACTION_ITEM,
                actor=Actor.system("Action item reminder"),
                text=f"Overdue by {days} day{'s' if days != 1 else ''}: {item.title} ({owner})",
                data={"action_item": item.pk, "overdue_days": days, "owner": owner, "reminder": True},
            )
            reminded += 1
    return reminded
