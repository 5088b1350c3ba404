"""What must never come out of the Markdown renderer, found by parsing the HTML as a browser would."""

import re
from html.parser import HTMLParser

FORBIDDEN_TAGS = {"script", "style", "iframe", "svg", "math", "img", "object", "embed", "form", "input", "link", "meta"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href"}
SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):", flags=re.IGNORECASE)
SAFE_SCHEMES = {"http", "https", "mailto"}


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in FORBIDDEN_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=…>")
            # Browsers ignore whitespace and control characters inside a URL's scheme.
            url = re.sub(r"[\x00-\x20]", "", value or "")
            scheme = SCHEME.match(url)
            if name in URL_ATTRIBUTES and scheme and scheme[1].lower() not in SAFE_SCHEMES:
                self.found.append(f"<{tag} {name}={value!r}>")


def executable_markup(html: str) -> list[str]:
    """Elements and attributes in ``html`` that could run script, embed content or send data elsewhere."""
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.found
