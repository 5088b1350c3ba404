"""Incident pages: history, filing, the incident page and its actions (its live updates: ``incident_live``)."""

import logging

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from incidents import lifecycle, panels, roles, scoping, selectors
from incidents.actors import Actor
from incidents.errors import DomainConflict, DomainInputError
from incidents.models import Incident, Resolution, Status, TimelineEntry, TimelineKind
from incidents.services import incident_create, incident_is_frozen, incident_update, note_add
from incidents.templatetags.orion import abs_time, sla_target
from incidents.web import live, reads
from incidents.web.access import can_act, role_required, wants_json
from incidents.web.forms import (
    CommanderForm,
    HistoryFilterForm,
    IncidentCreateForm,
    NoteForm,
    SeverityForm,
    TransitionForm,
)

logger = logging.getLogger(__name__)

HISTORY_PAGE_SIZE = 50
# The incident page shows the newest entries; "show all" lifts the cap.
TIMELINE_LIMIT = 300

DONE_VERB = {
    Status.ACKNOWLEDGED: "acknowledged",
    Status.DIAGNOSING: "moved to diagnosing",
    Status.MITIGATED: "mitigated",
    Status.RESOLVED: "resolved",
    Status.REVIEWED: "reviewed",
    Status.DETECTED: "moved",
}


# History and filing ----------------------------------------------------------------------------


@require_GET
@role_required(roles.VIEWER)
def incident_list(request):
    filter_form = HistoryFilterForm(request.GET)
    filters = filter_form.filters()
    page = Paginator(reads.history_incidents(filters=filters), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "incidents/history.html",
        {"page": page, "incidents": page.object_list, "filter_form": filter_form, "filtered": bool(filters)},
    )


@require_http_methods(["GET", "POST"])
@role_required(roles.ENGINEER)
def incident_new(request):
    form = IncidentCreateForm(request.POST or None)
    form.fields["services"].queryset = scoping.services_for(request.user, form.fields["services"].queryset)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incident = incident_create(
                title=data["title"],
                severity=data["severity"],
                description=data["description"],
                services=list(data["services"]),
                actor=Actor.for_user(request.user),
            )
        except DomainInputError as error:  # e.g. a service outside the person's teams
            _add_domain_errors(form, error)
            return render(request, "incidents/new.html", {"form": form}, status=400)
        messages.success(
            request,
            f"{incident.reference} filed as {incident.severity}. "
            f"Acknowledge within {sla_target(incident.severity)} (by {abs_time(incident.ack_due_at)}).",
        )
        return redirect("incident-detail", pk=incident.pk)
    return render(request, "incidents/new.html", {"form": form}, status=400 if form.is_bound else 200)


# The incident page -------------------------------------------------------------------------------


def _timeline_order(request) -> bool:
    """True for newest first (the default during an incident)."""
    return request.GET.get("order", "desc") != "asc"


def _panels(request, incident, base: dict, extra: dict[str, dict] | None = None) -> list[dict]:
    """Registered panels (diagnostics, runbook, report, …) in order. A failing panel does not take the page down.

    ``extra`` is context for one panel by key, such as a refused form to show again with its errors.
    """
    rendered = []
    for panel in panels.registered():
        try:
            context = {**base, **panel.context(request, incident), **(extra or {}).get(panel.key, {})}
            html = render_to_string(panel.template, context, request=request)
        except Exception:
            logger.exception("incident panel %r failed for incident %s", panel.key, incident.pk)
            html = None
        rendered.append({"key": panel.key, "title": panel.title, "html": html})
    return rendered


def _acting(request, incident) -> bool:
    return can_act(request.user) and not incident_is_frozen(incident)


