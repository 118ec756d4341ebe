"""The churn report folder: each (remedy, action) run of ``playbooks/churn.yml`` side by side.

``<base>/<UTC timestamp>/`` holds:
- ``report.json``: schema ``grpclab.churn-report/v1``: per run the remedy, the action, the
  verdict, the judgement's figures and checks (grpclab.churn), the action's time, the platform;
  the timelines themselves stay out (they are the pictures' source, kept per run in
  ``runs/<remedy>--<action>.json``);
- ``report.md``: the table of figures and verdicts, then one line per run;
- ``<remedy>--<action>.png``: the run's picture (``churn_picture``: calls per second per replica
  with the action marked, and the connection x time grid);
- ``report.html``: the table and every picture (data URIs) in one page that loads nothing.

Pure builders (``build_churn_report``, ``table_rows``, ``render_markdown``, ``render_html``)
and one writer (``write_churn_report``).
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from grpclab.report.churn_picture import figure_size_px, render_png
from grpclab.report.folder import _atomic_write, new_report_dir
from grpclab.report.html import HTML_CSP, HTML_STYLE
from grpclab.report.model import ReportError, utc_now

SCHEMA = "grpclab.churn-report/v1"
HEADER = (
    "remedy",
    "action",
    "verdict",
    "at",
    "new replicas reached by every connection",
    "fair after",
    "failed calls",
    "recovered after",
    "summary",
)


def _s(value: float | None, never: str = "never") -> str:
    if value is None:
        return never
    return f"{value:.2f} s" if value < 1 else f"{value:.1f} s"


def run_of(outcome: Mapping[str, Any]) -> dict[str, Any]:
    """One run of the report from a scenario outcome (the playbooks' scenario_outcomes entry:
    scenario, platform, cluster, path, result with ``churn`` and ``timeline``, error)."""
    result = outcome.get("result") or {}
    judged = result.get("churn")
    remedy = (judged or {}).get("remedy") or outcome.get("remedy") or outcome.get("scenario")
    action = (judged or {}).get("action") or outcome.get("action") or "?"
    if not judged:
        error = outcome.get("error") or "the probe gave no churn judgement"
        return {
            "remedy": remedy,
            "action": action,
            "verdict": "error",
            "passed": False,
            "summary": str(error),
            "platform": outcome.get("platform"),
            "cluster": outcome.get("cluster"),
            "path": outcome.get("path"),
            "figures": None,
            "checks": [],
            "at_s": None,
        }
    return {
        "remedy": remedy,
        "action": action,
        "verdict": "pass" if judged["passed"] else "fail",
        "passed": bool(judged["passed"]),
        "summary": judged["summary"],
        "platform": outcome.get("platform"),
        "cluster": outcome.get("cluster"),
        "path": outcome.get("path"),
        "figures": judged["figures"],
        "checks": judged["checks"],
        "at_s": judged["at_s"],
        "picture": f"{remedy}--{action}.png",
        "rate": (result.get("timeline") or {}).get("rate"),
        "duration_s": (result.get("timeline") or {}).get("duration_s"),
        "connections": (judged["figures"] or {}).get("connections"),
    }


def build_churn_report(
    outcomes: Iterable[Mapping[str, Any]],
    title: str = "grpclab churn",
    versions: Mapping[str, Any] | None = None,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    runs = [run_of(o) for o in outcomes]
    if not runs:
        raise ReportError("no churn run to report")
    failed = [f"{r['remedy']} {r['action']}" for r in runs if not r["passed"]]
    return {
        "schema": SCHEMA,
        "title": title,
        "generated_at": (generated_at or utc_now()).isoformat(timespec="seconds"),
        "versions": dict(versions or {}),
        "passed": not failed,
        "failed_runs": failed,
        "remedies": list(dict.fromkeys(r["remedy"] for r in runs)),
        "actions": list(dict.fromkeys(r["action"] for r in runs)),
        "runs": runs,
    }


def table_rows(report: Mapping[str, Any]) -> list[tuple[str, ...]]:
    rows = []
    for run in report["runs"]:
        fig = run.get("figures") or {}
        if not fig:
            rows.append(
                (
                    run["remedy"],
                    run["action"],
                    run["verdict"].upper(),
                    "",
                    "",
                    "",
                    "",
                    "",
                    run["summary"],
                )
            )
            continue
        reach = (
            "no new replica"
            if not fig["new_replicas"]
            else _s(fig["all_reached_s"], "never within the run")
        )
        failed = fig["failed_calls"]
        codes = ", ".join(f"{c} {n}" for c, n in fig["failed"].items())
        rows.append(
            (
                run["remedy"],
                run["action"],
                run["verdict"].upper(),
                _s(run["at_s"]),
                reach,
                _s(fig["fair_s"], "not within the run") if fig["new_replicas"] else "",
                f"{failed} ({codes})" if failed else "0",
                _s(fig["recovery_s"], "not within the run"),
                run["summary"],
            )
        )
    return rows


def overall_line(report: Mapping[str, Any]) -> str:
    runs = report["runs"]
    if report["passed"]:
        return f"PASS: all {len(runs)} runs kept their promise"
    return (
        f"FAIL: {len(report['failed_runs'])} of {len(runs)} runs did not keep their "
        f"promise ({', '.join(report['failed_runs'])})"
    )


def markdown_table(report: Mapping[str, Any]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(HEADER[:-1]) + " |", "|" + "---|" * (len(HEADER) - 1)]
    lines += ["| " + " | ".join(cell(c) for c in row[:-1]) + " |" for row in table_rows(report)]
    return "\n".join(lines)


def render_markdown(report: Mapping[str, Any]) -> str:
    out = [
        f"# {report['title']}",
        "",
        f"Generated {report['generated_at']}.",
        "",
        f"**{overall_line(report)}**",
        "",
        markdown_table(report),
        "",
        "## Verdicts",
        "",
    ]
    for run in report["runs"]:
        out.append(
            f"- `{run['remedy']}` {run['action']}: {run['verdict'].upper()}, {run['summary']}"
        )
        if run.get("picture"):
            out.append(f"  ![{run['remedy']} {run['action']}]({run['picture']})")
    return "\n".join(out) + "\n"


def render_html(report: Mapping[str, Any], pictures: Mapping[str, bytes]) -> str:
    """One page: the table, the verdicts and each picture (data URIs); it loads nothing."""
    esc = html.escape
    state = "pass" if report["passed"] else "fail"
    width, height = figure_size_px()
    head = "".join(f"<th>{esc(h)}</th>" for h in HEADER[:-1])
    rows = []
    for run, cells in zip(report["runs"], table_rows(report), strict=True):
        tds = [
            f'<td class="name"><code>{esc(cells[0])}</code></td>',
            f"<td>{esc(cells[1])}</td>",
            f'<td class="verdict">{esc(cells[2])}</td>',
        ]
        tds += [f'<td class="num">{esc(c)}</td>' for c in cells[3:-1]]
        rows.append(f'<tr class="{esc(run["verdict"])}">{"".join(tds)}</tr>')
    figures = []
    for run in report["runs"]:
        png = pictures.get(run.get("picture") or "")
        line = f'<p class="summary">{esc(run["verdict"].upper())}: {esc(run["summary"])}</p>'
        img = (
            ""
            if png is None
            else f'<img alt="{esc(run["remedy"])} {esc(run["action"])}" width="{width}" '
            f'height="{height}" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode("ascii")}">'
        )
        figures.append(
            f'<section class="run"><h2>{esc(run["remedy"])} · {esc(run["action"])}'
            f"</h2>{line}{img}</section>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{HTML_CSP}">'
        f"<title>{esc(report['title'])}</title><style>{HTML_STYLE}</style></head><body>"
        f"<h1>{esc(report['title'])}</h1>"
        f'<p class="meta">Generated {esc(report["generated_at"])}</p>'
        f'<p class="overall {state}">{esc(overall_line(report))}</p>'
        f'<table id="churn"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        f"{''.join(figures)}</body></html>\n"
    )


def pictures_of(
    report: Mapping[str, Any], timelines: Mapping[tuple[str, str], Mapping[str, Any]]
) -> dict[str, bytes]:
    out = {}
    for run in report["runs"]:
        timeline = timelines.get((run["remedy"], run["action"]))
        if run.get("picture") and timeline:
            out[run["picture"]] = render_png(
                timeline,
                run["remedy"],
                run["action"],
                float(run["at_s"]),
                run["summary"],
                run["passed"],
            )
    return out


def write_churn_report(
    outcomes: Iterable[Mapping[str, Any]],
    base: str | os.PathLike[str] = "reports",
    *,
    directory: str | os.PathLike[str] | None = None,
    title: str = "grpclab churn",
    versions: Mapping[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Build and write the churn report; returns its folder and its document."""
    outcomes = list(outcomes)
    when = utc_now()
    report = build_churn_report(outcomes, title, versions, when)
    timelines = {}
    for outcome, run in zip(outcomes, report["runs"], strict=True):
        timeline = (outcome.get("result") or {}).get("timeline")
        if timeline:
            timelines[(run["remedy"], run["action"])] = timeline
    pictures = pictures_of(report, timelines)
    folder = Path(directory) if directory is not None else new_report_dir(base, when)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "runs").mkdir(exist_ok=True)
    for (remedy, action), timeline in timelines.items():
        _atomic_write(
            folder / "runs" / f"{remedy}--{action}.json", json.dumps(timeline).encode("utf-8")
        )
    for name, png in pictures.items():
        _atomic_write(folder / name, png)
    _atomic_write(
        folder / "report.json",
        (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
    )
    _atomic_write(folder / "report.md", render_markdown(report).encode("utf-8"))
    _atomic_write(folder / "report.html", render_html(report, pictures).encode("utf-8"))
    return folder, report
