"""Every runbook an alert names is a section of docs/operations.md that the web app serves."""

from __future__ import annotations

from pathlib import Path

import yaml

from teampulse.web.runbooks import render_markdown, runbook_path, runbooks

REPO = Path(__file__).resolve().parents[3]
RULES = sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))


def test_every_runbook_annotation_names_a_section_the_web_app_serves() -> None:
    annotations = [
        rule["annotations"]["runbook"]
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
    assert annotations
    for annotation in annotations:
        path = runbook_path(annotation)
        assert path is not None and path.startswith("/runbooks/"), annotation
        assert path.removeprefix("/runbooks/") in runbooks(), annotation


def test_the_packaged_runbooks_are_the_operations_page() -> None:
    text = (REPO / "docs" / "operations.md").read_text()
    for title, markdown in runbooks().values():
        assert f"### {title}\n" in text
        assert markdown.strip() in text


def test_runbook_paths_keep_urls_and_ignore_what_is_not_a_link() -> None:
    assert runbook_path("https://wiki.example.com/x") == "https://wiki.example.com/x"
    assert runbook_path("") is None
    assert runbook_path("see the wiki") is None


def test_the_runbook_markdown_renders_emphasis_code_links_lists_and_blocks() -> None:
    html = render_markdown(
        "**What it means.** `a<b` and [gauges](gauges.md#x).\n\n- one\n- two\n\n```\nq > 1\n```"
    )

    assert "<strong>What it means.</strong>" in html
    assert "<code>a&lt;b</code>" in html
    assert '<a href="gauges.md#x">gauges</a>' in html
    assert "<ul><li>one</li><li>two</li></ul>" in html
    assert "<pre>q &gt; 1</pre>" in html
