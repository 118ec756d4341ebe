"""Report folders: every scenario's probe result side by side, for machines and for people.

A report folder holds four files written from the same data:

- ``report.json``: the scenarios, their probe results and parameters, the versions in play
  (validates against ``schemas/report.schema.json``);
- ``report.md``: one table, scenario by scenario;
- ``report.png``: per scenario, a verdict card, the calls per replica and the
  connection x replica grid (one filled cell per row: pinned per connection, L4; full rows:
  balanced per request, L7);
- ``report.html``: the picture (a data URI) and the table in one file that loads nothing.

The compare playbook and ``grpclab-probe --report DIR`` both come here; the package never
knows about Ansible.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import os
import platform as platform_module
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from grpclab import __version__

REPORT_SCHEMA = "grpclab.report/v1"
PROBE_SCHEMA = "grpclab.probe/v1"
FILES = ("report.json", "report.md", "report.png", "report.html")
DEFAULT_BASE = "reports"
DEFAULT_TITLE = "grpclab compare"

# The picture: fixed width, a fixed header and a fixed height per scenario, at a fixed dpi,
# so its size in pixels is known in advance (see figure_size_px).
DPI = 100
FIG_WIDTH_IN = 16.0
HEADER_IN = 1.75
ROW_IN = 3.2
ROW_GAP_IN = 0.85
VERSIONS_SHOWN = ("platform", "grpcio", "envoy", "cilium_chart", "kind_node_image")

PASS_COLOUR = "#1a7f37"
FAIL_COLOUR = "#cf222e"
ERROR_COLOUR = "#9a6700"
PASS_FILL = "#dafbe1"
FAIL_FILL = "#ffebe9"
ERROR_FILL = "#fff8c5"
INK = "#1f2328"
MUTED = "#59636e"

VERDICT_COLOURS = {
    "pass": (PASS_COLOUR, PASS_FILL),
    "fail": (FAIL_COLOUR, FAIL_FILL),
    "error": (ERROR_COLOUR, ERROR_FILL),
}
VERDICT_WORDS = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}


class ReportError(ValueError):
    """The input cannot make a report (missing field, wrong probe schema)."""


@dataclass
class Scenario:
    """One scenario's outcome, as the compare play (or the probe) hands it over.

    ``result`` is the probe's ``--json`` document (contract ``grpclab.probe/v1``), or None when
    the scenario could not be probed at all; ``error`` then says why.
    """

    scenario: str
    promise: str
    result: dict[str, Any] | None
    path: str = ""
    platform: str | None = None
    cluster: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Scenario:
        missing = [key for key in ("scenario", "promise") if not data.get(key)]
        if missing:
            raise ReportError(f"scenario entry lacks {', '.join(missing)}: {dict(data)!r:.200}")
        result = data.get("result")
        if result is not None:
            if not isinstance(result, Mapping):
                raise ReportError(f"scenario {data['scenario']}: result is not a JSON object")
            if result.get("schema") != PROBE_SCHEMA:
                raise ReportError(
                    f"scenario {data['scenario']}: result schema is "
                    f"{result.get('schema')!r}, expected {PROBE_SCHEMA!r}"
                )
            result = dict(result)
        elif not data.get("error"):
            raise ReportError(f"scenario {data['scenario']}: neither a result nor an error")
        versions = {str(k): str(v) for k, v in (data.get("versions") or {}).items() if v}
        return cls(
            scenario=str(data["scenario"]),
            promise=str(data["promise"]),
            result=result,
            path=str(data.get("path") or ""),
            platform=data.get("platform") or None,
            cluster=data.get("cluster") or None,
            versions=versions,
            error=data.get("error") or None,
        )


# ---------------------------------------------------------------------------------------------
# Pure digest of one probe result: what every output shows.


def short_names(names: Sequence[str]) -> dict[str, str]:
    """Replica labels without the part every name shares (``grpc-server-7d9f8-x1`` -> ``x1``)."""
    if not names:
        return {}
    if len(names) == 1:
        name = names[0]
        return {name: name.rsplit("-", 1)[-1] or name}
    shared = 0
    for chars in zip(*names, strict=False):
        if len(set(chars)) > 1:
            break
        shared += 1
    cut = names[0][:shared].rfind("-") + 1  # cut on a dash, so labels stay whole words
    return {name: (name[cut:] or name) for name in names}


def verdict_of(scenario: Scenario) -> str:
    """pass: the probe met the scenario's promise; fail: it did not; error: no result."""
    result = scenario.result
    if result is None:
        return "error"
    if result.get("passed") is True and result.get("expect") == scenario.promise:
        return "pass"
    return "fail"


