"""Pages stay current without reloading: the dashboard's rows, and every part of the incident page
(timeline, header, actions, panels) through its one live channel, paused while the tab is hidden."""

import re

import pytest
from playwright.sync_api import expect

from diagnostics import services as diagnostics_services
from diagnostics.models import DiagnosticRun, Target
from incidents import lifecycle, reports
from incidents.action_items import action_item_create
from incidents.actors import Actor
from incidents.services import incident_update, note_add
from tests.factories import IncidentFactory, ServiceFactory, UserFactory

LIVE = 15_000  # ms: a poll is at most 2 s away after a change, and while a run is in progress

FINDING = {
    "check": "postgres.connection_saturation", "status": "crit", "summary": "16 of 17 usable connections in use",
    "subject": "appdb", "evidence": {"query": "SELECT 1", "observed": 94.1, "threshold": {}, "unit": "%"},
    "remediation": "Lower the pools.", "runbook": "db-connection-pool-exhausted",
}  # fmt: skip


def mark_page(page):
    page.evaluate("window.__notReloaded = true")


def assert_not_reloaded(page):
    assert page.evaluate("window.__notReloaded === true"), "the page reloaded"


def set_visibility(page, state: str):
    """As if the tab were hidden ("hidden") or shown again ("visible": the browser's own state again, so
    closing the page at the end hides it for real and it asks nothing more)."""
    page.evaluate(
        """state => {
            if (state === "hidden") {
                Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
            } else {
                delete document.visibilityState;
            }
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


# The dashboard -----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_second_context_sees_status_change_without_reloading(new_context, live_server, sign_in):
    UserFactory(username="erin", role="engineer")
    UserFactory(username="vic", role="viewer")
    incident = IncidentFactory(title="Orders API 502", severity="P1")

    actor_context, watcher_context = new_context(), new_context()
    actor = sign_in(actor_context.new_page(), "erin")
    dashboard = sign_in(watcher_context.new_page(), "vic")
    watcher = watcher_context.new_page()
    watcher.goto(f"{live_server.url}/incidents/{incident.pk}/")
    for page in (dashboard, watcher):
        mark_page(page)
    row = dashboard.locator(f"#incident-{incident.pk}")
    expect(row.locator(".status")).to_have_text("Detected")

    actor.goto(f"{live_server.url}/incidents/{incident.pk}/")
    actor.get_by_role("button", name="Acknowledge").click()
    expect(actor.locator("#incident-header .status")).to_have_text("Acknowledged")

    expect(row.locator(".status")).to_have_text("Acknowledged", timeout=LIVE)
    expect(row.locator("td").nth(4)).to_have_text("erin")  # the commander column
    expect(watcher.locator("#incident-header .status")).to_have_text("Acknowledged", timeout=LIVE)
    expect(watcher.locator("#timeline li.entry-status_changed")).to_contain_text("erin")
    for page in (dashboard, watcher):
        assert_not_reloaded(page)


@pytest.mark.django_db(transaction=True)
def test_new_p1_appears_in_order_and_marks_the_title(page, live_server, sign_in):
    UserFactory(username="erin", role="engineer")
    IncidentFactory(title="Dark mode contrast", severity="P3")
    sign_in(page, "erin")
    mark_page(page)
    expect(page.locator("tr.incident-row")).to_have_count(1)

    IncidentFactory(title="Payments failing for EU cards", severity="P1")
    rows = page.locator("tr.incident-row")
    expect(rows).to_have_count(2, timeout=LIVE)
    expect(rows.first).to_contain_text("Payments failing for EU cards")  # placed above the P3
    expect(page.locator("#severity-counts .sev-count-p1 .sev-count-open")).to_have_text("1")
    expect(page).to_have_title(re.compile(r"^\(1\) New P1 · "))
    assert_not_reloaded(page)


@pytest.mark.django_db(transaction=True)
def test_resolved_incident_leaves_the_dashboard(page, live_server, sign_in):
    erin = UserFactory(username="erin", role="engineer")
    incident = IncidentFactory(title="Cache hit ratio dropped", severity="P2")
    sign_in(page, "erin")
    mark_page(page)
    expect(page.locator(f"#incident-{incident.pk}")).to_have_count(1)
    lifecycle.transition(incident, "resolved", actor=Actor.for_user(erin), note="cache warmed")
    expect(page.locator(f"#incident-{incident.pk}")).to_have_count(0, timeout=LIVE)
    expect(page.locator("#empty-state")).to_be_visible()
    assert_not_reloaded(page)


# The incident page ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_incident_page_follows_notes_moves_diagnostics_and_the_report_without_reloading(page, live_server, sign_in):
    UserFactory(username="erin", role="engineer")
    bob = Actor.for_user(UserFactory(username="bob", role="engineer"))
    service = ServiceFactory(slug="task-service", name="Task service")
    incident = IncidentFactory(title="Task DB connection pool exhausted", severity="P3", services=[service])
    target = Target.objects.create(
        service=service, kind="postgres", name="task-db", config={"dsn_env": "ORION_TARGET_TASK_DB"}
    )
    sign_in(page, "erin")
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    page.evaluate("window.__marker = 1")
    header, timeline = page.locator("#incident-header"), page.locator("#timeline")
    diagnostics, report = page.locator("#panel-diagnostics"), page.locator("#panel-report")
    expect(diagnostics).to_contain_text("No diagnostics yet.")
    expect(report).to_contain_text("No report")
    page.evaluate("document.querySelector('#panel-report-body p').__untouched = true")

    note_add(incident=incident, actor=bob, text="vacuum full running on events table")
    expect(timeline.locator("li.entry").first).to_contain_text("vacuum full running", timeout=LIVE)
    expect(page.locator("#timeline-count")).to_have_text("2")
    # What the page already showed was left alone (the first poll brings every fragment to compare).
    assert page.evaluate("document.querySelector('#panel-report-body p').__untouched === true")

    lifecycle.transition(incident, "acknowledged", actor=bob)
    expect(header.locator(".status")).to_have_text("Acknowledged", timeout=LIVE)
    expect(header).to_contain_text("bob")  # the commander now
    expect(page.locator("#incident-actions")).to_contain_text("Start diagnosing")

    # The panel's own (untouched) form does not keep it from updating.
    expect(page.locator("#panel-action-items form.add-item-form")).to_have_count(1)
    action_item_create(incident=incident, actor=bob, title="Alert on pool usage above 80%")
    expect(page.locator("#panel-action-items .item-list")).to_contain_text("Alert on pool usage", timeout=LIVE)

    run = DiagnosticRun.objects.create(
        incident=incident, target=target, collector="postgres", target_name="task-db", trigger="on_demand"
    )
    shown = diagnostics.locator(f'[data-run-id="{run.pk}"]')
    expect(shown).to_have_attribute("data-run-status", "queued", timeout=LIVE)
    diagnostics_services.run_claim(run_id=run.pk)
    diagnostics_services.run_finish(run_id=run.pk, status="succeeded", findings=[FINDING])
    expect(shown).to_have_attribute("data-run-status", "succeeded", timeout=LIVE)
    expect(shown).to_contain_text("16 of 17 usable connections in use")
    expect(timeline.locator("li.entry-diagnostic")).to_have_count(1)

    # A P3 gets no report on its own; one drafted afterwards (no incident change) still shows up.
    lifecycle.transition(incident, "resolved", actor=bob, note="pool resized to 20")
    expect(header.locator(".status")).to_have_text("Resolved", timeout=LIVE)
    expect(report).to_contain_text("No report")
    reports.report_draft_create(incident_id=incident.pk, force=True)
    expect(report.get_by_role("link", name="Open the report")).to_be_visible(timeout=LIVE)
    expect(report).to_contain_text("Draft")

    assert page.evaluate("window.__marker") == 1, "the page reloaded"


@pytest.mark.django_db(transaction=True)
def test_what_someone_is_typing_is_kept_and_updated_once_sent_or_cleared(page, live_server, sign_in):
    UserFactory(username="erin", role="engineer")
    bob = Actor.for_user(UserFactory(username="bob", role="engineer"))
    incident = IncidentFactory(title="Checkout 502 after deploy", severity="P2")
    lifecycle.transition(incident, "acknowledged", actor=bob)
    sign_in(page, "erin")
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    page.evaluate("window.__marker = 1")

    page.get_by_text("Resolve…").click()
    note = page.get_by_label("How was it resolved?")
    note.fill("Rolled back to 2026.11.2")
    incident_update(incident=incident, actor=bob, severity="P1")

    # The header follows; the actions, being typed in, are kept and marked out of date.
    expect(page.locator("#incident-header .sev")).to_contain_text("P1", timeout=LIVE)
    actions = page.locator("#incident-actions")
    expect(actions.locator(".stale-note")).to_be_visible()
    expect(note).to_have_value("Rolled back to 2026.11.2")
    expect(note).to_be_focused()
    expect(page.locator("#id_severity_change")).to_have_value("P2")

    note.fill("")
    page.locator("#incident-header h1").click()  # leaves the field
    expect(actions.locator(".stale-note")).to_have_count(0)
    expect(page.locator("#id_severity_change")).to_have_value("P1")
    expect(actions.locator("details.move-resolved")).to_have_attribute("open", "")  # still open
    assert page.evaluate("window.__marker") == 1, "the page reloaded"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("where", ["incident page", "dashboard"])
def test_polling_pauses_while_the_tab_is_hidden(page, live_server, sign_in, where):
    UserFactory(username="erin", role="engineer")
    incident = IncidentFactory(title="Disk 91% on db-2", severity="P2")
    url = f"{live_server.url}/incidents/{incident.pk}/" if where == "incident page" else f"{live_server.url}/"
    endpoint = f"/incidents/{incident.pk}/changes/" if where == "incident page" else "/dashboard/changes/"
    sign_in(page, "erin")
    polls = []
    page.on("request", lambda request: polls.append(request.url) if endpoint in request.url else None)
    page.clock.install()
    page.goto(url)
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 0.1)  # from here on, time moves only when the test says

    with page.expect_response(lambda response: endpoint in response.url):
        page.clock.run_for(2_500)  # the first poll, 2 s after loading
    set_visibility(page, "hidden")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "paused")
    seen = len(polls)
    page.clock.run_for(5 * 60_000)  # five minutes in a hidden tab
    page.evaluate("1")  # a round trip: a request made meanwhile would have been reported by now
    assert len(polls) == seen

    with page.expect_request(lambda request: endpoint in request.url):
        set_visibility(page, "visible")  # shown again: asks at once, without waiting for a timer
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("answer", ["ok", "error"])
def test_an_answer_arriving_after_the_tab_is_hidden_leaves_it_paused(page, live_server, sign_in, answer):
    UserFactory(username="erin", role="engineer")
    incident = IncidentFactory(title="Disk 91% on db-2", severity="P2")
    endpoint = f"/incidents/{incident.pk}/changes/"
    held = []
    pattern = re.compile(re.escape(endpoint))
    page.route(pattern, lambda route: held.append(route))  # the poll's answer waits until released
    sign_in(page, "erin")
    page.clock.install()
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 0.1)

    page.clock.run_for(2_500)  # the first poll leaves, and is held
    page.wait_for_function("() => true")  # a round trip so the route handler has run
    assert len(held) == 1
    set_visibility(page, "hidden")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "paused")

    with page.expect_response(lambda response: endpoint in response.url):
        if answer == "ok":
            held[0].continue_()
        else:
            held[0].fulfill(status=503, content_type="application/json", body='{"detail": "Database unavailable"}')
    page.evaluate("1")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "paused")
    page.unroute(pattern)

    with page.expect_request(lambda request: endpoint in request.url):
        set_visibility(page, "visible")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")


@pytest.mark.django_db(transaction=True)
def test_poller_backs_off_when_idle_and_keeps_pace_while_busy(page, live_server, sign_in):
    UserFactory(username="erin", role="engineer")
    sign_in(page, "erin")
    page.clock.install()
    page.goto(f"{live_server.url}/")
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 0.1)
    page.evaluate(
        """() => {
            window.__calls = { idle: 0, busy: 0, changing: 0 };
            Orion.poller(() => { window.__calls.idle += 1; return false; });
            Orion.poller(() => { window.__calls.busy += 1; return false; }, { busy: () => true });
            Orion.poller(() => { window.__calls.changing += 1; return true; });
        }"""
    )
    for _ in range(60):
        page.clock.run_for(1_000)
    calls = page.evaluate("window.__calls")
    # Quiet answers stretch the wait by half each time up to 20 s: 2, 3, 4.5, 6.75, 10.1, 15.2 s apart.
    assert 5 <= calls["idle"] <= 7, calls
    assert calls["busy"] >= 25 and calls["changing"] >= 25, calls
