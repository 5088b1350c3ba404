"""Action items in the browser: the board (/action-items/), adding one to an incident, closing one.

Action items outlive their incident's review (they are its follow-ups), so engineers may add and
close them on a reviewed incident too; the domain is ``incidents.action_items``.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from incidents import roles, selectors
from incidents.action_items import action_item_create, action_item_update
from incidents.actors import Actor
from incidents.models import ActionItem, ActionItemStatus
from incidents.web import reads
from incidents.web.access import can_act, role_required
from incidents.web.forms import ActionItemFilterForm, ActionItemForm, ActionItemStatusForm
from incidents.web.views.incidents import incident_page_render
from incidents.web.views.reports import report_page_render

PAGE_SIZE = 50
STATUS_DONE_MESSAGE = {
    ActionItemStatus.DONE: "marked done",
    ActionItemStatus.WONT_DO: "closed as won't do",
    ActionItemStatus.OPEN: "reopened",
}


def _back(request, fallback: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


@require_GET
@role_required(roles.VIEWER)
def action_item_board(request):
    filter_form = ActionItemFilterForm(request.GET)
    filters = filter_form.filters()
    page = Paginator(reads.action_items_board(filters=filters, user=request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "action_items/board.html",
        {
            "page": page,
            "items": reads.annotate_overdue(list(page.object_list)),
            "filter_form": filter_form,
            "filtered": bool(filters),
            "counts": reads.action_item_counts(user=request.user),
            "acting": can_act(request.user),
            "return_to": request.get_full_path(),
        },
    )


@require_POST
@role_required(roles.ENGINEER)
def action_item_add(request, pk):
    """Add an action item to incident ``pk`` from its page or its report; errors re-render where it was typed."""
    incident = get_object_or_404(selectors.incidents_for_detail(), pk=pk)
    form = ActionItemForm(request.POST)
    origin = request.POST.get("origin")
    if not form.is_valid():
        messages.error(request, "Check the action item's fields; it was not added.")
        if origin == "report":
            return report_page_render(
                request, incident, reads.report_for_page(incident), status=400, action_item_form=form
            )
        return incident_page_render(
            request, incident, status=400, panel_extra={"action-items": {"action_item_form": form}}
        )
    item = action_item_create(incident=incident, actor=Actor.for_user(request.user), **form.cleaned_data)
    owner = item.owner.get_username() if item.owner else "nobody yet"
    messages.success(request, f"Action item added to {incident.reference}: {item.title} (owner {owner}).")
    fallback = reverse("incident-detail", args=[incident.pk]) + "#panel-action-items"
    return HttpResponseRedirect(_back(request, fallback))


@require_POST
@role_required(roles.ENGINEER)
def action_item_status(request, item_pk):
    item = get_object_or_404(ActionItem.objects.select_related("incident"), pk=item_pk)
    form = ActionItemStatusForm(request.POST)
    fallback = reverse("action-item-board")
    if not form.is_valid():
        messages.error(request, "Pick done, won't do or open.")
        return HttpResponseRedirect(_back(request, fallback))
    status = form.cleaned_data["status"]
    if item.status == status:
        messages.info(request, f"“{item.title}” is already {item.get_status_display().lower()}.")
        return HttpResponseRedirect(_back(request, fallback))
    updated = action_item_update(item=item, actor=Actor.for_user(request.user), status=status)
    messages.success(request, f"“{updated.title}” ({updated.incident.reference}) {STATUS_DONE_MESSAGE[status]}.")
    return HttpResponseRedirect(_back(request, fallback))
