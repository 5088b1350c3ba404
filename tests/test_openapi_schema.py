"""The OpenAPI document is valid OpenAPI 3.0, generated without a warning."""

import io

import yaml
from django.core.management import call_command


def test_schema_is_valid_openapi_30_without_warnings(tmp_path):
    path = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path), stderr=io.StringIO())
    schema = yaml.safe_load(path.read_text())
    assert schema["openapi"].startswith("3.0")
    text = path.read_text()
    assert "type: 'null'" not in text and "const:" not in text  # JSON Schema words 3.0 does not have
    body = schema["components"]["schemas"]["EventV2Request"]["properties"]
    assert body["dedup_key"]["nullable"] is True and body["dedup_key"]["type"] == "string"
    version = schema["components"]["schemas"]["AlertmanagerWebhookRequest"]["properties"]["version"]
    assert version["enum"] == ["4"]
