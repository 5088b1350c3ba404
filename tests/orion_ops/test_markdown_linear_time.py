"""No Markdown holds a worker: inputs that made the old renderer quadratic render in well under a second.

``"[" * 12000`` took 21.8 s with Python-Markdown. Each case is timed around the call itself, best of
three runs (the test machine is shared), and the output is checked to be sanitised too.
"""

import time

import pytest

from orion_ops.markdown import markdown_to_safe_html
from tests.orion_ops.markup import executable_markup

# The worst of these takes about 180 ms of CPU on a 2-core test machine; a renderer that is
# quadratic on any of them takes seconds. The budget leaves room for a busy machine.
BUDGET_SECONDS = 0.6

MIXED_PIECES = (
    "## Root cause\n\nThe **pool** was _exhausted_ by `idle in transaction` sessions; "
    "see [the runbook](/runbooks/x/).\n\n",
    "| metric | before | during |\n|---|:-:|--:|\n| p95 | 120 ms | 2.4 s |\n\n",
    "1. Scaled up\n2. Restarted\n   ```sh\n   kubectl rollout restart deploy/task-service\n   ```\n\n",
    "<script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)> ~~gone~~ [[[ ***_*_ ``\n\n",
    '> quoted *emph [link](https://example.com "title") and ![image](https://example.com/i.png)\n\n',
)
MIXED_50K = ("".join(MIXED_PIECES) * 200)[:50_000]

LINK_REFERENCE_CHAIN = "".join(f'[ref{i}]: https://example.com/{i} "title {i}"\n' for i in range(600)) + "".join(
    f"[text {i}][ref{i}] [ref{i + 1}][] " for i in range(600)
)

PATHOLOGICAL = {
    "12,000 open brackets": "[" * 12_000,
    "image openers": "![" * 6_000,
    "unclosed link destinations": "[a](" * 5_000,
    "nested brackets": "[" * 6_000 + "a" + "]" * 6_000 + "(https://example.com)",
    "20,000 asterisks": "*" * 20_000,
    "underscore emphasis run": "_a" * 10_000,
    "interleaved emphasis": "*a_" * 6_000 + "**a__" * 1_000,
    "1000 levels of nested lists": "".join("  " * depth + "- item\n" for depth in range(1_000)),
    "1000 list markers on a line": "- " * 1_000 + "item",
    "1000 levels of quotes": "> " * 1_000 + "quote",
    "1000 lines of deepening quotes": "".join("> " * depth + "line\n" for depth in range(1_000)),
    "mixed lists and quotes": "".join(("- " if depth % 2 else "> ") * depth + "x\n" for depth in range(400)),
    "long link reference chain": LINK_REFERENCE_CHAIN,
    "references back to back": "[a]: https://example.com/a\n\n" + "[a]" * 6_000 + "[a][a][]" * 1_000,
    "backtick runs of every length": "".join("`" * n + "x" for n in range(1, 200)) * 2,
    "20,000 backticks": "`" * 20_000,
    "angle brackets and entities": "<a " * 5_000 + "&#" * 5_000 + "&amp" * 2_000,
    "50,000 characters of mixed text": MIXED_50K,
}


def best_of_three(text: str) -> tuple[float, str]:
    """CPU time of this thread, so a loaded machine does not fail a linear renderer."""
    best, html = float("inf"), ""
    for _ in range(3):
        started = time.thread_time()
        html = markdown_to_safe_html(text)
        best = min(best, time.thread_time() - started)
    return best, html


@pytest.mark.parametrize("text", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_markdown_renders_within_budget_and_sanitised(text):
    elapsed, html = best_of_three(text)
    assert elapsed < BUDGET_SECONDS, f"rendering took {elapsed * 1000:.0f} ms"
    assert executable_markup(html) == []
    assert html.strip()  # rendered to something, not dropped


def test_mixed_text_keeps_its_structure():
    _, html = best_of_three(MIXED_50K)
    whole_rounds = len(MIXED_50K) // len("".join(MIXED_PIECES))
    assert html.count("<table>") >= whole_rounds and html.count("<pre><code>kubectl") >= whole_rounds
    assert '<a href="/runbooks/x/" rel="noopener noreferrer nofollow">the runbook</a>' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # typed HTML is shown as text


@pytest.mark.parametrize("unit", ["[", "![", "[x]("], ids=["open brackets", "image openers", "link destinations"])
def test_four_times_the_input_costs_about_four_times_the_time(unit):
    small, _ = best_of_three(unit * 3_000)
    large, _ = best_of_three(unit * 12_000)
    # Linear: about 4x. Quadratic: about 16x. Whatever the machine's speed.
    assert large / small < 8, f"{small * 1000:.0f} ms -> {large * 1000:.0f} ms"
