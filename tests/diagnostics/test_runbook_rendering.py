"""Every runbook page shows its steps as one numbered list, and every fenced block as a code block."""

import re
from html.parser import HTMLParser

import pytest

from diagnostics.runbooks import runbooks_all
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

STEP = re.compile(r"^\d+\. ", flags=re.MULTILINE)
FENCE = re.compile(r"^ *```", flags=re.MULTILINE)


class _Outline(HTMLParser):
    """Top-level lists of the runbook body, with the number of items directly inside each."""

    def __init__(self):
        super().__init__()
        self.open: list[str] = []
        self.lists: list[list] = []  # [tag, items] for lists at the top level
        self.pre_blocks = 0
        self.code_in_pre = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("ol", "ul") and not self.open:
            self.lists.append([tag, 0])
        if tag == "li" and len(self.open) == 1 and self.open[0] in ("ol", "ul"):
            self.lists[-1][1] += 1
        if tag == "pre":
            self.pre_blocks += 1
        if tag == "code" and self.open and self.open[-1] == "pre":
            self.code_in_pre += 1
        if tag not in ("br", "hr"):
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag) :]


def runbook_body(client, runbook) -> str:
    page = client.get(runbook.url).content.decode()
    return page.split('<div class="markdown-body">', 1)[1].split("</div>\n</article>", 1)[0]


@pytest.mark.parametrize("runbook", runbooks_all(), ids=lambda runbook: runbook.slug)
def test_runbook_steps_are_one_numbered_list_and_fences_are_code_blocks(client, runbook):
    client.force_login(UserFactory(username="rb-reader", role="viewer"))
    outline = _Outline()
    outline.feed(runbook_body(client, runbook))

    fences = len(FENCE.findall(runbook.body))
    assert fences % 2 == 0
    assert outline.pre_blocks == fences // 2 and outline.code_in_pre == fences // 2

    steps = len(STEP.findall(runbook.body))
    assert steps >= 3
    numbered = [items for tag, items in outline.lists if tag == "ol"]
    assert numbered == [steps]  # one <ol>, not broken apart by the code blocks inside its steps


def test_code_inside_a_step_keeps_its_lines(client):
    client.force_login(UserFactory(username="rb-reader", role="viewer"))
    body = client.get("/runbooks/db-migration-failure/").content.decode()
    block = "npx prisma migrate resolve --rolled-back &lt;migration&gt;\nnpx prisma migrate deploy\n"
    assert f"<pre><code>{block}</code></pre>" in body
