"""Report text is Markdown from people: scripts, event handlers and javascript: links never reach a page."""

import re

import pytest

from incidents.models import Report
from tests.web.review.helpers import edit_data

pytestmark = pytest.mark.django_db

ATTACKS = "\n\n".join(
    [
        "<script>alert('summary')</script>",
        '<img src="x" onerror="alert(1)">',
        "[click me](javascript:alert(2))",
        '<a href="javascript:alert(3)" onclick="alert(4)">raw link</a>',
        '<svg onload="alert(5)"></svg>',
        '<iframe src="https://evil.example/"></iframe>',
        "**kept bold** and [a real link](https://example.com/runbook)",
    ]
)


def dangerous(html: str) -> list[str]:
    """Executable markup in a page: script elements other than our static files, handlers, javascript: URLs."""
    found = [tag for tag in re.findall(r"<script\b[^>]*>", html) if 'src="/static/' not in tag]
    found += re.findall(r"<[^>]+\son\w+\s*=", html)
    # Inside tags only: typed HTML is shown as escaped text, which may spell "href=javascript:" harmlessly.
    found += re.findall(r"""<[a-z][^>]*\s(?:href|src)\s*=\s*["']?\s*javascript:""", html, flags=re.IGNORECASE)
    found += re.findall(r"<(?:iframe|svg onload|img)[^>]*>", html)
    return found


@pytest.fixture
def attacked(engineer_client, report):
    engineer_client.post(
        f"/incidents/{report.incident_id}/report/edit/",
        edit_data(report, summary=ATTACKS, root_cause=ATTACKS, title="<script>alert('title')</script>"),
    )
    stored = Report.objects.get(pk=report.pk)
    assert stored.summary == ATTACKS  # stored as typed: sanitising happens when rendering
    return stored


@pytest.mark.parametrize("path", ["report/", "report/print/", ""])
def test_attacks_are_neutralised_on_every_page(attacked, viewer_client, path):
    html = viewer_client.get(f"/incidents/{attacked.incident_id}/{path}").content.decode()
    assert dangerous(html) == []
    if path:
        assert "<strong>kept bold</strong>" in html
        assert '<a href="https://example.com/runbook" rel="noopener noreferrer nofollow">a real link</a>' in html
        assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt;" in html  # the title is text


def test_attacks_are_neutralised_in_the_editor_and_its_preview(attacked, engineer_client):
    html = engineer_client.get(f"/incidents/{attacked.incident_id}/report/").content.decode()
    assert dangerous(html) == []
    # In the textarea the text is escaped, so the author sees exactly what was typed.
    assert "&lt;script&gt;alert(&#x27;summary&#x27;)&lt;/script&gt;" in html
    preview = engineer_client.post(f"/incidents/{attacked.incident_id}/report/preview/", {"text": ATTACKS}).json()
    assert dangerous(preview["html"]) == [] and "<strong>kept bold</strong>" in preview["html"]


def test_review_comment_is_text(manager_client, engineer, attacked):
    from tests.web.review.helpers import submitted

    submitted(attacked, engineer)
    manager_client.post(
        f"/incidents/{attacked.incident_id}/report/request-changes/", {"comment": '<img src=x onerror="alert(6)">'}
    )
    html = manager_client.get(f"/incidents/{attacked.incident_id}/report/").content.decode()
    assert dangerous(html) == [] and "&lt;img src=x onerror=" in html
