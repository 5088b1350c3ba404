import itertools

import pytest
from django.utils import timezone

from incidents import lifecycle
from incidents.actors import Actor
from incidents.lifecycle import ALLOWED_MOVES, TransitionError, TransitionInputError
from incidents.models import Incident, Resolution, Status, TimelineEntry, TimelineKind
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db

# How to reach each state from detected, through the lifecycle itself.
PATH_TO = {
    Status.DETECTED: [],
    Status.ACKNOWLEDGED: [Status.ACKNOWLEDGED],
    Status.DIAGNOSING: [Status.ACKNOWLEDGED, Status.DIAGNOSING],
    Status.MITIGATED: [Status.ACKNOWLEDGED, Status.DIAGNOSING, Status.MITIGATED],
    Status.RESOLVED: [Status.ACKNOWLEDGED, Status.RESOLVED],
    Status.REVIEWED: [Status.ACKNOWLEDGED, Status.RESOLVED, Status.REVIEWED],
}

EXPECTED_ALLOWED = {
    ("detected", "acknowledged"),
    ("detected", "diagnosing"),
    ("detected", "mitigated"),
    ("detected", "resolved"),
    ("acknowledged", "diagnosing"),
    ("acknowledged", "mitigated"),
    ("acknowledged", "resolved"),
    ("diagnosing", "mitigated"),
    ("diagnosing", "resolved"),
    ("mitigated", "resolved"),
    ("resolved", "acknowledged"),
    ("resolved", "reviewed"),
}


def note_for(to: str) -> str:
    """A person's mitigation and resolution say what was done."""
    return "what was done" if to in lifecycle.MOVES_NEEDING_NOTE else ""


def incident_in(status, actor):
    incident = IncidentFactory(severity="P1")
    for step in PATH_TO[status]:
        incident = lifecycle.transition(
            incident, step, actor=actor, note=note_for(step), via_report_approval=step == Status.REVIEWED
        )
    return incident


def test_table_matches_the_design():
    table = {(old, new) for old, targets in ALLOWED_MOVES.items() for new in targets}
    assert table == EXPECTED_ALLOWED


@pytest.mark.parametrize(("old", "new"), list(itertools.product(Status.values, Status.values)))
def test_every_move(old, new, engineer):
    actor = Actor.for_user(engineer)
    incident = incident_in(old, actor)
    entries_before = TimelineEntry.objects.filter(incident=incident).count()
    allowed = (old, new) in EXPECTED_ALLOWED
    if allowed:
        moved = lifecycle.transition(
            incident, new, actor=actor, note=note_for(new), via_report_approval=new == Status.REVIEWED
        )
        assert moved.status == new
        assert Incident.objects.get(pk=incident.pk).status == new
        entry = TimelineEntry.objects.filter(incident=incident).order_by("-id").first()
        assert entry.kind == TimelineKind.STATUS_CHANGED
        assert (entry.data["old"], entry.data["new"]) == (old, new)
        assert entry.actor_user == engineer
        assert TimelineEntry.objects.filter(incident=incident).count() == entries_before + 1
    else:
        with pytest.raises(TransitionError) as error:
            lifecycle.transition(incident, new, actor=actor, note=note_for(new), via_report_approval=True)
        assert error.value.status == old
        assert Incident.objects.get(pk=incident.pk).status == old
        assert TimelineEntry.objects.filter(incident=incident).count() == entries_before


@pytest.mark.parametrize(
    ("to", "field"),
    [
        ("acknowledged", "acknowledged_at"),
        ("diagnosing", "diagnosing_at"),
        ("mitigated", "mitigated_at"),
        ("resolved", "resolved_at"),
    ],
)
def test_move_sets_its_timestamp(to, field, engineer):
    incident = IncidentFactory()
    before = timezone.now()
    moved = lifecycle.transition(incident, to, actor=Actor.for_user(engineer), note=note_for(to))
    stamp = getattr(Incident.objects.get(pk=incident.pk), field)
    assert stamp is not None and stamp >= before
    assert getattr(moved, field) == stamp


