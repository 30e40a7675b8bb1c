"""A tiny, safe Markdown → HTML renderer for docs/runbooks (pure): everything is escaped first, then only
headings, lists, code blocks, tables, inline code, bold/italic and http(s)/relative links become markup."""

from __future__ import annotations

import html
import re

_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*([^*\s][^*]*)\*(?![*\w])")
_SAFE_URL = re.compile(r"^(https?://|/|\.{0,2}/?[A-Za-z0-9_.#-])")


def _link(match: re.Match) -> str:
    text, url = match.group(1), html.unescape(match.group(2))
    if not _SAFE_URL.match(url) or url.lower().startswith(("javascript:", "data:")):
        return match.group(0)
    if url.endswith(".md") and "/" not in url and not url.startswith("http"):
        url = url[:-3]  # sibling runbook: served as /runbooks/<Name>
    return f'<a href="{html.escape(url, quote=True)}">{text}</a>'


def inline(text: str) -> str:
    """Escape one line and apply inline markup (code spans keep their text literal)."""
    parts = _CODE.split(html.escape(text, quote=False))
    out = []
    for index, part in enumerate(parts):
        if index % 2:
            out.append(f"<code>{part}</code>")
        else:
            part = _LINK.sub(_link, part)
            part = _BOLD.sub(r"<strong>\1</strong>", part)
            out.append(_ITALIC.sub(r"<em>\1</em>", part))
    return "".join(out)


def _table(rows: list[str]) -> str:
    cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in rows]
    body = [c for c in cells[1:] if not all(re.fullmatch(r":?-{2,}:?", x) for x in c)]
    head = "".join(f"<th>{inline(c)}</th>" for c in cells[0])
    rows_html = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>"


def render(text: str) -> str:
    """Render a runbook."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            block = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                block.append(lines[i])
                i += 1
            out.append("<pre><code>" + html.escape("\n".join(block), quote=False) + "</code></pre>")
            i += 1
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if heading:
            level = len(heading.group(1))
            out.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
            i += 1
            continue
        if line.lstrip().startswith("|"):
            rows = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(lines[i])
                i += 1
            out.append(_table(rows))
            continue
        item = re.match(r"^\s*([-*]|\d+\.)\s+(.*)$", line)
        if item:
            tag = "ol" if item.group(1)[0].isdigit() else "ul"
            items: list[str] = []
            while i < len(lines):
                match = re.match(r"^\s*([-*]|\d+\.)\s+(.*)$", lines[i])
                if match:
                    items.append(match.group(2))
                elif lines[i].startswith("  ") and lines[i].strip() and items:
                    items[-1] += " " + lines[i].strip()  # continuation line of the item
                else:
                    break
                i += 1
            out.append(f"<{tag}>" + "".join(f"<li>{inline(x)}</li>" for x in items) + f"</{tag}>")
            continue
        if not line.strip():
            i += 1
            continue
        para = []
        while i < len(lines) and lines[i].strip() and not re.match(r"^(#|```|\s*([-*]|\d+\.)\s|\s*\|)", lines[i]):
            para.append(lines[i].strip())
            i += 1
        out.append("<p>" + inline(" ".join(para)) + "</p>")
    return "\n".join(out)
