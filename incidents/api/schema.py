"""OpenAPI schema: the bearer token scheme, and the error answers every operation can give.

Who may read the schema and its docs page is in ``incidents.api.docs``.
"""

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.permissions import AllowAny

ERROR = "Error"
VALIDATION_ERROR = "ValidationError"

ERROR_SCHEMAS = {
    ERROR: {
        "type": "object",
        "description": "What went wrong, in one sentence.",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    VALIDATION_ERROR: {
        "type": "object",
        "description": (
            "Field errors, `{field: [message, …]}` (nested by index or key for lists and objects), "
            "or `{detail: message}` for a body that is not valid JSON."
        ),
        "properties": {
            "detail": {"type": "string"},
            "non_field_errors": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": {},
    },
}


def error_ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, documenting the errors any operation may answer.

    400 (invalid fields or query parameters, malformed JSON) everywhere; 401 where a token is checked;
    403 where a role is; 404 where the path names an object or the list is paginated (a page past the
    end). Error answers an operation declares without a body get the matching error schema.
    """

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for name, schema in ERROR_SCHEMAS.items():
            self.registry.register_on_missing(
                ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, schema=schema, object=name)
            )
        for code, description in self._error_codes().items():
            responses.setdefault(code, {"description": description})
        for code, response in responses.items():
            if code >= "400" and "content" not in response:
                schema = error_ref(VALIDATION_ERROR if code == "400" else ERROR)
                response["content"] = {"application/json": {"schema": schema}}
        return responses

    def _error_codes(self) -> dict[str, str]:
        codes = {"400": "Invalid fields or query parameters, or a body that is not JSON."}
        if self.view.get_authenticators():
            codes["401"] = "No credentials, or an invalid, expired or revoked token."
        if any(not isinstance(permission, AllowAny) for permission in self.view.get_permissions()):
            codes["403"] = "The user's role does not allow this."
        if "{" in self.path or (self.method == "GET" and self._is_list_view() and self._get_paginator()):
            codes["404"] = "No such object, or a page past the end."
        return codes


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "incidents.auth.ApiTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `python manage.py create_api_token USERNAME --name NAME`.",
        }


def json_schema_for_openapi_30(result, generator, request, public):
    """Pydantic's JSON Schema in OpenAPI 3.0's dialect: ``anyOf: [X, {type: null}]`` becomes ``X`` with
    ``nullable: true`` and ``const: v`` becomes ``enum: [v]`` (3.0 has neither ``null`` nor ``const``)."""

    def mend(node):
        if isinstance(node, list):
            return [mend(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: mend(value) for key, value in node.items()}
        if "const" in node:
            node["enum"] = [node.pop("const")]
        options = node.get("anyOf")
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [option for option in options if option != {"type": "null"}]
            del node["anyOf"]
            if len(rest) == 1 and "$ref" not in rest[0]:
                node = {**rest[0], **node}
            elif len(rest) == 1:
                node["allOf"] = rest
            elif rest:
                node["anyOf"] = rest
            node["nullable"] = True
        return node

    return mend(result)
