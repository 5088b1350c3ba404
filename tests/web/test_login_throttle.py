"""Login throttling: 5 failures per username and address in 15 minutes lock that pair out, correct password or not."""

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

from incidents.web import throttle
from tests.web.conftest import PASSWORD


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def attempt(username, password, address="10.0.0.1", **headers):
    return Client(REMOTE_ADDR=address).post("/accounts/login/", {"username": username, "password": password}, **headers)


@pytest.mark.django_db
def test_sixth_attempt_is_refused_even_with_the_right_password(engineer):
    for _ in range(throttle.FAILURES_PER_USERNAME_AND_ADDRESS):
        assert attempt("erin", "wrong").status_code == 200
    response = attempt("erin", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "Try again in 15 min" in response.content.decode()


@pytest.mark.django_db
def test_lockout_is_per_username_and_address(engineer, user_factory):
    user_factory(username="ed", role="engineer")
    for _ in range(throttle.FAILURES_PER_USERNAME_AND_ADDRESS):
        attempt("erin", "wrong")
    assert attempt("erin", PASSWORD, address="10.0.0.2").status_code == 302
    assert attempt("ed", PASSWORD).status_code == 302
    assert attempt("ERIN ", PASSWORD).status_code == 429  # same username, other spelling


@pytest.mark.django_db
def test_success_clears_the_count(engineer):
    for _ in range(throttle.FAILURES_PER_USERNAME_AND_ADDRESS - 1):
        attempt("erin", "wrong")
    assert attempt("erin", PASSWORD).status_code == 302
    for _ in range(throttle.FAILURES_PER_USERNAME_AND_ADDRESS - 1):
        attempt("erin", "wrong")
    assert attempt("erin", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_one_address_spraying_usernames_is_stopped(engineer):
    for n in range(throttle.FAILURES_PER_ADDRESS):
        attempt(f"guess{n}", "wrong")
    assert attempt("erin", PASSWORD).status_code == 429
    assert attempt("erin", PASSWORD, address="10.0.0.9").status_code == 302


@pytest.mark.django_db
def test_forwarded_for_ignored_unless_proxy_hops_are_configured(engineer):
    for n in range(throttle.FAILURES_PER_USERNAME_AND_ADDRESS):
        attempt("erin", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    assert attempt("erin", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 429


@pytest.mark.django_db
@override_settings(TRUSTED_PROXY_HOPS=1)
def test_behind_a_proxy_the_forwarded_address_counts(engineer):
    for _ in range(throttle.FAILURES_PER_USERNAME_AND_ADDRESS):
        attempt("erin", "wrong", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert attempt("erin", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 429
    assert attempt("erin", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.6").status_code == 302


def test_lockout_minutes_round_up():
    assert throttle.Lockout(retry_after_seconds=61).retry_after_minutes == 2
    assert throttle.Lockout(retry_after_seconds=5).retry_after_minutes == 1
