"""The report folder: ``<base>/<UTC timestamp>/`` with report.json, .md, .png and .html."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from grpclab.report.html import render_html
from grpclab.report.markdown import render_markdown
from grpclab.report.model import (
    DEFAULT_TITLE,
    ReportError,
    Scenario,
    build_report,
    probe_scenario,
    probe_title,
    utc_now,
)
from grpclab.report.picture import render_png

FILES = ("report.json", "report.md", "report.png", "report.html")
DEFAULT_BASE = "reports"


def new_report_dir(
    base: str | os.PathLike[str] = DEFAULT_BASE, now: datetime | None = None
) -> Path:
    """A fresh ``<base>/<UTC timestamp>/`` (a suffix keeps two reports of one second apart)."""
    stamp = (now or utc_now()).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    base_path = Path(base)
    base_path.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        candidate = base_path / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise ReportError(f"cannot make a fresh report folder under {base_path}")


def _atomic_write(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


def write_files(report: Mapping[str, Any], directory: str | os.PathLike[str]) -> Path:
    """Write the four files of a report document into an existing (or new) directory."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    png = render_png(report)
    outputs = {
        "report.json": json.dumps(report, indent=2, ensure_ascii=False) + "\n",
        "report.md": render_markdown(report),
        "report.html": render_html(report, png),
    }
    for name, text in outputs.items():
        _atomic_write(folder / name, text.encode("utf-8"))
    _atomic_write(folder / "report.png", png)
    return folder


def write_report(
    entries: Iterable[Scenario | Mapping[str, Any]],
    base: str | os.PathLike[str] = DEFAULT_BASE,
    *,
    directory: str | os.PathLike[str] | None = None,
    title: str = DEFAULT_TITLE,
    versions: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Build the report and write it to ``directory``, else a fresh ``<base>/<UTC timestamp>/``.

    Returns the folder and the report document.
    """
    when = now or utc_now()
    report = build_report(entries, title=title, generated_at=when, versions=versions)
    folder = Path(directory) if directory is not None else new_report_dir(base, when)
    return write_files(report, folder), report


def write_probe_report(
    result: Mapping[str, Any],
    base: str | os.PathLike[str] = DEFAULT_BASE,
    *,
    scenario: str = "probe",
    path: str | None = None,
) -> Path:
    """The report of one probe run (``grpclab-probe --report DIR``): a fresh DIR/<timestamp>/."""
    folder, _ = write_report(
        [probe_scenario(result, scenario, path)], base, title=probe_title(result)
    )
    return folder
