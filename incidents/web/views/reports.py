"""Post-incident reports in the browser: the review queue, the report page, editing, review steps, print.

The domain is ``incidents.reports``; these views only translate forms into its calls and its
refusals (``ReportConflict``) into pages that say what happened. Report text is Markdown,
rendered by ``orion_ops.markdown.markdown_to_safe_html`` (CommonMark, sanitised with nh3) and nowhere else.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import normalize_newlines
from django.views.decorators.http import require_GET, require_POST

from incidents import lifecycle, reports, roles, selectors
from incidents.actors import Actor
from incidents.errors import DomainForbidden, DomainInputError
from incidents.models import REPORT_SECTION_MAX_LENGTH, Incident, Report, ReportStatus, Resolution, Status
from incidents.web import reads
from incidents.web.access import can_act, role_required
from incidents.web.forms import (
    REPORT_SECTIONS,
    ActionItemForm,
    ReportForm,
    RequestChangesForm,
    SectionPreviewForm,
)
from orion_ops.markdown import markdown_to_safe_html

PAGE_SIZE = 50
# The edit form lists the incident's timeline to pin or hide entries; an alert storm can write thousands.
TIMELINE_EDIT_LIMIT = 1000
QUEUE_TITLES = {
    ReportStatus.IN_REVIEW: "Awaiting review",
    ReportStatus.CHANGES_REQUESTED: "Changes requested",
    ReportStatus.DRAFT: "Drafts",
    ReportStatus.APPROVED: "Approved",
}
STEP_DONE = {
    ReportStatus.IN_REVIEW: "submitted for review",
    ReportStatus.CHANGES_REQUESTED: "sent back with changes requested",
    ReportStatus.APPROVED: "approved",
}


# The review queue ----------------------------------------------------------------------------------------


@require_GET
@role_required(roles.VIEWER)
def report_queue(request):
    asked = request.GET.get("status") or ReportStatus.IN_REVIEW
    known = asked in ReportStatus.values
    status = asked if known else ReportStatus.IN_REVIEW
    page = Paginator(reads.reports_in_queue(status=status), PAGE_SIZE).get_page(request.GET.get("page"))
    counts = reads.report_status_counts()
    return render(
        request,
        "reports/queue.html",
        {
            "page": page,
            "reports": page.object_list,
            "status": status,
            "title": QUEUE_TITLES[status],
            "tabs": [{"status": s, "title": QUEUE_TITLES[s], "count": counts[s]} for s in QUEUE_TITLES],
            "unknown_status": None if known else asked,
            "severities": reads.report_severities(),
            "is_manager": roles.has_role(request.user, roles.MANAGER),
        },
    )


# The report page -------------------------------------------------------------------------------------------


def markdown_html(text: str):
    """Sanitised HTML of a section; an empty one reads "to fill", as in the Markdown export."""
    return mark_safe(markdown_to_safe_html(text.strip() or reports.TO_FILL))  # noqa: S308  (nh3-sanitised)


def preview_html(typed: str):
    """The preview of text just typed. Over the limit it is not rendered: the field's error says why."""
    text = normalize_newlines(typed)
    if len(text) > REPORT_SECTION_MAX_LENGTH:
        return format_html(
            '<p class="muted">No preview: {} characters, over the limit of {}.</p>',
            f"{len(text):,}",
            f"{REPORT_SECTION_MAX_LENGTH:,}",
        )
    return markdown_html(text)


def _facts(incident: Incident) -> dict:
    services = [service.slug for service in incident.services.all()]
    return {
        "date": incident.detected_at,
        "duration": reports.human_duration(
            (incident.resolved_at - incident.detected_at) if incident.resolved_at else None
        ),
        "severity": reports.severity_label(incident.severity),
        "services": services,
    }


