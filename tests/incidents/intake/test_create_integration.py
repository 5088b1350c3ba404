import hashlib
import io

import pytest
from django.core.management import CommandError, call_command

from incidents.models import Integration

pytestmark = pytest.mark.django_db


def test_prints_token_once_on_the_last_line_and_stores_its_digest():
    out = io.StringIO()
    call_command("create_integration", "prod-am", "--kind", "alertmanager", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    assert token.startswith("oi_") and " " not in token
    integration = Integration.objects.get(name="prod-am")
    assert integration.digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (integration.prefix, integration.digest)


def test_duplicate_name_is_refused():
    call_command("create_integration", "x", "--kind", "events", stdout=io.StringIO())
    with pytest.raises(CommandError, match="exists"):
        call_command("create_integration", "x", "--kind", "events", stdout=io.StringIO())