def test_human_move_out_of_detected_acknowledges_and_takes_command(engineer):
    incident = IncidentFactory()
    lifecycle.transition(incident, Status.DIAGNOSING, actor=Actor.for_user(engineer))
    incident.refresh_from_db()
    assert incident.acknowledged_at is not None
    assert incident.acknowledged_by == engineer
    assert incident.commander == engineer


def test_existing_commander_is_kept(engineer, manager):
    incident = IncidentFactory()
    Incident.objects.filter(pk=incident.pk).update(commander=manager)
    lifecycle.transition(incident, Status.ACKNOWLEDGED, actor=Actor.for_user(engineer))
    incident.refresh_from_db()
    assert incident.commander == manager
    assert incident.acknowledged_by == engineer


def test_auto_resolve_is_not_an_acknowledgement():
    incident = IncidentFactory()
    lifecycle.transition(
        incident, Status.RESOLVED, actor=Actor.integration("alertmanager"), resolution=Resolution.AUTO_RESOLVED
    )
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert incident.resolution == Resolution.AUTO_RESOLVED
    assert incident.acknowledged_at is None and incident.acknowledged_by is None


def test_reopen_keeps_first_acknowledgement_and_clears_resolution(engineer):
    actor = Actor.for_user(engineer)
    incident = incident_in(Status.RESOLVED, actor)
    first_ack = Incident.objects.get(pk=incident.pk).acknowledged_at
    lifecycle.transition(incident, Status.ACKNOWLEDGED, actor=actor, note="error rate is back")
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED
    assert incident.acknowledged_at == first_ack
    assert incident.resolved_at is None and incident.resolution == ""
    entry = incident.timeline.order_by("-id").first()
    assert entry.data["reopened"] is True and entry.data["previous_resolution"] == "fixed"
    assert "error rate is back" in entry.text


def test_reviewed_only_through_report_approval(engineer):
    incident = incident_in(Status.RESOLVED, Actor.for_user(engineer))
    with pytest.raises(TransitionError, match="report is approved"):
        lifecycle.transition(incident, Status.REVIEWED, actor=Actor.for_user(engineer))
    assert Incident.objects.get(pk=incident.pk).status == Status.RESOLVED


def test_resolution_defaults_to_fixed(engineer):
    incident = IncidentFactory()
    lifecycle.transition(incident, Status.RESOLVED, actor=Actor.for_user(engineer), note="restarted")
    assert Incident.objects.get(pk=incident.pk).resolution == Resolution.FIXED


def test_duplicate_needs_the_original(engineer):
    original, incident = IncidentFactory(), IncidentFactory()
    actor = Actor.for_user(engineer)
    resolve = {"actor": actor, "note": "same outage", "resolution": Resolution.DUPLICATE}
    with pytest.raises(TransitionInputError) as error:
        lifecycle.transition(incident, Status.RESOLVED, **resolve)
    assert "duplicate_of" in error.value.errors
    with pytest.raises(TransitionInputError):
        lifecycle.transition(incident, Status.RESOLVED, duplicate_of_id=incident.pk, **resolve)
    lifecycle.transition(incident, Status.RESOLVED, duplicate_of_id=original.pk, **resolve)
    incident.refresh_from_db()
    assert incident.duplicate_of == original


@pytest.mark.parametrize(("to", "message"), list(lifecycle.MOVES_NEEDING_NOTE.items()))
@pytest.mark.parametrize("note", ["", "   \n "])
def test_a_person_says_what_mitigated_or_resolved_it(engineer, to, message, note):
    incident = IncidentFactory()
    with pytest.raises(TransitionInputError) as error:
        lifecycle.transition(incident, to, actor=Actor.for_user(engineer), note=note)
    assert error.value.errors == {"note": [message]}
    assert Incident.objects.get(pk=incident.pk).status == Status.DETECTED


def test_an_integration_resolves_without_a_note():
    incident = IncidentFactory()
    lifecycle.transition(incident, Status.RESOLVED, actor=Actor.integration("events"))
    assert Incident.objects.get(pk=incident.pk).status == Status.RESOLVED