def _timeline_rows(report: Report, *, pinned: set[int], hidden: set[int]) -> tuple[list[dict], list[dict], bool]:
    """The report's timeline (what it shows) and, for editing, every entry with its flags."""
    shown = reports.report_timeline(report)
    in_report = {entry.pk for entry in shown}
    report_rows = [
        {"entry": entry, "text": reports.timeline_text(entry), "pinned": entry.pk in pinned} for entry in shown
    ]
    everything = list(report.incident.timeline.order_by("created_at", "id")[: TIMELINE_EDIT_LIMIT + 1])
    truncated = len(everything) > TIMELINE_EDIT_LIMIT
    edit_rows = [
        {
            "entry": entry,
            "text": entry.text,
            "in_report": entry.pk in in_report,
            "pinned": entry.pk in pinned,
            "hidden": entry.pk in hidden,
        }
        for entry in everything[:TIMELINE_EDIT_LIMIT]
    ]
    return report_rows, edit_rows, truncated


def _report_form(report: Report, data=None) -> ReportForm:
    entry_ids = list(report.incident.timeline.values_list("pk", flat=True))
    initial = {name: getattr(report, name) for name in ("version", "title", *(n for n, _ in REPORT_SECTIONS))}
    initial["pinned_entries"] = report.pinned_entries
    initial["hidden_entries"] = report.hidden_entries
    return ReportForm(data, initial=initial, entry_ids=entry_ids)


def _flags(form: ReportForm | None, report: Report) -> tuple[set[int], set[int]]:
    """Pinned and hidden ids as the form shows them: what was ticked when re-rendering a post, else stored."""
    if form is not None and form.is_bound:

        def ids(name):
            return {int(v) for v in form.data.getlist(name) if str(v).isdigit()}

        return ids("pinned_entries"), ids("hidden_entries")
    return set(report.pinned_entries), set(report.hidden_entries)


def report_page_render(
    request,
    incident: Incident,
    report: Report | None,
    *,
    status: int = 200,
    form: ReportForm | None = None,
    changes_form: RequestChangesForm | None = None,
    action_item_form: ActionItemForm | None = None,
    conflict: dict | None = None,
    unsaved: ReportForm | None = None,
    previewing: bool = False,
):
    acting = can_act(request.user)
    context = {
        "incident": incident,
        "report": report,
        "facts": _facts(incident),
        "acting": acting,
        "is_manager": roles.has_role(request.user, roles.MANAGER),
        "action_items": reads.annotate_overdue(reads.action_items_for_incident(incident)),
        "action_item_form": action_item_form or (ActionItemForm() if acting else None),
        "items_acting": acting,
        "origin": "report",
        "return_to": reverse("report-page", args=[incident.pk]) + "#section-action-items",
        "previewing": previewing,
        "conflict": conflict,
        "unsaved": unsaved,
    }
    if report is None:
        drafting = reports.report_drafting(incident, None)
        context["can_draft"] = (
            acting and incident.status == Status.RESOLVED and (not drafting or reports.report_draft_overdue(incident))
        )
        context["severities"] = reads.report_severities()
        context["no_report_reason"] = no_report_reason(incident, context["severities"])
        return render(request, "reports/page.html", context, status=status)

    can_edit = acting and report.status in reports.EDITABLE_STATUSES
    if can_edit and form is None:
        form = _report_form(report)
    pinned, hidden = _flags(form if can_edit else None, report)
    report_rows, edit_rows, truncated = _timeline_rows(report, pinned=pinned, hidden=hidden)
    sections = {name: markdown_html(getattr(report, name)) for name, _ in REPORT_SECTIONS}
    if can_edit:
        # What each textarea holds, rendered: the saved text, or what was just typed (preview, errors, conflict).
        values = {name: (form[name].value() or "") for name, _ in REPORT_SECTIONS}
        saved = {section["key"]: section for section in (conflict or {}).get("sections", [])}
        context["editors"] = [
            {
                "field": form[name],
                "key": name,
                "label": label,
                "preview": preview_html(values[name]),
                "saved": saved.get(name),
            }
            for name, label in REPORT_SECTIONS
        ]
        context["saved_title"] = saved.get("title")
        context["editor"] = {e["key"]: e for e in context["editors"]}
    context.update(
        {
            "form": form if can_edit else None,
            "can_edit": can_edit,
            "can_review": context["is_manager"] and report.status == ReportStatus.IN_REVIEW,
            "sections": sections,
            "report_timeline": report_rows,
            "edit_timeline": edit_rows,
            "edit_timeline_truncated": truncated,
            "changes_form": changes_form or RequestChangesForm(),
            "changes_open": changes_form is not None and bool(changes_form.errors),
        }
    )
    return render(request, "reports/page.html", context, status=status)


