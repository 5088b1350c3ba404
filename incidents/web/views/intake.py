"""The intake page: what each integration sent, and every payload that was not applied in full."""

from django.contrib import messages
from django.db import DatabaseError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from incidents import intake, roles
from incidents.models import AlertPayload
from incidents.web import reads
from incidents.web.access import role_required


@require_GET
@role_required(roles.ENGINEER)
def intake_page(request):
    unapplied, refused = reads.intake_payloads_needing_attention()
    return render(
        request,
        "intake/page.html",
        {
            "integrations": list(reads.intake_integrations()),
            "unapplied": unapplied,
            "refused": refused,
            "can_replay": roles.has_role(request.user, roles.MANAGER),
        },
    )


@require_POST
@role_required(roles.MANAGER)
def payload_replay(request, pk: int):
    payload = get_object_or_404(AlertPayload, pk=pk)
    try:
        outcomes = intake.payload_process(payload.pk)
    except DatabaseError:
        messages.error(request, f"Payload {payload.pk}: the database is unavailable; try again.")
        return redirect("intake-page")
    payload.refresh_from_db()
    if payload.status == "processed":
        messages.success(request, f"Payload {payload.pk} applied: {len(outcomes)} alert key(s).")
    else:
        messages.error(request, f"Payload {payload.pk} is {payload.status}: {payload.error[:300]}")
    return redirect("intake-page")
