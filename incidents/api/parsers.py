"""The API's JSON parser: DRF's, plus refusals for what would otherwise fail deep inside as a 500."""

import io
import re

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from orion_ops.text import text_error

# A NUL or a surrogate can only enter a JSON document as a \u escape (raw, they are invalid JSON or
# invalid UTF-8), so a body without such an escape needs no walk through the parsed data.
_SUSPECT_ESCAPE = re.compile(rb"\\u(0000|[dD][89a-fA-F])")

# No request of this API nests more than a few levels. A document that parses just under the recursion
# limit could still overflow it later, when it is serialised again deeper in the stack; refuse it here.
MAX_DEPTH = 64
TOO_DEEP = f"JSON parse error - nested deeper than {MAX_DEPTH} levels."


class JSONParser(parsers.JSONParser):
    """Refuses, with a 400:

    - a document nested deeper than MAX_DEPTH (past Python's recursion limit, the parser itself would fail);
    - NUL characters anywhere, keys included: PostgreSQL text and jsonb cannot hold them;
    - unpaired surrogates (``"\\ud800"``), which no encoder can write to the database or a response.

    Errors name the top-level field the bad text is in, like a serializer's field errors.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read()
        try:
            data = super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP)
        # Fewer brackets than MAX_DEPTH cannot nest deeper: counting them spares most bodies the walk.
        if body.count(b"[") + body.count(b"{") > MAX_DEPTH and _depth(data) > MAX_DEPTH:
            raise ParseError(TOO_DEEP)
        if _SUSPECT_ESCAPE.search(body) or not _is_utf8(parser_context):
            errors = _text_errors(data)
            if errors:
                raise ParseError(errors)
        return data


def _is_utf8(parser_context) -> bool:
    encoding = (parser_context or {}).get("encoding") or "utf-8"
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8")


def _depth(data) -> int:
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        stack.extend((child, depth + 1) for child in value)
    return deepest


def _text_errors(data) -> dict[str, list[str]]:
    """``{field: [message]}`` for every top-level field holding bad text at any depth (iterative: no recursion)."""
    if isinstance(data, dict):
        roots = [(_printable(key), key) for key in data] + [(_printable(key), value) for key, value in data.items()]
    else:
        roots = [("non_field_errors", data)]
    errors: dict[str, list[str]] = {}
    for field, root in roots:
        stack = [root]
        while stack and field not in errors:
            value = stack.pop()
            if isinstance(value, str):
                message = text_error(value)
                if message:
                    errors[field] = [message]
            elif isinstance(value, dict):
                stack.extend(value.keys())
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
    return errors


def _printable(key: str) -> str:
    """A field name that can be written back in the error response (a lone surrogate cannot be encoded)."""
    return key.encode("utf-8", "backslashreplace").decode("utf-8")