def test_a_person_cannot_resolve_as_auto_resolved(engineer):
    incident = IncidentFactory()
    with pytest.raises(TransitionInputError) as error:
        lifecycle.transition(
            incident, Status.RESOLVED, actor=Actor.for_user(engineer), note="it went away", resolution="auto_resolved"
        )
    assert error.value.errors == {"resolution": [lifecycle.AUTO_RESOLVED_BY_PERSON]}
    stored = Incident.objects.get(pk=incident.pk)
    assert stored.status == Status.DETECTED and stored.acknowledged_at is None


def test_a_move_note_is_trimmed_and_held_to_the_note_limit(engineer):
    from incidents.models import NOTE_MAX_LENGTH

    incident = IncidentFactory()
    with pytest.raises(TransitionInputError) as error:
        lifecycle.transition(
            incident, Status.ACKNOWLEDGED, actor=Actor.for_user(engineer), note="n" * (NOTE_MAX_LENGTH + 1)
        )
    assert error.value.errors["note"] == [f"A note holds at most {NOTE_MAX_LENGTH:,} characters. Link long logs "
                                          "rather than pasting them."]  # fmt: skip
    lifecycle.transition(incident, Status.ACKNOWLEDGED, actor=Actor.for_user(engineer), note="  on it\r\nnow \n")
    entry = incident.timeline.order_by("-id").first()
    assert entry.data["note"] == "on it\nnow"


def test_resolution_only_when_resolving(engineer):
    with pytest.raises(TransitionInputError) as error:
        lifecycle.transition(IncidentFactory(), Status.ACKNOWLEDGED, actor=Actor.for_user(engineer), resolution="fixed")
    assert "resolution" in error.value.errors


def test_unknown_state_is_an_input_error(engineer):
    with pytest.raises(TransitionInputError) as error:
        lifecycle.transition(IncidentFactory(), "exploded", actor=Actor.for_user(engineer))
    assert "to" in error.value.errors


def test_stale_expected_status_is_refused(engineer, manager):
    incident = IncidentFactory()
    lifecycle.transition(incident, Status.ACKNOWLEDGED, actor=Actor.for_user(manager))
    with pytest.raises(TransitionError, match="someone else"):
        lifecycle.transition(
            incident, Status.DIAGNOSING, actor=Actor.for_user(engineer), expected_status=Status.DETECTED
        )
    assert Incident.objects.get(pk=incident.pk).status == Status.ACKNOWLEDGED


def test_second_acknowledge_is_refused(engineer, manager):
    incident = IncidentFactory()
    lifecycle.transition(incident, Status.ACKNOWLEDGED, actor=Actor.for_user(engineer))
    with pytest.raises(TransitionError, match="already acknowledged"):
        lifecycle.transition(incident, Status.ACKNOWLEDGED, actor=Actor.for_user(manager))
    assert TimelineEntry.objects.filter(incident=incident, kind=TimelineKind.STATUS_CHANGED).count() == 1


def test_follow_up_hooks_run_after_commit(engineer, django_capture_on_commit_callbacks):
    seen = []
    hook = lifecycle.on_transition(lambda *args: seen.append(args))
    try:
        incident = IncidentFactory()
        with django_capture_on_commit_callbacks(execute=True):
            lifecycle.transition(incident, Status.RESOLVED, actor=Actor.for_user(engineer), note="rolled back")
            assert seen == []
        assert seen == [(incident.pk, "detected", "resolved", "fixed")]
    finally:
        lifecycle._follow_ups.remove(hook)


def test_timeline_entries_are_append_only(engineer):
    incident = IncidentFactory()
    entry = incident.timeline.first()
    entry.text = "rewritten"
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        TimelineEntry.objects.filter(pk=entry.pk).update(text="x")
    assert TimelineEntry.objects.get(pk=entry.pk).text != "rewritten"


def test_created_hook_runs_after_commit_only(django_capture_on_commit_callbacks):
    from django.db import transaction

    from incidents import services

    seen = []
    hook = services.on_incident_created(lambda incident_id, service_ids: seen.append(incident_id))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            kept = IncidentFactory()
        try:
            with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
                IncidentFactory()
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        assert seen == [kept.pk]
    finally:
        services._created_hooks.remove(hook)
