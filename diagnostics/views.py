"""Runbook pages: the versioned Markdown steps that findings point to."""

from django.http import Http404
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from diagnostics.runbooks import runbook_get, runbooks_all
from incidents import roles
from incidents.web.access import role_required
from orion_ops.markdown import markdown_to_safe_html


@require_GET
@role_required(roles.VIEWER)
def runbook_list(request):
    return render(request, "diagnostics/runbook_list.html", {"runbooks": runbooks_all()})


@require_GET
@role_required(roles.VIEWER)
def runbook_detail(request, slug: str):
    runbook = runbook_get(slug)
    if runbook is None:
        raise Http404("No runbook by that name.")
    return render(
        request,
        "diagnostics/runbook.html",
        # The HTML comes out of the nh3 sanitiser, so it can be marked safe.
        {"runbook": runbook, "body": mark_safe(markdown_to_safe_html(runbook.body)), "runbooks": runbooks_all()},  # noqa: S308
    )