def actions_context(request, incident, *, move_forms=None, severity_form=None, commander_form=None) -> dict:
    acting = _acting(request, incident)
    moves = []
    if acting:
        for to in lifecycle.allowed_moves(incident.status):
            form = (move_forms or {}).get(to) or TransitionForm(
                move=to, initial={"to": to, "expected_status": incident.status, "resolution": Resolution.FIXED}
            )
            reopen = incident.status == Status.RESOLVED and to == Status.ACKNOWLEDGED
            moves.append(
                {
                    "to": to,
                    "reopen": reopen,
                    # Moves that need a note, and reopening, ask for words; the rest is one click.
                    "asks": to in lifecycle.MOVES_NEEDING_NOTE or reopen,
                    "form": form,
                    "open": form.is_bound and bool(form.errors),
                }
            )
    return {
        "incident": incident,
        "acting": acting,
        "moves": moves,
        "severity_form": severity_form or SeverityForm(initial={"severity": incident.severity}),
        "commander_form": commander_form
        or (CommanderForm(initial={"commander": incident.commander_id}) if acting else None),
        "is_commander": incident.commander_id == request.user.pk,
    }


def page_fragments(request, incident, **forms) -> dict:
    """The incident page's header, actions and note form, rendered again (after an action, or for live updates)."""
    note_form = forms.pop("note_form", None)
    return {
        "header": live.fragment("incidents/_incident_header.html", request, incident=incident),
        "actions": live.fragment(
            "incidents/_incident_actions.html", request, **actions_context(request, incident, **forms)
        ),
        "note_form": live.fragment(
            "incidents/_note_form.html",
            request,
            incident=incident,
            note_form=note_form or NoteForm(),
            acting=_acting(request, incident),
        ),
    }


def incident_page_render(request, incident, *, status=200, note_form=None, panel_extra=None, **forms):
    """The incident page. ``panel_extra`` passes context to one panel by key (a refused form, say)."""
    newest_first = _timeline_order(request)
    show_all = request.GET.get("all") == "1"
    entries, total = reads.timeline_entries(
        incident=incident, newest_first=newest_first, limit=None if show_all else TIMELINE_LIMIT
    )
    acting = _acting(request, incident)
    cursor, _ = live.cursor_now()
    context = {
        "incident": incident,
        "entries": entries,
        "entries_total": total,
        "entries_truncated": len(entries) < total,
        "newest_first": newest_first,
        "last_entry_id": max((e.pk for e in entries), default=0),
        "note_form": note_form or NoteForm(),
        "acting": acting,
        "can_act": can_act(request.user),
        "cursor": cursor,
        **actions_context(request, incident, **forms),
    }
    context["panels"] = _panels(
        request, incident, {"incident": incident, "request": request, "can_act": acting}, panel_extra
    )
    return render(request, "incidents/detail.html", context, status=status)


@require_GET
@role_required(roles.VIEWER)
def incident_detail(request, pk):
    incident = get_object_or_404(selectors.incidents_for_detail(), pk=pk)
    return incident_page_render(request, incident)


# Actions ---------------------------------------------------------------------------------------------


def _next_url(request, incident) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("incident-detail", args=[incident.pk])


def _answer(request, incident_id, *, message, status=200, **forms):
    """After an action: JSON with fresh fragments for the scripts, or a redirect / re-rendered page for plain forms.

    A refused action (400 with field errors, 409 conflict) re-renders the page with the current
    state, the message, and what was typed.
    """
    incident = get_object_or_404(selectors.incidents_for_detail(), pk=incident_id)
    level = "success" if status < 400 else "error"
    if wants_json(request):
        return JsonResponse(
            {
                "ok": status < 400,
                "message": message,
                "level": level,
                "status": incident.status,
                "fragments": page_fragments(request, incident, **forms),
            },
            status=status,
        )
    if status < 400:
        messages.success(request, message)
        return HttpResponseRedirect(_next_url(request, incident))
    messages.error(request, message)
    return incident_page_render(request, incident, status=status, **forms)


def conflict_message(incident: Incident, error: lifecycle.TransitionError, *, seen_status: str) -> str:
    if error.status != seen_status:
        last_move = (
            TimelineEntry.objects.filter(incident=incident, kind=TimelineKind.STATUS_CHANGED)
            .order_by("-created_at", "-id")
            .first()
        )
        who = f" ({last_move.actor_name})" if last_move else ""
        verb = DONE_VERB.get(error.status, "moved")
        return (
            f"Someone else{who} already {verb} this: {incident.reference} is {Status(error.status).label.lower()} now. "
            "Nothing was changed by you; the page shows the current state."
        )
    return f"{error.detail} The page shows the current state."


