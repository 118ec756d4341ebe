"""``python -m grpclab.report``: a report folder from a saved probe result, scenarios or report."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from grpclab.report.folder import DEFAULT_BASE, new_report_dir, write_files, write_report
from grpclab.report.markdown import markdown_table
from grpclab.report.model import (
    DEFAULT_TITLE,
    PROBE_SCHEMAS,
    REPORT_SCHEMA,
    ReportError,
    probe_scenario,
    probe_title,
)
from grpclab.status import ExitStatus

PROG = "grpclab-report"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m grpclab.report",
        description=(
            "Write a report folder (report.json, .md, .png, .html) from scenario entries or "
            "probe results. INPUT is a JSON file ('-' for stdin) holding a list of scenario "
            "entries ({scenario, promise, result, path, platform, cluster, versions, error}), "
            "one probe result (grpclab-probe --json), or a report.json to render again."
        ),
    )
    parser.add_argument("input", help="JSON file, or - for stdin")
    parser.add_argument(
        "--out",
        default=DEFAULT_BASE,
        help="base folder: the report goes to OUT/<UTC timestamp>/ (reports)",
    )
    parser.add_argument("--dir", help="write into exactly this folder instead")
    parser.add_argument(
        "--title", help=f"the report's title ({DEFAULT_TITLE!r}; a probe result: its target)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 with the table and the folder on stdout; 2 with one line on stderr."""
    args = _parser().parse_args(argv)
    try:
        text = sys.stdin.read() if args.input == "-" else Path(args.input).read_text("utf-8")
        data = json.loads(text)
        if isinstance(data, dict) and data.get("schema") == REPORT_SCHEMA:
            folder = Path(args.dir) if args.dir else new_report_dir(args.out)
            report = data
            write_files(report, folder)
        elif isinstance(data, dict) and data.get("schema") in PROBE_SCHEMAS:
            title = args.title or probe_title(data)
            folder, report = write_report(
                [probe_scenario(data)], args.out, directory=args.dir, title=title
            )
        elif isinstance(data, list):
            title = args.title or DEFAULT_TITLE
            folder, report = write_report(data, args.out, directory=args.dir, title=title)
        else:
            raise ReportError("input is neither a list of scenarios, a probe result nor a report")
    except (OSError, ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return ExitStatus.ERROR
    print(markdown_table(report))
    print(f"report: {folder}")
    return ExitStatus.SUCCESS