def no_report_reason(incident: Incident, severities) -> str:
    ref = incident.reference
    if reports.report_drafting(incident, None):
        return f"Drafting the report… {ref}'s report is being drafted from its timeline; reload in a moment."
    if incident.status not in (Status.RESOLVED, Status.REVIEWED):
        return f"{ref} is {incident.get_status_display().lower()}: it is not resolved yet."
    if incident.resolution != Resolution.FIXED:
        return f"{ref} was resolved as {incident.get_resolution_display().lower()}, so it got no report automatically."
    if incident.severity not in severities:
        return f"{ref} is {incident.severity}, so it got no report automatically."
    return f"{ref} has no report yet."


def _incident(pk) -> Incident:
    return get_object_or_404(selectors.incidents_for_detail(), pk=pk)


@require_GET
@role_required(roles.VIEWER)
def report_page(request, pk):
    incident = _incident(pk)
    return report_page_render(request, incident, reads.report_for_page(incident))


@require_GET
@role_required(roles.VIEWER)
def report_print(request, pk):
    incident = _incident(pk)
    report = reads.report_for_page(incident)
    if report is None:
        return redirect("report-page", pk=incident.pk)
    report_rows, _, _ = _timeline_rows(report, pinned=set(report.pinned_entries), hidden=set())
    return render(
        request,
        "reports/print.html",
        {
            "incident": incident,
            "report": report,
            "facts": _facts(incident),
            "sections": {name: markdown_html(getattr(report, name)) for name, _ in REPORT_SECTIONS},
            "report_timeline": report_rows,
            "action_items": reads.annotate_overdue(reads.action_items_for_incident(incident)),
        },
    )


# Editing -------------------------------------------------------------------------------------------------------


def _conflict_context(report: Report, form: ReportForm, error: reports.ReportConflict) -> dict:
    """What the person needs to merge: who saved which version, and the saved text of each section that differs."""
    who = report.updated_by.get_username() if report.updated_by else "someone"
    differing = [
        {"key": name, "label": label, "saved": getattr(report, name), "html": markdown_html(getattr(report, name))}
        for name, label in (("title", "Title"), *REPORT_SECTIONS)
        if normalize_newlines(form.data.get(name) or "").strip() != (getattr(report, name) or "").strip()
    ]
    return {"who": who, "version": report.version, "yours": form.data.get("version"), "sections": differing}


@require_POST
@role_required(roles.ENGINEER)
def report_save(request, pk):
    """Save the edit form (``intent``: ``save``, ``submit`` = save then submit, ``preview`` = render only)."""
    incident = _incident(pk)
    report = get_object_or_404(Report, incident=incident)
    intent = request.POST.get("intent", "save")
    form = _report_form(report, request.POST)
    try:
        reports.report_guard_editable(report)
    except reports.ReportConflict as error:
        return _refused_save(request, incident, form, error)
    if intent == "preview":
        messages.info(request, "Preview only: nothing is saved yet.")
        return report_page_render(request, incident, report, form=form, previewing=True)
    if not form.is_valid():
        messages.error(request, "Check the highlighted fields; nothing was saved.")
        return report_page_render(request, incident, report, status=400, form=form)
    actor = Actor.for_user(request.user)
    before = report.version
    try:
        saved = reports.report_update(
            report=report, actor=actor, version=form.cleaned_data["version"], changes=form.changes()
        )
        if intent == "submit":
            saved = reports.report_submit(report=saved, actor=actor)
    except reports.ReportConflict as error:
        return _refused_save(request, incident, form, error)
    if intent == "submit":
        messages.success(request, f"Report on {incident.reference} submitted for review. A manager approves it.")
    elif saved.version == before:
        messages.info(request, "Nothing changed since the last save.")
    else:
        messages.success(request, f"Report saved (version {saved.version}).")
    return redirect("report-page", pk=incident.pk)


