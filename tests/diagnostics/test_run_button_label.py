"""The diagnostics panel's button says "Run diagnostics" until something ran, "Run again" after."""

import pytest

from diagnostics.models import DiagnosticRun
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def _button(client, incident) -> str:
    html = client.get(f"/incidents/{incident.pk}/").content.decode()
    start = html.index("data-diagnostics-run")
    return html[start : html.index("</button>", start)]


def test_run_button_says_run_again_only_after_a_run(client, engineer, service):
    client.force_login(engineer)
    engineer_client = client
    incident = IncidentFactory(title="Checkout errors", severity="P1", services=[service])
    button = _button(engineer_client, incident)
    assert "Run diagnostics" in button and "Run again" not in button
    DiagnosticRun.objects.create(
        incident=incident, collector="postgres", target_name="task-db", status="succeeded", trigger="on_demand"
    )
    button = _button(engineer_client, incident)
    assert "Run again" in button and "Run diagnostics" not in button