@require_POST
@role_required(roles.ENGINEER)
def incident_transition(request, pk):
    incident = get_object_or_404(Incident, pk=pk)
    to = request.POST.get("to", "")
    form = TransitionForm(request.POST, move=to if to in Status.values else None)
    if not form.is_valid():
        return _answer(request, pk, message="Check the highlighted fields.", status=400, move_forms={to: form})
    data = form.cleaned_data
    seen_status = data["expected_status"] or incident.status
    try:
        moved = lifecycle.transition(
            incident,
            data["to"],
            actor=Actor.for_user(request.user),
            note=data["note"],
            resolution=data["resolution"],
            duplicate_of_id=data["duplicate_of"],
            expected_status=data["expected_status"] or None,
        )
    except lifecycle.TransitionError as error:
        return _answer(request, pk, message=conflict_message(incident, error, seen_status=seen_status), status=409)
    except DomainInputError as error:
        _add_domain_errors(form, error)
        return _answer(request, pk, message="Check the highlighted fields.", status=400, move_forms={to: form})
    verb = (
        "reopened" if data["to"] == Status.ACKNOWLEDGED and seen_status == Status.RESOLVED else DONE_VERB[moved.status]
    )
    return _answer(request, pk, message=f"{moved.reference} {verb}.")


@require_POST
@role_required(roles.ENGINEER)
def incident_severity(request, pk):
    incident = get_object_or_404(Incident, pk=pk)
    form = SeverityForm(request.POST)
    if not form.is_valid():
        return _answer(request, pk, message="Pick a severity.", status=400, severity_form=form)
    try:
        updated = incident_update(
            incident=incident, actor=Actor.for_user(request.user), severity=form.cleaned_data["severity"]
        )
    except DomainConflict as error:
        return _answer(request, pk, message=error.detail, status=409)
    message = f"{updated.reference} is {updated.severity} now."
    if updated.status == Status.DETECTED:
        message += (
            f" Acknowledge within {sla_target(updated.severity)} of detection (by {abs_time(updated.ack_due_at)})."
        )
    return _answer(request, pk, message=message)


@require_POST
@role_required(roles.ENGINEER)
def incident_commander(request, pk):
    incident = get_object_or_404(Incident, pk=pk)
    form = CommanderForm(request.POST)
    if not form.is_valid():
        return _answer(request, pk, message="Pick a responder.", status=400, commander_form=form)
    commander = request.user if form.cleaned_data["take"] else form.cleaned_data["commander"]
    try:
        updated = incident_update(incident=incident, actor=Actor.for_user(request.user), commander=commander)
    except DomainConflict as error:
        return _answer(request, pk, message=error.detail, status=409)
    if updated.commander is None:
        message = f"{updated.reference} has no commander now."
    elif updated.commander == request.user:
        message = f"You command {updated.reference}."
    else:
        message = f"{updated.commander.get_username()} commands {updated.reference}."
    return _answer(request, pk, message=message)


@require_POST
@role_required(roles.ENGINEER)
def incident_note(request, pk):
    incident = get_object_or_404(Incident, pk=pk)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _answer(request, pk, message=" ".join(form.errors["text"]), status=400, note_form=form)
    try:
        note_add(incident=incident, actor=Actor.for_user(request.user), text=form.cleaned_data["text"])
    except DomainInputError as error:
        _add_domain_errors(form, error)
        return _answer(request, pk, message=" ".join(form.errors["text"]), status=400, note_form=form)
    except DomainConflict as error:
        return _answer(request, pk, message=error.detail, status=409, note_form=form)
    return _answer(request, pk, message="Note added.")


def _add_domain_errors(form, error: DomainInputError) -> None:
    """The domain's field errors on the form that was typed, so they show beside what they are about."""
    for field, problems in error.errors.items():
        form.add_error(field if field in form.fields else None, problems)