def _refused_save(request, incident: Incident, form: ReportForm, error: reports.ReportConflict):
    """409: the text typed stays on the page, beside what is saved now. Nothing is overwritten."""
    current = reads.report_for_page(incident)
    if current.status in reports.EDITABLE_STATUSES:
        # Still editable: someone saved meanwhile. Offer the typed text against the current version, so
        # saving again is a deliberate choice made with both texts in view.
        conflict = _conflict_context(current, form, error)
        data = form.data.copy()
        data["version"] = str(current.version)
        messages.error(
            request,
            f"Someone saved this report since you opened it: {conflict['who']} saved version {current.version}, "
            f"you started from version {conflict['yours']}. Nothing was overwritten and your text is kept below, "
            "with the saved text under each section that differs. Merge what you need, then save again.",
        )
        rebound = _report_form(current, data)
        return report_page_render(request, incident, current, status=409, form=rebound, conflict=conflict)
    messages.error(request, f"{error.detail} Your text was not saved; it is kept below so you can copy it.")
    return report_page_render(request, incident, current, status=409, unsaved=form)


@require_POST
@role_required(roles.ENGINEER)
def report_preview(request, pk):
    """Markdown → sanitised HTML for the live preview, exactly as the page will show it."""
    get_object_or_404(Incident, pk=pk)
    form = SectionPreviewForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"detail": " ".join(form.errors["text"])}, status=400)
    return JsonResponse({"html": str(markdown_html(form.cleaned_data["text"]))})


@require_POST
@role_required(roles.ENGINEER)
def report_draft(request, pk):
    """Draft a report by hand for a resolved incident that did not get one (a P3, a false alarm)."""
    incident = _incident(pk)
    try:
        reports.report_draft_request(incident_id=incident.pk, actor=Actor.for_user(request.user))
    except reports.ReportConflict as error:
        messages.error(request, f"{error.detail} Nothing was changed by you; the page shows the current state.")
        incident = _incident(pk)
        return report_page_render(request, incident, reads.report_for_page(incident), status=409)
    messages.success(request, f"Report drafted for {incident.reference} from its timeline. Fill in what it asks.")
    return redirect("report-page", pk=incident.pk)


# Review steps --------------------------------------------------------------------------------------------------


def _step(request, pk, run, *, changes_form=None):
    incident = _incident(pk)
    report = get_object_or_404(Report.objects.select_related("incident"), incident=incident)
    try:
        done = run(report, Actor.for_user(request.user))
    except (reports.ReportConflict, lifecycle.TransitionError) as error:
        # Out of order (someone else took the step first, or the incident was reopened): say so, show now.
        messages.error(request, f"{error.detail} Nothing was changed by you; the page shows the current state.")
        incident = _incident(pk)
        return report_page_render(request, incident, reads.report_for_page(incident), status=409)
    except DomainForbidden as error:
        messages.error(request, f"{error.detail} Nothing was changed.")
        return report_page_render(request, incident, reads.report_for_page(incident), status=403)
    message = f"Report on {incident.reference} {STEP_DONE[done.status]}."
    if done.status == ReportStatus.APPROVED:
        message += f" {incident.reference} is reviewed."
    messages.success(request, message)
    return redirect("report-page", pk=incident.pk)


@require_POST
@role_required(roles.ENGINEER)
def report_submit(request, pk):
    return _step(request, pk, lambda report, actor: reports.report_submit(report=report, actor=actor))


@require_POST
@role_required(roles.MANAGER)
def report_approve(request, pk):
    return _step(request, pk, lambda report, actor: reports.report_approve(report=report, actor=actor))


@require_POST
@role_required(roles.MANAGER)
def report_request_changes(request, pk):
    form = RequestChangesForm(request.POST)
    if form.is_valid():
        comment = form.cleaned_data["comment"]
        try:
            return _step(
                request,
                pk,
                lambda report, actor: reports.report_request_changes(report=report, actor=actor, comment=comment),
            )
        except DomainInputError as error:
            for field, problems in error.errors.items():
                form.add_error(field if field in form.fields else None, problems)
    incident = _incident(pk)
    problems = " ".join(error for errors in form.errors.values() for error in errors)
    messages.error(request, f"{problems} The report was not sent back.")
    return report_page_render(request, incident, reads.report_for_page(incident), status=400, changes_form=form)
