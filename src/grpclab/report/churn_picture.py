"""Pictures of one churn run: what a remedy did while replicas came, went or restarted.

Two views of the probe's timeline (the JSON of ``grpclab-probe --duration S --rate R``, see
grpclab.churn), with the action's time marked:

- the timeline: calls per second per replica, stacked, failed calls on top;
- the connection x time grid: a row per connection, each cell coloured by the replicas that
  served that connection in that slice of time (in proportion). A pinned connection is one
  colour along its row, a rotated one changes colour in blocks (max age), a spread one is
  striped with every colour (per request balancing).

The ``draw_*`` functions draw on a given matplotlib Axes; ``render_png`` renders one
(remedy, action) entry. Same input, same bytes (Agg, no timestamps in the PNG).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from grpclab.report.model import short_names

DPI = 100
FIG_WIDTH_IN = 12.0
FIG_HEIGHT_IN = 7.5
GRID_COLUMNS = 240  # most time slices in the grid
CALLS_PER_CELL = 8  # calls of a connection in one slice of the grid, when the run has enough
CELL_PX = 12  # sub-rows of a connection's row: the resolution of the proportions

INK = "#1f2328"
MUTED = "#59636e"
PASS_COLOUR = "#1a7f37"
FAIL_COLOUR = "#cf222e"
FAILED_CALLS_COLOUR = "#24292f"  # failed calls: near black, unlike every replica colour
EMPTY_COLOUR = "#f6f8fa"
ACTION_COLOUR = "#cf222e"
# colour-blind safe first (Okabe-Ito), then tab10's remaining hues
REPLICA_PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#8c564b",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#9467bd",
)


def replica_order(timeline: Mapping[str, Any]) -> list[str]:
    """Replica names in the order they first served a call: old pods first, new ones after."""
    seen: dict[str, None] = {}
    for call in sorted(timeline["calls"], key=lambda c: (float(c[0]), int(c[1]))):
        if call[2] is not None:
            seen.setdefault(str(call[2]), None)
    for second in timeline.get("per_second") or []:
        for name in sorted(second.get("replicas") or {}):
            seen.setdefault(name, None)
    return list(seen)


def replica_colours(names: Sequence[str]) -> dict[str, str]:
    """One colour per replica, in the order given (the palette repeats past twelve)."""
    return {name: REPLICA_PALETTE[i % len(REPLICA_PALETTE)] for i, name in enumerate(names)}


def _duration(timeline: Mapping[str, Any]) -> float:
    last_call = max((float(c[0]) for c in timeline["calls"]), default=0.0)
    return max(float(timeline.get("duration_s") or 0.0), last_call, 1e-9)


def _mark_action(ax: Any, at_s: float, label: str | None) -> None:
    ax.axvline(at_s, color=ACTION_COLOUR, lw=2, ls="--", zorder=5)
    if label:
        ax.annotate(
            label,
            (at_s, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(4, -4),
            textcoords="offset points",
            ha="left",
            va="top",
            color=ACTION_COLOUR,
            fontsize=10,
            weight="bold",
            zorder=6,
        )


def draw_timeline(
    ax: Any,
    timeline: Mapping[str, Any],
    action_at_s: float | None = None,
    action_label: str | None = None,
    colours: Mapping[str, str] | None = None,
) -> None:
    """Calls per second per replica, stacked, failed calls on top; the action as a dashed line."""
    names = replica_order(timeline)
    colours = dict(colours) if colours else replica_colours(names)
    seconds = sorted(timeline.get("per_second") or [], key=lambda s: int(s["t"]))
    xs = [int(s["t"]) for s in seconds]
    bottom = [0.0] * len(seconds)
    labels = short_names(names)  # pod names share their Deployment's prefix: the legend fits
    for name in names:
        heights = [float((s.get("replicas") or {}).get(name, 0)) for s in seconds]
        if any(heights):
            ax.bar(
                xs,
                heights,
                width=1.0,
                bottom=bottom,
                align="edge",
                color=colours[name],
                label=labels[name],
                linewidth=0,
            )
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    failed = [float(s.get("failed") or 0) for s in seconds]
    if any(failed):
        ax.bar(
            xs,
            failed,
            width=1.0,
            bottom=bottom,
            align="edge",
            color=FAILED_CALLS_COLOUR,
            label="failed",
            linewidth=0,
            hatch="//",
            edgecolor="white",
        )
    if action_at_s is not None:
        _mark_action(ax, action_at_s, action_label)
    ax.set_xlim(0, _duration(timeline))
    ax.set_ylim(0, max([b + f for b, f in zip(bottom, failed, strict=True)] + [1.0]) * 1.12)
    ax.set_ylabel("calls per second")
    ax.set_title("Calls per second, by replica", loc="left")
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=9, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)


def grid_columns(calls: int, connections: int) -> int:
    """Slices of the grid: at most GRID_COLUMNS, with about CALLS_PER_CELL calls of each
    connection in each: no empty slice between a paced connection's calls, and proportions
    that do not flicker from one slice to the next."""
    return max(1, min(GRID_COLUMNS, calls // max(1, CALLS_PER_CELL * connections)))


def connection_cells(
    timeline: Mapping[str, Any],
    columns: int | None = None,
) -> tuple[list[int], float, list[list[dict[str, int]]]]:
    """The grid's content: connection indexes, the slice width in seconds, and per connection
    per slice the calls by replica name (failed calls under the key None). ``columns`` None:
    grid_columns()."""
    conns = sorted(
        {int(c["index"]) for c in timeline.get("connections") or []}
        | {int(c[1]) for c in timeline["calls"]}
    )
    duration = _duration(timeline)
    if columns is None:
        columns = grid_columns(len(timeline["calls"]), len(conns))
    width = duration / max(1, columns)
    row_of = {conn: row for row, conn in enumerate(conns)}
    cells: list[list[dict[str, int]]] = [[{} for _ in range(columns)] for _ in conns]
    for call in timeline["calls"]:
        column = min(columns - 1, int(float(call[0]) / width))
        cell = cells[row_of[int(call[1])]][column]
        key = call[2] if call[3] == "OK" else None
        cell[key] = cell.get(key, 0) + 1  # type: ignore[index]
    return conns, width, cells


def _hex_rgb(colour: str) -> tuple[float, float, float]:
    value = colour.lstrip("#")
    return tuple(int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def draw_connection_grid(
    ax: Any,
    timeline: Mapping[str, Any],
    action_at_s: float | None = None,
    action_label: str | None = None,
    colours: Mapping[str, str] | None = None,
    columns: int | None = None,
) -> None:
    """A row per connection; each slice of time coloured by the replicas that served it, in
    proportion (failed calls near black, no call light grey)."""
    names = replica_order(timeline)
    colours = dict(colours) if colours else replica_colours(names)
    duration = _duration(timeline)
    conns, _, cells = connection_cells(timeline, columns)
    columns = len(cells[0]) if cells else 1
    rank = {name: i for i, name in enumerate(names)}
    empty = _hex_rgb(EMPTY_COLOUR)
    image = [[empty] * columns for _ in range(len(conns) * CELL_PX)]
    for row, conn_cells in enumerate(cells):
        for column, counts in enumerate(conn_cells):
            total = sum(counts.values())
            if not total:
                continue
            # sub-rows shared out by count, largest remainders last: the same counts, the same
            # pixels
            order = sorted(counts, key=lambda k: (k is None, rank.get(k, len(rank)), str(k)))
            shares = [counts[k] * CELL_PX / total for k in order]
            filled = [int(s) for s in shares]
            leftover = CELL_PX - sum(filled)
            by_remainder = sorted(range(len(order)), key=lambda i: (filled[i] - shares[i], i))
            for i in by_remainder[:leftover]:
                filled[i] += 1
            y = row * CELL_PX
            for key, n in zip(order, filled, strict=True):
                rgb = _hex_rgb(FAILED_CALLS_COLOUR if key is None else colours[key])
                for sub in range(y, y + n):
                    image[sub][column] = rgb
                y += n
    ax.imshow(
        image,
        aspect="auto",
        interpolation="nearest",
        origin="upper",
        extent=(0, duration, len(conns), 0),
    )
    for boundary in range(1, len(conns)):
        ax.axhline(boundary, color="white", lw=1.5)
    ax.set_yticks([i + 0.5 for i in range(len(conns))], [f"conn {c}" for c in conns])
    ax.tick_params(axis="y", length=0)
    if action_at_s is not None:
        _mark_action(ax, action_at_s, action_label)
    ax.set_xlim(0, duration)
    ax.set_xlabel("seconds into the run")
    ax.set_title("Connections over time, coloured by the replicas that served them", loc="left")
    ax.spines[["top", "right", "left"]].set_visible(False)


def figure_size_px() -> tuple[int, int]:
    """Width and height in pixels of the picture render_png makes."""
    return round(FIG_WIDTH_IN * DPI), round(FIG_HEIGHT_IN * DPI)


def render_png(
    timeline: Mapping[str, Any],
    remedy: str,
    action: str,
    action_at_s: float,
    verdict_line: str | None = None,
    passed: bool | None = None,
    colours: Mapping[str, str] | None = None,
) -> bytes:
    """The picture of one (remedy, action) entry: a title, the verdict line, the timeline above
    the connection grid. Same input, same bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.figure import Figure

    names = replica_order(timeline)
    colours = dict(colours) if colours else replica_colours(names)
    with plt.rc_context(
        {
            "font.family": "DejaVu Sans",
            "font.size": 10,
            "axes.titlesize": 11.5,
            "axes.titleweight": "bold",
            "axes.edgecolor": "#d0d7de",
            "axes.labelcolor": INK,
            "xtick.color": INK,
            "ytick.color": INK,
            "hatch.linewidth": 0.6,
        }
    ):
        fig = Figure(figsize=(FIG_WIDTH_IN, FIG_HEIGHT_IN), dpi=DPI, facecolor="white")
        grid = fig.add_gridspec(
            2,
            1,
            height_ratios=(1.0, 1.0),
            left=0.075,
            right=0.845,
            top=0.80,
            bottom=0.08,
            hspace=0.40,
        )
        fig.text(
            0.012, 0.975, f"{remedy} · {action}", fontsize=17, weight="bold", color=INK, va="top"
        )
        rate = timeline.get("rate")
        fig.text(
            0.988,
            0.975,
            f"{rate} calls/s over {_duration(timeline):g} s, action at {action_at_s:g} s"
            if rate
            else f"action at {action_at_s:g} s",
            fontsize=10,
            color=MUTED,
            ha="right",
            va="top",
        )
        if verdict_line:
            colour = INK if passed is None else (PASS_COLOUR if passed else FAIL_COLOUR)
            word = "" if passed is None else ("PASS  " if passed else "FAIL  ")
            fig.text(
                0.012, 0.915, word + verdict_line, fontsize=9.5, color=colour, va="top", wrap=True
            )
        label = f"{action} at {action_at_s:g} s"
        draw_timeline(fig.add_subplot(grid[0]), timeline, action_at_s, label, colours)
        draw_connection_grid(fig.add_subplot(grid[1]), timeline, action_at_s, None, colours)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
