"""The runbooks the alerts point to, served by the web app at /runbooks/{name}.

The text has one home, the "Runbooks" part of docs/operations.md (shipped in the package as
`teampulse/web/operations.md`, a link to it): each `### AlertName` section is a runbook,
named by its anchor (`teamengagementdropped`). Alert annotations say
`runbook: docs/operations.md#teamengagementdropped`; `runbook_path` turns that into the web
app's `/runbooks/teamengagementdropped`, so every link in a page, a notification or the
digest resolves. The Markdown those sections use (paragraphs, lists, **bold**, `code`,
links, fenced blocks) is rendered here; nothing else is needed. Pure but for reading the
packaged file.
"""

from __future__ import annotations

import html
import re
from functools import cache
from importlib import resources

__all__ = ["RUNBOOK_PREFIX", "render_markdown", "runbook_names", "runbook_path", "runbooks"]

RUNBOOK_PREFIX = "/runbooks/"
SOURCE = "operations.md"
SECTION = re.compile(r"^### (.+)$", re.MULTILINE)
RUNBOOKS_PART = "## Runbooks"
DOC_LINK = re.compile(r"^(?:.*/)?operations\.md#([a-z0-9-]+)$")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")


@cache
def runbooks() -> dict[str, tuple[str, str]]:
    """name -> (title, Markdown) of every runbook section of docs/operations.md."""
    text = (resources.files("teampulse.web") / SOURCE).read_text(encoding="utf-8")
    start = text.index(RUNBOOKS_PART)
    end = text.find("\n## ", start + len(RUNBOOKS_PART))
    part = text[start : end if end >= 0 else len(text)]
    headings = list(SECTION.finditer(part))
    found = {}
    for number, heading in enumerate(headings):
        stop = headings[number + 1].start() if number + 1 < len(headings) else len(part)
        found[slug(heading.group(1))] = (heading.group(1).strip(), part[heading.end() : stop])
    return found


def runbook_names() -> list[str]:
    return sorted(runbooks())


def runbook_path(annotation: str | None) -> str | None:
    """The web app's path of an alert's `runbook` annotation, or None when it names none; an
    absolute URL that is not the operations page is kept as it is."""
    if not annotation:
        return None
    match = DOC_LINK.match(annotation.strip())
    if match:
        return f"{RUNBOOK_PREFIX}{match.group(1)}"
    return annotation if annotation.startswith(("http://", "https://", "/")) else None


INLINE = re.compile(r"\*\*(.+?)\*\*|`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)")


def _inline(text: str) -> str:
    out, position = [], 0
    for match in INLINE.finditer(text):
        out.append(html.escape(text[position : match.start()]))
        bold, code, label, target = match.groups()
        if bold is not None:
            out.append(f"<strong>{_inline(bold)}</strong>")
        elif code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        else:
            out.append(f'<a href="{html.escape(_link(target), quote=True)}">{_inline(label)}</a>')
        position = match.end()
    out.append(html.escape(text[position:]))
    return "".join(out)


def _link(target: str) -> str:
    """A link between runbooks stays in the web app; one to another doc stays as written."""
    if target.startswith("#") and slug(target[1:]) in runbooks():
        return f"{RUNBOOK_PREFIX}{target[1:]}"
    return target


def render_markdown(markdown: str) -> str:
    """The small Markdown of the runbooks as HTML."""
    blocks: list[str] = []
    lines = markdown.strip("\n").splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("```"):
            end = index + 1
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            blocks.append(f"<pre>{html.escape(chr(10).join(lines[index + 1 : end]))}</pre>")
            index = end + 1
        elif re.match(r"^\s*([-*]|\d+\.) ", line):
            items: list[str] = []
            while index < len(lines) and lines[index].strip():
                item = re.match(r"^\s*(?:[-*]|\d+\.) (.*)$", lines[index])
                if item:
                    items.append(item.group(1))
                elif items:
                    items[-1] += " " + lines[index].strip()
                index += 1
            blocks.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
        elif line.strip():
            paragraph = []
            while (
                index < len(lines) and lines[index].strip() and not lines[index].startswith("```")
            ):
                paragraph.append(lines[index].strip())
                index += 1
            blocks.append(f"<p>{_inline(' '.join(paragraph))}</p>")
        else:
            index += 1
    return "\n".join(blocks)
