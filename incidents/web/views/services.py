"""The services page: each service with its open incidents."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from incidents import roles
from incidents.paging import selectors as paging_selectors
from incidents.web import reads
from incidents.web.access import role_required


@require_GET
@role_required(roles.VIEWER)
def service_list(request):
    services = list(reads.services_with_open_incidents())
    oncall = paging_selectors.oncall_by_service(services)
    for service in services:
        service.oncall_lines = oncall[service.pk]
    return render(
        request,
        "services/list.html",
        {
            "services": services,
            "burning": [s for s in services if s.open_incidents],
            "quiet": [s for s in services if not s.open_incidents],
        },
    )
