"""report.html: the table and the picture (a data URI) in one page that loads nothing."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from typing import Any

from grpclab.report.picture import figure_size_px
from grpclab.report.text import (
    TABLE_HEADER,
    overall_line,
    streams_heading,
    streams_rows,
    table_rows,
)

HTML_STYLE = """
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", system-ui, sans-serif; color: #1f2328; margin: 2rem auto;
       max-width: 1680px; padding: 0 1.5rem; line-height: 1.45; }
h1 { margin-bottom: .2rem; }
.overall { font-size: 1.15rem; font-weight: bold; padding: .6rem 1rem; border-radius: 6px; }
.overall.pass { background: #dafbe1; color: #1a7f37; border: 1px solid #1a7f37; }
.overall.fail { background: #ffebe9; color: #cf222e; border: 1px solid #cf222e; }
.meta { color: #59636e; }
table { border-collapse: collapse; width: 100%; margin: 1.2rem 0; font-size: .95rem; }
th, td { border: 1px solid #d0d7de; padding: .45rem .6rem; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.verdict { font-weight: bold; white-space: nowrap; }
td.name, span.item { white-space: nowrap; }
tr.pass td.verdict { background: #dafbe1; color: #1a7f37; }
tr.fail td.verdict { background: #ffebe9; color: #cf222e; }
tr.error td.verdict { background: #fff8c5; color: #9a6700; }
code { font-family: "DejaVu Sans Mono", monospace; }
img { max-width: 100%; height: auto; border: 1px solid #d0d7de; border-radius: 6px; }
ul.summaries li { margin: .2rem 0; }
"""

# Nothing may be fetched: no network, no other file; inline style and data: images only.
HTML_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _streams_html(report: Mapping[str, Any]) -> str:
    """Each streaming scenario's streams and messages per replica, and the plain sentence."""
    esc = html.escape
    parts = []
    for doc in report["scenarios"]:
        if not doc.get("streams"):
            continue
        rows = "".join(
            f'<tr><td class="name">{esc(name)}</td><td class="num">{esc(streams)}</td>'
            f'<td class="num">{esc(messages)}</td></tr>'
            for name, streams, messages in streams_rows(doc)
        )
        parts.append(
            f'<p class="streams" data-scenario="{esc(doc["scenario"])}">Streams of '
            f"<code>{esc(doc['scenario'])}</code>: {esc(streams_heading(doc))}. "
            f"{esc(doc['streams']['sentence'])}</p>\n"
            f'<table class="streams" data-scenario="{esc(doc["scenario"])}"><thead><tr>'
            "<th>replica</th><th>streams</th><th>messages</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    return "\n".join(parts)


def render_html(report: Mapping[str, Any], png: bytes) -> str:
    """One self-contained page: the table and the picture (a data URI); it loads nothing."""
    esc = html.escape
    state = "pass" if report["passed"] else "fail"
    head = "".join(f"<th>{esc(h)}</th>" for h in TABLE_HEADER)
    rows = []
    for doc, cells in zip(report["scenarios"], table_rows(report), strict=True):
        tds = []
        for index, cell in enumerate(cells):
            if index == 0:
                tds.append(f'<td class="name"><code>{esc(cell)}</code></td>')
            elif index in (3, 4):  # keep "name 33%" and "3 · 3" items whole when wrapping
                items = " · ".join(f'<span class="item">{esc(i)}</span>' for i in cell.split(" · "))
                tds.append(f"<td>{items}</td>")
            elif index == 2:
                tds.append(f'<td class="verdict">{esc(cell)}</td>')
            elif index >= 5:
                tds.append(f'<td class="num">{esc(cell)}</td>')
            else:
                tds.append(f"<td>{esc(cell)}</td>")
        rows.append(
            f'<tr class="{doc["verdict"]} scenario" data-scenario="{esc(doc["scenario"])}" '
            f'data-verdict="{doc["verdict"]}">{"".join(tds)}</tr>'
        )
    summaries = "".join(
        f"<li><code>{esc(doc['scenario'])}</code>: {esc(doc['summary'] or '—')}</li>"
        for doc in report["scenarios"]
    )
    versions = "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in report["versions"].items()
    )
    image = base64.b64encode(png).decode("ascii")
    width, height = figure_size_px(len(report["scenarios"]))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{HTML_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(report["title"])} — {esc(report["generated_at"])}</title>
<style>{HTML_STYLE}</style>
</head>
<body>
<h1>{esc(report["title"])}</h1>
<p class="meta">Generated {esc(report["generated_at"])}</p>
<p class="overall {state}" id="overall">{esc(overall_line(report))}</p>
<table id="scenarios">
<thead><tr>{head}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
<p class="meta">Replicas reached per connection: one number per connection. 1 on every
connection: each connection is pinned to one replica (balanced per connection, L4). The replica
count on every connection: the calls are balanced per request (L7).</p>
{_streams_html(report)}
<img id="picture" alt="calls per replica and replicas reached per connection, per scenario"
 width="{width}" height="{height}" src="data:image/png;base64,{image}">
<h2>Summaries</h2>
<ul class="summaries">{summaries}</ul>
<h2>Versions</h2>
<table id="versions">{versions}</table>
</body>
</html>
"""
