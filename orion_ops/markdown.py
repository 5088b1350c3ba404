"""Markdown → safe HTML, for every page that shows text people wrote: reports and runbooks.

CommonMark (markdown-it-py) with GitHub's tables and strikethrough. Its parser is linear in
the length of the text, so no input (``"[" * 12000``, runs of ``*`` or backticks, deep
nesting) can hold a worker for long. Raw HTML in the text is shown as text, never passed
through; images render as links to the image. The HTML is then sanitised with nh3 against the
allow-list below, so whatever the parser lets through, only these tags, attributes and
http(s)/mailto or relative links reach a page.

Nesting deeper than the parser's limit (``maxNesting``: about nine levels of nested lists) is
cut there; that keeps pathological input cheap and costs nothing real text needs.
"""

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "s", "del",
    "code", "pre", "blockquote", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALIGNMENTS = {"text-align:left", "text-align:center", "text-align:right"}
LINK_REL = "noopener noreferrer nofollow"

_parser = (
    MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    .enable(["table", "strikethrough"])
    # Pages allow no <img>: an image is shown as a link to it (and its parse is the costliest).
    .disable("image")
)
_cleaner = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes={"a": {"href", "title"}, "ol": {"start"}},
    tag_attribute_values={"th": {"style": ALIGNMENTS}, "td": {"style": ALIGNMENTS}},
    url_schemes={"http", "https", "mailto"},
    link_rel=LINK_REL,
)


def markdown_to_safe_html(text: str) -> str:
    """Render Markdown and sanitise the result: what comes out may be marked safe in a template."""
    return _cleaner.clean(_parser.render(text or "")).rstrip("\n")
