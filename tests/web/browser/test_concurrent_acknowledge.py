"""Two engineers press Acknowledge at the same moment: one wins, the other is told and sees the new state."""

import pytest
from playwright.sync_api import expect

from incidents.models import Incident, TimelineEntry
from tests.factories import IncidentFactory, UserFactory

CLICK_ACKNOWLEDGE = """
() => { for (const b of document.querySelectorAll('#incident-actions button')) {
          if (b.textContent.trim() === 'Acknowledge') { b.click(); return true; } }
        return false; }
"""


@pytest.mark.django_db(transaction=True)
def test_two_engineers_acknowledge_at_once(new_context, live_server, sign_in):
    UserFactory(username="erin", role="engineer")
    UserFactory(username="ed", role="engineer")
    incident = IncidentFactory(title="Login page 500s", severity="P0")
    pages = {}
    for name in ("erin", "ed"):
        page = sign_in(new_context().new_page(), name)
        page.goto(f"{live_server.url}/incidents/{incident.pk}/")
        expect(page.get_by_role("button", name="Acknowledge")).to_be_visible()
        pages[name] = page

    # Both clicks are dispatched before either answer comes back.
    assert pages["erin"].evaluate(CLICK_ACKNOWLEDGE) and pages["ed"].evaluate(CLICK_ACKNOWLEDGE)

    for page in pages.values():
        expect(page.locator("#flash .flash")).to_be_visible()
        expect(page.locator("#incident-header .status")).to_have_text("Acknowledged")
    messages = {name: page.locator("#flash").inner_text() for name, page in pages.items()}
    winners = [name for name, text in messages.items() if text.strip() == f"INC-{incident.pk} acknowledged."]
    losers = [name for name, text in messages.items() if "Someone else" in text]
    assert len(winners) == 1 and len(losers) == 1, messages
    assert f"({winners[0]}) already acknowledged this" in messages[losers[0]]
    expect(pages[losers[0]].locator("#flash .flash-error")).to_be_visible()
    expect(pages[losers[0]].get_by_role("button", name="Acknowledge")).to_have_count(0)

    assert Incident.objects.get(pk=incident.pk).acknowledged_by.username == winners[0]
    assert TimelineEntry.objects.filter(incident=incident, kind="status_changed").count() == 1
