import hashlib
import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from incidents.models import ApiToken
from incidents.tokens import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db


def _get(raw, url="/api/v1/incidents/"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client.get(url)


def test_token_is_stored_as_sha256_only(engineer):
    token, raw = api_token_create(user=engineer, name="deploy")
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {stored.digest, stored.prefix, stored.name}
    assert raw.startswith(stored.prefix)


def test_valid_token_works_and_records_use(engineer):
    token, raw = api_token_create(user=engineer, name="deploy")
    assert _get(raw).status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer oo_not-a-real-token"])
def test_bad_tokens_are_401(engineer, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/incidents/")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_revoked_and_expired_tokens_are_401(engineer):
    revoked, raw_revoked = api_token_create(user=engineer, name="old")
    api_token_revoke(token=revoked)
    _, raw_expired = api_token_create(user=engineer, name="temp", expires_at=timezone.now() - timedelta(seconds=1))
    assert _get(raw_revoked).status_code == 401
    assert _get(raw_expired).status_code == 401


def test_inactive_users_token_is_401(engineer):
    _, raw = api_token_create(user=engineer, name="deploy")
    engineer.is_active = False
    engineer.save()
    assert _get(raw).status_code == 401


def test_command_prints_the_token_alone_on_the_last_line(engineer):
    out = io.StringIO()
    call_command("create_api_token", "erin", "--name", "alertmanager script", stdout=out)
    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith("oo_") and " " not in last
    assert _get(last).status_code == 200
    assert ApiToken.objects.get(digest=hashlib.sha256(last.encode()).hexdigest()).name == "alertmanager script"


def test_command_refuses_unknown_user(db):
    with pytest.raises(CommandError, match="No user named"):
        call_command("create_api_token", "ghost", "--name", "x", stdout=io.StringIO())
