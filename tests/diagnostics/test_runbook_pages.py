import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("role", "expected"), [("viewer", 200), ("engineer", 200), (None, 403)])
def test_runbook_page_per_role(client, role, expected):
    client.force_login(UserFactory(username=f"rb-{role}", role=role))
    response = client.get("/runbooks/db-connection-pool-exhausted/")
    assert response.status_code == expected
    if expected == 200:
        html = response.content.decode()
        assert "<h1>DB connection pool exhausted</h1>" in html
        assert "<code>P2024</code>" in html  # the Markdown is rendered
        assert "pg_terminate_backend" in html


def test_anonymous_is_sent_to_login(client):
    response = client.get("/runbooks/high-error-rate/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_unknown_runbook_is_404(client):
    client.force_login(UserFactory(username="rb", role="viewer"))
    assert client.get("/runbooks/no-such-runbook/").status_code == 404


def test_list_links_every_runbook_and_finding_links_resolve(client):
    from diagnostics.runbooks import runbook_url, runbooks_all

    client.force_login(UserFactory(username="rb", role="viewer"))
    html = client.get("/runbooks/").content.decode()
    for runbook in runbooks_all():
        assert f'href="{runbook.url}"' in html
        assert client.get(runbook_url(runbook.slug)).status_code == 200