def replica_names(result: Mapping[str, Any]) -> list[str]:
    """Every replica seen, in the probe's order (sorted by name), then any only a connection saw."""
    names = [r["name"] for r in result.get("replicas", [])]
    for conn in result.get("connections", []):
        for name in conn.get("replicas", {}):
            if name not in names:
                names.append(name)
    return names


def digest(scenario: Scenario) -> dict[str, Any]:
    """The figures the table and the picture show, derived from the probe result only."""
    verdict = verdict_of(scenario)
    result = scenario.result or {}
    replicas = result.get("replicas", [])
    connections = result.get("connections", [])
    latency = result.get("latency_ms") or {}
    totals = result.get("totals") or {}
    return {
        "verdict": verdict,
        "observed": result.get("observed", "failed" if scenario.result is None else None),
        "replicas_reached_per_connection": [
            sum(1 for calls in conn.get("replicas", {}).values() if calls > 0)
            for conn in connections
        ],
        "share_per_replica": {r["name"]: r.get("share", 0.0) for r in replicas},
        "calls_per_replica": {r["name"]: r.get("calls", 0) for r in replicas},
        "jain_index": result.get("jain_index"),
        "p50_ms": latency.get("p50"),
        "p99_ms": latency.get("p99"),
        "calls_per_second": result.get("calls_per_second"),
        "calls": totals.get("calls"),
        "failed_calls": totals.get("failed"),
    }


# ---------------------------------------------------------------------------------------------
# report.json


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def merge_versions(scenarios: Iterable[Scenario]) -> dict[str, str]:
    """The versions in play over the whole report: one value per key, or the distinct values."""
    seen: dict[str, list[str]] = {}
    for scenario in scenarios:
        merged = dict((scenario.result or {}).get("versions") or {})
        merged.update(scenario.versions)
        if scenario.platform:
            merged.setdefault("platform", scenario.platform)
        for key, value in merged.items():
            values = seen.setdefault(str(key), [])
            if str(value) not in values:
                values.append(str(value))
    return {key: ", ".join(values) for key, values in sorted(seen.items())}


