"""In Chromium: the live preview of a section over the length limit says why it is not rendered, and renders
again once the section is short enough."""

import re

import pytest
from playwright.sync_api import expect

from incidents import lifecycle, reports
from incidents.actors import Actor
from incidents.models import REPORT_SECTION_MAX_LENGTH, Report
from tests.factories import IncidentFactory, ServiceFactory, UserFactory
from tests.web.browser.conftest import DESKTOP

REFUSED = re.compile(r"\bis-unavailable\b")


@pytest.mark.django_db(transaction=True)
def test_live_preview_explains_an_over_limit_section(new_context, live_server, sign_in):
    erin = UserFactory(username="erin", role="engineer")
    incident = IncidentFactory(title="Pool exhausted", severity="P1", services=[ServiceFactory(slug="task-service")])
    lifecycle.transition(incident, "resolved", actor=Actor.for_user(erin), resolution="fixed", note="Pool 10 → 20")
    report = reports.report_draft_create(incident_id=incident.pk, force=True)
    # Saved before the limit existed: longer than a section may now be.
    Report.objects.filter(pk=report.pk).update(root_cause="Long write-up. " * 2000)

    page = new_context(viewport=DESKTOP).new_page()
    sign_in(page, "erin")
    page.goto(f"{live_server.url}/incidents/{incident.pk}/report/")
    pane = page.locator('[data-preview-for="id_root_cause"]')
    expect(pane).to_contain_text(f"No preview: 30,000 characters, over the limit of {REPORT_SECTION_MAX_LENGTH:,}.")

    root_cause = page.get_by_label("Root Cause")
    root_cause.press("End")
    root_cause.press("Backspace")  # still over: the server refuses, and the pane says why
    expect(pane).to_contain_text(f"A section holds at most {REPORT_SECTION_MAX_LENGTH:,} characters")
    expect(pane).not_to_contain_text("unavailable")
    expect(pane).to_have_class(REFUSED)

    root_cause.fill("Pool sized for **2** replicas; we run 5.")
    expect(pane.locator("strong")).to_have_text("2")
    expect(pane).not_to_have_class(REFUSED)
