"""report.md: the scenarios' table, the summaries and the versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from grpclab.report.text import NUMERIC_FROM, TABLE_HEADER, overall_line, table_rows


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_table(report: Mapping[str, Any]) -> str:
    """The one table of report.md (also what the compare play prints at the end)."""
    rows = []
    for doc, row in zip(report["scenarios"], table_rows(report), strict=True):
        cells = [_md_cell(cell) for cell in row]
        if doc["verdict"] != "pass":
            cells[2] = f"**{cells[2]}**"
        cells[0] = f"`{cells[0]}`"
        rows.append(cells)
    # padded to aligned columns: the same text reads well in a terminal (the compare play)
    widths = [max(len(r[i]) for r in [list(TABLE_HEADER), *rows]) for i in range(len(TABLE_HEADER))]
    numeric = [i >= NUMERIC_FROM for i in range(len(TABLE_HEADER))]

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
    return "\n".join([line(TABLE_HEADER), rule, *(line(r) for r in rows)])


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