def build_report(
    entries: Iterable[Scenario | Mapping[str, Any]],
    *,
    title: str = DEFAULT_TITLE,
    generated_at: datetime | None = None,
    versions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report document (report.json) from scenario entries; raises ReportError on bad input."""
    scenarios = [e if isinstance(e, Scenario) else Scenario.from_mapping(e) for e in entries]
    if not scenarios:
        raise ReportError("no scenario to report")
    names = [s.scenario for s in scenarios]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ReportError(f"scenario names must be unique: {', '.join(duplicates)}")
    when = (generated_at or utc_now()).astimezone(UTC)
    all_versions = merge_versions(scenarios)
    all_versions.update({str(k): str(v) for k, v in (versions or {}).items() if v})
    all_versions.setdefault("grpclab", __version__)
    all_versions.setdefault("python", platform_module.python_version())
    documents = []
    for scenario in scenarios:
        d = digest(scenario)
        documents.append(
            {
                "scenario": scenario.scenario,
                "platform": scenario.platform,
                "cluster": scenario.cluster,
                "path": scenario.path,
                "promise": scenario.promise,
                "verdict": d["verdict"],
                "passed": d["verdict"] == "pass",
                "observed": d["observed"],
                "summary": (scenario.result or {}).get("summary") or scenario.error or "",
                "error": scenario.error,
                "parameters": (scenario.result or {}).get("parameters", {}),
                "replicas_reached_per_connection": d["replicas_reached_per_connection"],
                "share_per_replica": d["share_per_replica"],
                "jain_index": d["jain_index"],
                "latency_ms": {"p50": d["p50_ms"], "p99": d["p99_ms"]},
                "calls_per_second": d["calls_per_second"],
                "versions": dict(sorted(scenario.versions.items())),
                "result": scenario.result,
            }
        )
    failed = [doc["scenario"] for doc in documents if not doc["passed"]]
    return {
        "schema": REPORT_SCHEMA,
        "title": title,
        "generated_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "passed": not failed,
        "failed_scenarios": failed,
        "versions": all_versions,
        "scenarios": documents,
    }


def scenarios_of(report: Mapping[str, Any]) -> list[Scenario]:
    """The Scenario objects back from a report document (to re-render its files)."""
    return [
        Scenario(
            scenario=doc["scenario"],
            promise=doc["promise"],
            result=doc.get("result"),
            path=doc.get("path") or "",
            platform=doc.get("platform"),
            cluster=doc.get("cluster"),
            versions=dict(doc.get("versions") or {}),
            error=doc.get("error"),
        )
        for doc in report["scenarios"]
    ]


def load_schema(name: str = "report") -> dict[str, Any]:
    """A JSON schema kept in the package: ``report``, or ``probe-result`` (one probe's JSON).

    The probe result schema is the report schema's ``$defs/probe_result``: one source.
    """
    text = resources.files("grpclab.schemas").joinpath("report.schema.json").read_text("utf-8")
    schema = json.loads(text)
    if name == "report":
        return schema
    if name == "probe-result":
        return {
            "$schema": schema["$schema"],
            "title": "grpclab probe result (grpclab.probe/v1)",
            "$ref": "#/$defs/probe_result",
            "$defs": schema["$defs"],
        }
    raise ValueError(f"unknown schema {name!r}: report or probe-result")


# ---------------------------------------------------------------------------------------------
# report.md


def _fmt(value: Any, spec: str, unit: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:{spec}}{unit}"


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def verdict_text(doc: Mapping[str, Any]) -> str:
    """``PASS: spread`` or ``FAIL: pinned, expected spread`` (the table's verdict cell)."""
    word = VERDICT_WORDS[doc["verdict"]]
    if doc["verdict"] == "error":
        return f"{word}: not probed, expected {doc['promise']}"
    if doc["verdict"] == "pass":
        return f"{word}: {doc['observed']}"
    return f"{word}: {doc['observed']}, expected {doc['promise']}"


def reached_text(doc: Mapping[str, Any]) -> str:
    reached = doc["replicas_reached_per_connection"]
    if not reached:
        return "—"
    result = doc.get("result") or {}
    of = result.get("expected_replicas") or len(doc["share_per_replica"])
    return f"{' · '.join(str(n) for n in reached)} of {of}"


def shares_text(doc: Mapping[str, Any]) -> str:
    shares = doc["share_per_replica"]
    if not shares:
        return "—"
    labels = short_names(list(shares))
    return " · ".join(f"{labels[name]} {share:.0%}" for name, share in shares.items())


TABLE_HEADER = (
    "scenario",
    "path of the calls",
    "verdict",
    "replicas reached per connection",
    "share per replica",
    "Jain's index",
    "p50 ms",
    "p99 ms",
    "calls/s",
)


NUMERIC_FROM = 5  # Jain's index onwards: right-aligned


def table_rows(report: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """The table's cells, scenario by scenario (plain text, shared by md and html)."""
    return [
        (
            doc["scenario"],
            doc["path"] or "—",
            verdict_text(doc),
            reached_text(doc),
            shares_text(doc),
            _fmt(doc["jain_index"], ".3f"),
            _fmt(doc["latency_ms"]["p50"], ".2f"),
            _fmt(doc["latency_ms"]["p99"], ".2f"),
            _fmt(doc["calls_per_second"], ",.0f"),
        )
        for doc in report["scenarios"]
    ]


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


def overall_line(report: Mapping[str, Any]) -> str:
    docs = report["scenarios"]
    passed = sum(1 for d in docs if d["passed"])
    if len(docs) == 1:
        doc = docs[0]
        kept = "kept" if doc["passed"] else "did NOT keep"
        seen = f"observed {doc['observed']}" if doc["verdict"] != "error" else "not probed"
        return f"{doc['scenario']} {kept} its promise: expected {doc['promise']}, {seen}."
    if report["passed"]:
        return f"All {len(docs)} scenarios kept their promise."
    return (
        f"{len(docs) - passed} of {len(docs)} scenarios did NOT keep their promise: "
        + ", ".join(report["failed_scenarios"])
        + "."
    )


def render_markdown(report: Mapping[str, Any]) -> str:
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


# ---------------------------------------------------------------------------------------------
# report.png


def figure_size_px(scenario_count: int) -> tuple[int, int]:
    """Width and height in pixels of report.png for that many scenarios."""
    return (
        round(FIG_WIDTH_IN * DPI),
        round((HEADER_IN + ROW_IN * scenario_count) * DPI),
    )


def render_png(report: Mapping[str, Any]) -> bytes:
    """The picture: one row per scenario. Same report in, same bytes out."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.figure import Figure

    docs = report["scenarios"]
    width_px, height_px = figure_size_px(len(docs))
    height_in = height_px / DPI
    with plt.rc_context(
        {
            "font.family": "DejaVu Sans",
            "font.size": 11,
            "axes.titlesize": 12.5,
            "axes.titleweight": "bold",
            "axes.titlepad": 9,
            "axes.edgecolor": "#d0d7de",
            "axes.labelcolor": INK,
            "xtick.color": INK,
            "ytick.color": INK,
        }
    ):
        fig = Figure(figsize=(width_px / DPI, height_in), dpi=DPI, facecolor="white")
        # Every row is ROW_IN tall: the axes, then ROW_GAP_IN for tick labels and the next titles.
        grid = fig.add_gridspec(
            len(docs),
            3,
            width_ratios=(1.2, 1.3, 1.3),
            left=0.015,
            right=0.985,
            top=1 - HEADER_IN / height_in,
            bottom=ROW_GAP_IN / height_in,
            wspace=0.34,
            hspace=ROW_GAP_IN / (ROW_IN - ROW_GAP_IN),
        )
        _header(fig, report)
        colours = _replica_colours(docs)
        for row, doc in enumerate(docs):
            _card(fig.add_subplot(grid[row, 0]), doc)
            _bars(fig.add_subplot(grid[row, 1]), doc, colours)
            _grid(fig.add_subplot(grid[row, 2]), doc, colours)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _header(fig: Any, report: Mapping[str, Any]) -> None:
    from matplotlib.lines import Line2D

    colour = PASS_COLOUR if report["passed"] else FAIL_COLOUR
    inch = 1 / fig.get_figheight()  # one inch, in figure coordinates
    fig.text(
        0.015, 1 - 0.22 * inch, report["title"], fontsize=21, weight="bold", color=INK, va="top"
    )
    fig.text(
        0.015,
        1 - 0.66 * inch,
        overall_line(report),
        fontsize=15,
        weight="bold",
        color=colour,
        va="top",
    )
    versions = report["versions"]
    shown = [f"{k} {versions[k]}" for k in VERSIONS_SHOWN if k in versions]
    fig.text(
        0.985,
        1 - 0.24 * inch,
        report["generated_at"],
        fontsize=11,
        color=MUTED,
        ha="right",
        va="top",
    )
    fig.text(
        0.985, 1 - 0.50 * inch, " · ".join(shown), fontsize=10.5, color=MUTED, ha="right", va="top"
    )
    fig.text(
        0.015,
        1 - 1.02 * inch,
        "How to read: in each grid a row is one client connection, and a coloured cell a "
        "replica it reached. One cell per row: pinned per connection (L4). Full rows: "
        "balanced per request (L7).",
        fontsize=11,
        color=INK,
        va="top",
    )
    y = 1 - 1.32 * inch
    fig.add_artist(
        Line2D([0.015, 0.985], [y, y], transform=fig.transFigure, color="#d0d7de", lw=1.2)
    )


def _card(ax: Any, doc: Mapping[str, Any]) -> None:
    from matplotlib.patches import FancyBboxPatch

    edge, fill = VERDICT_COLOURS[doc["verdict"]]
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.add_patch(
        FancyBboxPatch(
            (0.01, 0.01),
            0.98,
            0.98,
            boxstyle="round,pad=0,rounding_size=0.04",
            facecolor=fill,
            edgecolor=edge,
            linewidth=2.5,
        )
    )
    ax.text(0.06, 0.88, doc["scenario"], fontsize=18, weight="bold", color=INK, va="top")
    badge = VERDICT_WORDS[doc["verdict"]]
    ax.text(
        0.93,
        0.88,
        badge,
        fontsize=16,
        weight="bold",
        color="white",
        va="top",
        ha="right",
        bbox={"boxstyle": "round,pad=0.35", "facecolor": edge, "edgecolor": edge},
    )
    ax.text(
        0.06,
        0.70,
        _wrap(doc["path"] or "—", 48, 2),
        fontsize=11,
        color=MUTED,
        va="top",
        linespacing=1.3,
    )
    if doc["verdict"] == "error":
        outcome = f"expected {doc['promise']} · not probed"
    else:
        outcome = f"expected {doc['promise']} · observed {doc['observed']}"
    ax.text(0.06, 0.47, outcome, fontsize=12.5, weight="bold", color=edge, va="top")
    if doc["verdict"] == "error":
        stats = _wrap(doc.get("error") or "", 44, 3)
    else:
        stats = (
            f"Jain's index {_fmt(doc['jain_index'], '.3f')}"
            f" · {_fmt(doc['calls_per_second'], ',.0f')} calls/s\n"
            f"p50 {_fmt(doc['latency_ms']['p50'], '.2f')} ms"
            f" · p99 {_fmt(doc['latency_ms']['p99'], '.2f')} ms"
        )
        totals = (doc.get("result") or {}).get("totals") or {}
        if totals:
            stats += f"\n{totals.get('ok', 0)} calls ok, {totals.get('failed', 0)} failed"
    ax.text(0.06, 0.33, stats, fontsize=11, color=INK, va="top", linespacing=1.45)


def _wrap(text: str, width: int, lines: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width=width, max_lines=lines, placeholder=" …")) or text


UNSEEN_COLOUR = "#d0d7de"
# tab10 without its red and green, which the verdicts use
REPLICA_PALETTE = (
    "#1f77b4", "#ff7f0e", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f",
)  # fmt: skip


def _replica_colours(docs: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """One colour per replica name over the whole report: a pod keeps its colour in every row."""
    colours: dict[str, str] = {}
    for doc in docs:
        for name in replica_names(doc.get("result") or {}):
            colours.setdefault(name, REPLICA_PALETTE[len(colours) % len(REPLICA_PALETTE)])
    return colours


def _no_data(ax: Any, title: str) -> None:
    ax.set_title(title, loc="left")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(
        0.5,
        0.5,
        "no call answered",
        ha="center",
        va="center",
        color=MUTED,
        fontsize=12,
        transform=ax.transAxes,
    )


def _tick_rotation(count: int) -> int:
    return 0 if count <= 6 else 35


UNSEEN = "not seen"


def _columns(result: Mapping[str, Any]) -> tuple[list[str | None], list[str]]:
    """The picture's replica columns and their labels; None for an expected replica never seen."""
    names: list[str | None] = list(replica_names(result))
    labels = short_names([n for n in names if n is not None])
    missing = max(0, (result.get("expected_replicas") or 0) - len(names))
    names += [None] * missing
    return names, [UNSEEN if n is None else labels[n] for n in names]


def _bars(ax: Any, doc: Mapping[str, Any], colours: Mapping[str, Any]) -> None:
    result = doc.get("result") or {}
    names, labels = _columns(result)
    if not any(names):
        _no_data(ax, "Calls per replica")
        return
    calls = {r["name"]: r.get("calls", 0) for r in result.get("replicas", [])}
    values = [calls.get(name, 0) if name else 0 for name in names]
    total = sum(values)
    fair = total / len(names)
    xs = list(range(len(names)))
    fills = [colours[n] if n else UNSEEN_COLOUR for n in names]
    bars = ax.bar(xs, values, color=fills, width=0.6, zorder=2)
    ax.axhline(fair, color=INK, lw=1.3, ls=(0, (5, 4)), zorder=3)
    top = max(max(values), fair) * 1.15 or 1
    for bar, value in zip(bars, values, strict=True):
        share = value / total if total else 0
        inside = value > 0.2 * top  # inside a tall bar, clear of the fair-share line
        ax.text(
            bar.get_x() + bar.get_width() / 2,
            value - 0.03 * top if inside else value,
            f"{value}\n{share:.0%}",
            ha="center",
            va="top" if inside else "bottom",
            fontsize=10.5,
            color="white" if inside else INK,
            weight="bold",
            zorder=4,
        )
    ax.set_xticks(xs, labels, rotation=_tick_rotation(len(names)))
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylim(0, top)
    ax.set_ylabel("calls answered")
    ax.grid(axis="y", color="#eaeef2", zorder=0)
    ax.set_title(f"Calls per replica  (dashed: fair share, {fair:.0f})", loc="left")
    ax.spines[["top", "right"]].set_visible(False)


def _grid(ax: Any, doc: Mapping[str, Any], colours: Mapping[str, Any]) -> None:
    from matplotlib.patches import Rectangle

    result = doc.get("result") or {}
    names, labels = _columns(result)
    connections = result.get("connections", [])
    title = "Replicas each connection reached"
    if not any(names) or not connections:
        _no_data(ax, title)
        return
    annotate = len(names) * len(connections) <= 120
    for i, conn in enumerate(connections):
        for j, name in enumerate(names):
            value = int(conn.get("replicas", {}).get(name, 0)) if name else 0
            ax.add_patch(
                Rectangle(
                    (j - 0.5, i - 0.5),
                    1,
                    1,
                    facecolor=colours[name] if value and name else "#f6f8fa",
                    edgecolor="white",
                    linewidth=3,
                )
            )
            if annotate:
                ax.text(
                    j,
                    i,
                    str(value) if value else "",
                    ha="center",
                    va="center",
                    fontsize=11 if value else 12,
                    weight="bold" if value else "normal",
                    color="white" if value else "#afb8c1",
                )
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylim(len(connections) - 0.5, -0.5)
    ax.set_xticks(range(len(names)), labels, rotation=_tick_rotation(len(names)))
    ylabels = []
    for conn, reached in zip(connections, doc["replicas_reached_per_connection"], strict=True):
        label = f"conn {conn.get('index', len(ylabels))} · {reached} replica"
        label += "" if reached == 1 else "s"
        if conn.get("failed"):
            label += f", {conn['failed']} failed"
        ylabels.append(label)
    ax.set_yticks(range(len(connections)), ylabels)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, loc="left")


# ---------------------------------------------------------------------------------------------
# report.html

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
<img id="picture" alt="calls per replica and replicas reached per connection, per scenario"
 width="{width}" height="{height}" src="data:image/png;base64,{image}">
<h2>Summaries</h2>
<ul class="summaries">{summaries}</ul>
<h2>Versions</h2>
<table id="versions">{versions}</table>
</body>
</html>
"""


# ---------------------------------------------------------------------------------------------
# The folder


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


def _atomic_write(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


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


def probe_scenario(
    result: Mapping[str, Any], scenario: str = "probe", path: str | None = None
) -> Scenario:
    """One probe result as a scenario whose promise is the probe's own ``--expect``."""
    target = result.get("target", "?")
    return Scenario(
        scenario=scenario,
        promise=str(result.get("expect", "none")),
        result=dict(result),
        path=path or f"{target} ({result.get('lb_policy', 'pick_first')})",
    )


def probe_title(result: Mapping[str, Any]) -> str:
    return f"grpclab probe of {result.get('target', '?')}"


# ---------------------------------------------------------------------------------------------
# Command line: python -m grpclab.report


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
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        text = sys.stdin.read() if args.input == "-" else Path(args.input).read_text("utf-8")
        data = json.loads(text)
        if isinstance(data, dict) and data.get("schema") == REPORT_SCHEMA:
            folder = Path(args.dir) if args.dir else new_report_dir(args.out)
            report = data
            write_files(report, folder)
        elif isinstance(data, dict) and data.get("schema") == PROBE_SCHEMA:
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
        print(f"grpclab-report: error: {exc}", file=sys.stderr)
        return 2
    print(markdown_table(report))
    print(f"report: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
