"""report.png: per scenario a verdict card, the calls per replica and the connection grid.

One filled cell per grid row: the connection was pinned to one replica (L4); full rows: each
call was balanced on its own (L7). matplotlib is imported only when a picture is drawn.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from grpclab.report.model import VERDICT_WORDS, replica_names, short_names
from grpclab.report.text import fmt, overall_line

# Fixed width, a fixed header and a fixed height per scenario, at a fixed dpi, so the size in
# pixels is known in advance (see figure_size_px).
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
UNSEEN = "not seen"
UNSEEN_COLOUR = "#d0d7de"
# tab10 without its red and green, which the verdicts use
REPLICA_PALETTE = (
    "#1f77b4", "#ff7f0e", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f",
)  # fmt: skip


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
            f"Jain's index {fmt(doc['jain_index'], '.3f')}"
            f" · {fmt(doc['calls_per_second'], ',.0f')} calls/s\n"
            f"p50 {fmt(doc['latency_ms']['p50'], '.2f')} ms"
            f" · p99 {fmt(doc['latency_ms']['p99'], '.2f')} ms"
        )
        totals = (doc.get("result") or {}).get("totals") or {}
        if totals:
            stats += f"\n{totals.get('ok', 0)} calls ok, {totals.get('failed', 0)} failed"
    ax.text(0.06, 0.33, stats, fontsize=11, color=INK, va="top", linespacing=1.45)


def _wrap(text: str, width: int, lines: int) -> str:
    return "\n".join(textwrap.wrap(text, width=width, max_lines=lines, placeholder=" …")) or text


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


def columns(result: Mapping[str, Any]) -> tuple[list[str | None], list[str]]:
    """The picture's replica columns and their labels; None for an expected replica never seen."""
    names: list[str | None] = list(replica_names(result))
    labels = short_names([n for n in names if n is not None])
    missing = max(0, (result.get("expected_replicas") or 0) - len(names))
    names += [None] * missing
    return names, [UNSEEN if n is None else labels[n] for n in names]


def _bars(ax: Any, doc: Mapping[str, Any], colours: Mapping[str, Any]) -> None:
    result = doc.get("result") or {}
    names, labels = columns(result)
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
    names, labels = columns(result)
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
