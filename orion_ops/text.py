"""Text the database and the JSON encoder cannot take, found before it reaches them."""

import re

_SURROGATE = re.compile("[\ud800-\udfff]")

NUL_MESSAGE = "Null characters are not allowed."
SURROGATE_MESSAGE = "Unpaired surrogate characters (\\ud800-\\udfff) are not allowed."


def text_error(value: str) -> str | None:
    """Why ``value`` cannot be stored (PostgreSQL text holds no NUL; UTF-8 has no lone surrogates), or None."""
    if "\x00" in value:
        return NUL_MESSAGE
    if _SURROGATE.search(value):
        return SURROGATE_MESSAGE
    return None
