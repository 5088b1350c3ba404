"""The manager's review queue (/reports/).

Post-incident reports arrive in a later release. Until then the queue is
honest about what it lists: incidents resolved as fixed, of a severity that
gets a report, that nobody has reviewed yet — the incidents whose report a
manager will approve.
"""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from incidents import roles
from incidents.web import reads
from incidents.web.access import role_required

QUEUE_STATUSES = {"in_review": "Awaiting review"}
PAGE_SIZE = 50


@require_GET
@role_required(roles.VIEWER)
def report_queue(request):
    status = request.GET.get("status", "in_review")
    known = status in QUEUE_STATUSES
    page = Paginator(reads.incidents_awaiting_review(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "reports/queue.html",
        {
            "page": page,
            "incidents": page.object_list,
            "status": status if known else "in_review",
            "unknown_status": None if known else status,
            "severities": reads.report_severities(),
            "is_manager": roles.has_role(request.user, roles.MANAGER),
        },
    )
