"""What report and runbook authors can write: CommonMark plus GitHub's tables and strikethrough."""

from orion_ops.markdown import markdown_to_safe_html


def test_headings_emphasis_quotes_and_rules():
    html = markdown_to_safe_html("## Impact\n\n**bold**, *em*, ~~struck~~\n\n> quoted\n\n---\n")
    assert "<h2>Impact</h2>" in html
    assert "<strong>bold</strong>, <em>em</em>, <s>struck</s>" in html
    assert "<blockquote>\n<p>quoted</p>\n</blockquote>" in html and "<hr>" in html


def test_tables_keep_their_alignment():
    html = markdown_to_safe_html("| check | status |\n|:--|:-:|\n| pool | crit |\n")
    assert "<table>" in html and '<th style="text-align:left">check</th>' in html
    assert '<td style="text-align:center">crit</td>' in html


def test_fenced_code_inside_a_numbered_step_is_a_code_block():
    html = markdown_to_safe_html("1. Look:\n\n   ```sql\n   SELECT 1 < 2;\n   ```\n2. Then act.\n")
    assert "<ol>\n<li>\n<p>Look:</p>\n<pre><code>SELECT 1 &lt; 2;\n</code></pre>\n</li>" in html
    assert "<li>\n<p>Then act.</p>\n</li>\n</ol>" in html


def test_a_list_keeps_its_first_number():
    assert '<ol start="3">\n<li>three</li>' in markdown_to_safe_html("3. three\n4. four\n")


def test_an_image_is_a_link_to_it():
    html = markdown_to_safe_html("![latency](https://grafana.example/panel.png)")
    assert '!<a href="https://grafana.example/panel.png" rel="noopener noreferrer nofollow">latency</a>' in html
    assert "<img" not in html


def test_empty_text_renders_nothing():
    assert markdown_to_safe_html("") == "" and markdown_to_safe_html("\n\n   \n") == ""
