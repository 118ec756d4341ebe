"""report.md: the scenarios' table, the summaries and the versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from grpclab.report.text import (
    NUMERIC_FROM,
    TABLE_HEADER,
    overall_line,
    streams_heading,
    streams_rows,
    table_rows,
)

STREAMS_HEADER = ("replica", "streams", "messages")


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _aligned(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int) -> list[str]:
    """A Markdown table padded to aligned columns: it reads well in a terminal too."""
    widths = [max(len(r[i]) for r in [list(header), *rows]) for i in range(len(header))]
    numeric = [i >= numeric_from for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            c.rjust(w) if right else c.ljust(w)
            for c, w, right in zip(cells, widths, numeric, strict=True)
        )
        return "| " + " | ".join(padded) + " |"

    rule = (
        "| "
        + " | ".join(
            "-" * (w - 1) + ":" if right else "-" * w
            for w, right in zip(widths, numeric, strict=True)
        )
        + " |"
    )
    return [line(header), rule, *(line(r) for r in rows)]


def markdown_streams(report: Mapping[str, Any]) -> list[str]:
    """Each streaming scenario: streams and messages per replica, and the plain sentence."""
    lines: list[str] = []
    for doc in report["scenarios"]:
        if not doc.get("streams"):
            continue
        rows = [[_md_cell(c) for c in row] for row in streams_rows(doc)]
        heading = f"Streams of `{_md_cell(doc['scenario'])}`: {_md_cell(streams_heading(doc))}."
        lines += ["", f"{heading} {_md_cell(doc['streams']['sentence'])}"]
        lines += ["", *_aligned(STREAMS_HEADER, rows, 1)]
    return lines


def markdown_table(report: Mapping[str, Any]) -> str:
    """The table of report.md, then each streaming scenario's streams and messages per replica
    (also what the compare play prints at the end)."""
    rows = []
    for doc, row in zip(report["scenarios"], table_rows(report), strict=True):
        cells = [_md_cell(cell) for cell in row]
        if doc["verdict"] != "pass":
            cells[2] = f"**{cells[2]}**"
        cells[0] = f"`{cells[0]}`"
        rows.append(cells)
    return "\n".join(_aligned(TABLE_HEADER, rows, NUMERIC_FROM) + markdown_streams(report))


def render_markdown(report: Mapping[str, Any]) -> str:
    """The whole of report.md."""
    lines = [
        f"# {report['title']}",
        "",
        f"Generated {report['generated_at']}. **{overall_line(report)}**",
        "",
        markdown_table(report),
        "",
        "Replicas reached per connection: one number per connection. `1` on every connection",
        "means each connection is pinned to one replica (balanced per connection, L4); the",
        "replica count on every connection means the calls are balanced per request (L7).",
        "",
        "![calls per replica and per connection](report.png)",
        "",
        "## Summaries",
        "",
    ]
    for doc in report["scenarios"]:
        lines.append(f"- `{doc['scenario']}`: {doc['summary'] or '—'}")
        for warning in (doc.get("result") or {}).get("warnings") or []:
            lines.append(f"  - warning: {warning}")
    lines += ["", "## Versions", ""]
    lines += [f"- {key}: {value}" for key, value in report["versions"].items()]
    return "\n".join(lines) + "\n"
