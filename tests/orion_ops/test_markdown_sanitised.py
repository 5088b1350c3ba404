"""Markdown from people never brings executable markup to a page, however the attack is spelled."""

import pytest

from orion_ops.markdown import markdown_to_safe_html
from tests.orion_ops.markup import executable_markup

ATTACKS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](javascript&colon;alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](%6Aavascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<javascript:alert(1)>",
    "[click][evil]\n\n[evil]: javascript:alert(1)",
    "![pic](javascript:alert(1))",
    '[click](https://example.com "x\\" onmouseover=\\"alert(1)")',
    '<a href="javascript:alert(1)" onclick="alert(1)">x</a>',
    "<iframe src=//evil.example></iframe>",
    '<svg onload="alert(1)"></svg>',
    "<style>body{display:none}</style>",
    '<form action="https://evil.example"><input name=password></form>',
    "```html\n<script>alert(1)</script>\n```",
    "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_in_markdown_is_neutralised(attack):
    html = markdown_to_safe_html(f"Root cause\n\n{attack}\n\n**bold** and `code`")
    assert executable_markup(html) == []
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html


@pytest.mark.parametrize(
    "text", ["[x](javascript:alert(1))", "[x](JAVASCRIPT:alert(1))", "[x][r]\n\n[r]: javascript:alert(1)"]
)
def test_javascript_link_has_no_href(text):
    html = markdown_to_safe_html(text)
    assert "href" not in html and "<a" not in html


def test_links_that_stay_are_web_mail_or_relative_and_carry_rel():
    html = markdown_to_safe_html(
        "[site](https://example.com/a?b=1) [mail](mailto:oncall@example.com) [runbook](/runbooks/high-cpu/) "
        "[ftp](ftp://example.com/file)"
    )
    rel = 'rel="noopener noreferrer nofollow"'
    assert f'<a href="https://example.com/a?b=1" {rel}>site</a>' in html
    assert f'<a href="mailto:oncall@example.com" {rel}>mail</a>' in html
    assert f'<a href="/runbooks/high-cpu/" {rel}>runbook</a>' in html
    assert f"<a {rel}>ftp</a>" in html and "ftp://" not in html  # other schemes lose the link, keep the text


def test_raw_html_is_shown_as_text():
    html = markdown_to_safe_html('<b>bold?</b> <div class="x">block?</div>')
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html and "<b>" not in html and "<div" not in html
