"""The admin's sign-in shares the app's lockout: failures at /accounts/login/ and /admin/login/ add up."""

import pytest
from django.core.cache import cache
from django.test import Client

from incidents.web import throttle
from tests.factories import UserFactory
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.django_db

APP = "/accounts/login/"
ADMIN = "/admin/login/?next=/admin/"


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    # Dozens of sign-ins per test; the lockout does not depend on the hash's cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff():
    user = UserFactory(username="sam", role="manager")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


def attempt(url, username, password, address="10.0.0.1", client=None):
    client = client or Client(REMOTE_ADDR=address)
    return client.post(url, {"username": username, "password": password, "next": "/admin/"})


def signed_in_to_admin(client) -> bool:
    return client.get("/admin/").status_code == 200


def test_admin_sign_in_works_and_clears_the_count(staff):
    for _ in range(throttle.FAILURES_PER_USERNAME_AND_ADDRESS - 1):
        assert attempt(ADMIN, "sam", "wrong").status_code == 200
    client = Client(REMOTE_ADDR="10.0.0.1")
    response = attempt(ADMIN, "sam", PASSWORD, client=client)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert signed_in_to_admin(client)
    for _ in range(throttle.FAILURES_PER_USERNAME_AND_ADDRESS - 1):
        attempt(ADMIN, "sam", "wrong")
    assert attempt(ADMIN, "sam", PASSWORD).status_code == 302


def test_failures_in_the_app_lock_the_admin_out(staff):
    for _ in range(throttle.FAILURES_PER_USERNAME_AND_ADDRESS):
        assert attempt(APP, "sam", "wrong").status_code == 200
    client = Client(REMOTE_ADDR="10.0.0.1")
    response = attempt(ADMIN, "sam", PASSWORD, client=client)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed sign-ins" in page and "Try again in 15 min" in page
    assert not signed_in_to_admin(client)
    # Another address is not locked out.
    assert attempt(ADMIN, "sam", PASSWORD, address="10.0.0.2").status_code == 302


def test_failures_in_the_admin_lock_the_app_out(staff):
    for _ in range(throttle.FAILURES_PER_USERNAME_AND_ADDRESS):
        assert attempt(ADMIN, "SAM", "wrong").status_code == 200
    response = attempt(APP, "sam", PASSWORD)
    assert response.status_code == 429 and "Too many failed sign-ins" in response.content.decode()
    assert attempt(ADMIN, "sam", PASSWORD).status_code == 429


def test_failures_at_both_forms_add_up(staff):
    for n in range(throttle.FAILURES_PER_USERNAME_AND_ADDRESS):
        assert attempt(APP if n % 2 else ADMIN, "sam", "wrong").status_code == 200
    assert attempt(APP, "sam", PASSWORD).status_code == 429
    assert attempt(ADMIN, "sam", PASSWORD).status_code == 429


def test_one_address_spraying_usernames_over_both_forms_is_stopped(staff):
    for n in range(throttle.FAILURES_PER_ADDRESS):
        attempt(APP if n % 2 else ADMIN, f"guess{n}", "wrong")
    assert attempt(ADMIN, "sam", PASSWORD).status_code == 429
    assert attempt(APP, "sam", PASSWORD).status_code == 429
    assert attempt(ADMIN, "sam", PASSWORD, address="10.0.0.9").status_code == 302


def test_admin_refusing_a_non_staff_user_counts_as_a_failure(engineer):
    """The admin refuses a right password of a user who is not staff with the same message as a wrong one."""
    for _ in range(throttle.FAILURES_PER_USERNAME_AND_ADDRESS):
        response = attempt(ADMIN, "erin", PASSWORD)
        assert response.status_code == 200 and "staff account" in response.content.decode()
    assert attempt(APP, "erin", PASSWORD).status_code == 429


def test_lockout_is_logged_with_the_form_it_hit(staff, caplog):
    for _ in range(throttle.FAILURES_PER_USERNAME_AND_ADDRESS):
        attempt(APP, "sam", "wrong")
    caplog.clear()
    with caplog.at_level("WARNING", logger="incidents.web.views.auth"):
        attempt(ADMIN, "sam", PASSWORD)
    assert [r.getMessage() for r in caplog.records if r.name == "incidents.web.views.auth"] == [
        "sign-in refused while locked out: username='sam' address=10.0.0.1 path=/admin/login/"
    ]
