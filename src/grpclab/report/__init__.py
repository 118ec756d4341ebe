"""Report folders: every scenario's probe result side by side, for machines and for people.

A report folder holds four files written from the same document:

- ``report.json``: the scenarios, their probe results and parameters, the versions in play
  (validates against ``schemas/report.schema.json``), built by ``model``;
- ``report.md``: one table, scenario by scenario (``markdown``);
- ``report.png``: per scenario, a verdict card, the calls per replica and the connection x
  replica grid (``picture``);
- ``report.html``: the picture (a data URI) and the table in one file that loads nothing
  (``html``).

``folder`` writes them; ``cli`` is ``python -m grpclab.report``. The compare playbook and
``grpclab-probe --report DIR`` both come here; the package never knows about Ansible.
"""

from grpclab.report.cli import main
from grpclab.report.folder import (
    DEFAULT_BASE,
    FILES,
    new_report_dir,
    write_files,
    write_probe_report,
    write_report,
)
from grpclab.report.html import render_html
from grpclab.report.markdown import markdown_table, render_markdown
from grpclab.report.model import (
    DEFAULT_TITLE,
    PROBE_SCHEMAS,
    REPORT_SCHEMA,
    VERDICT_WORDS,
    ReportError,
    Scenario,
    build_report,
    digest,
    load_schema,
    merge_versions,
    probe_scenario,
    probe_title,
    replica_names,
    scenarios_of,
    short_names,
    verdict_of,
)
from grpclab.report.picture import REPLICA_PALETTE, UNSEEN, columns, figure_size_px, render_png
from grpclab.report.text import TABLE_HEADER, overall_line, table_rows, verdict_text

__all__ = [
    "DEFAULT_BASE",
    "DEFAULT_TITLE",
    "FILES",
    "PROBE_SCHEMAS",
    "REPLICA_PALETTE",
    "REPORT_SCHEMA",
    "TABLE_HEADER",
    "UNSEEN",
    "VERDICT_WORDS",
    "ReportError",
    "Scenario",
    "build_report",
    "columns",
    "digest",
    "figure_size_px",
    "load_schema",
    "main",
    "markdown_table",
    "merge_versions",
    "new_report_dir",
    "overall_line",
    "probe_scenario",
    "probe_title",
    "render_html",
    "render_markdown",
    "render_png",
    "replica_names",
    "scenarios_of",
    "short_names",
    "table_rows",
    "verdict_of",
    "verdict_text",
    "write_files",
    "write_probe_report",
    "write_report",
]
