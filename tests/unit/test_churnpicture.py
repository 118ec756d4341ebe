"""The churn pictures, drawn from synthetic timelines: real PNGs, and what they show."""

from __future__ import annotations

import struct

import matplotlib
import numpy as np
import pytest
from test_churn import AFTER, BEFORE, per_request, pinned, rotating, timeline

from grpclab.report.churn_picture import (
    FAILED_CALLS_COLOUR,
    connection_cells,
    draw_connection_grid,
    draw_timeline,
    figure_size_px,
    render_png,
    replica_colours,
    replica_order,
)

matplotlib.use("Agg")
from matplotlib.figure import Figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def with_failures(t: float, conn: int, k: int) -> str:
    if conn == 1 and 3.0 <= t < 3.5:
        return "UNAVAILABLE"
    return pinned(t, conn, k) if t < 3.0 else per_request(3.0)(t, conn, k)


def test_render_png_is_a_real_png_of_the_announced_size_and_repeatable():
    line = timeline(per_request(ready_at=3.5))
    data = render_png(
        line,
        "cilium",
        "scale-out",
        3.0,
        "cilium scale-out at 3.0 s: every connection reached each new replica within 0.9 s",
        passed=True,
    )
    assert png_size(data) == figure_size_px() == (1200, 750)
    assert data.endswith(b"IEND\xaeB`\x82")
    assert (
        render_png(
            line,
            "cilium",
            "scale-out",
            3.0,
            "cilium scale-out at 3.0 s: every connection reached each new replica within 0.9 s",
            passed=True,
        )
        == data
    )
    assert render_png(timeline(pinned), "baseline", "scale-out", 3.0) != data


def test_a_failed_entry_with_failed_calls_renders():
    data = render_png(
        timeline(with_failures),
        "baseline",
        "delete-pod",
        3.0,
        "baseline delete-pod at 3.0 s: 5 failed calls (UNAVAILABLE 5): not met",
        passed=False,
    )
    assert png_size(data) == figure_size_px()


def test_replicas_keep_the_order_they_first_served_in():
    assert replica_order(timeline(per_request(ready_at=3.5))) == list(AFTER)
    assert replica_order(timeline(pinned)) == list(BEFORE)
    colours = replica_colours(AFTER)
    assert len(set(colours.values())) == len(AFTER)
    assert FAILED_CALLS_COLOUR not in colours.values()


def test_cells_hold_each_connections_calls_per_slice_by_replica():
    conns, width, cells = connection_cells(timeline(with_failures), columns=20)
    assert conns == [0, 1, 2, 3] and width == pytest.approx(0.5)
    assert cells[0][0] == {"r1": 5}  # 10 calls/s per connection, pinned to r1
    assert cells[1][6] == {None: 5}  # conn 1 failed from 3.0 to 3.5 s
    assert len(cells[2][10]) == 5  # 5.0 to 5.5 s: per request over five replicas
    assert sum(sum(c.values()) for row in cells for c in row) == 400


def test_the_grid_has_about_eight_calls_per_connection_in_a_slice():
    assert connection_cells(timeline(pinned))[1] == pytest.approx(10 / 12)  # 400 calls / 32
    assert len(connection_cells(timeline(pinned, duration=60, rate=1000))[2][0]) == 240


def grid_rows(line: dict) -> list[set[tuple]]:
    """The distinct colours along each connection's row of the drawn grid."""
    fig = Figure()
    ax = fig.add_subplot()
    draw_connection_grid(ax, line, 3.0)
    pixels = np.asarray(ax.images[0].get_array())
    per_conn = pixels.shape[0] // len(connection_cells(line)[0])
    return [
        {tuple(p) for p in pixels[r * per_conn : (r + 1) * per_conn].reshape(-1, 3)}
        for r in range(pixels.shape[0] // per_conn)
    ]


def test_the_grid_shows_pinning_rotation_and_spreading():
    pinned_rows = grid_rows(timeline(pinned))
    assert [len(colours) for colours in pinned_rows] == [1, 1, 1, 1]  # one replica a row
    spread_rows = grid_rows(timeline(per_request(ready_at=3.5)))
    assert all(len(colours) == 5 for colours in spread_rows)  # every replica in every row
    rotating_rows = grid_rows(timeline(rotating(1.0, ready_at=3.2), connections=2))
    assert all(len(colours) >= 2 for colours in rotating_rows)


def test_the_timeline_stacks_each_seconds_calls_and_marks_the_action():
    line = timeline(with_failures)
    fig = Figure()
    ax = fig.add_subplot()
    draw_timeline(ax, line, 3.0, "delete-pod at 3 s")
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["r1", "r2", "r3", "r4", "r5", "failed"]
    tops = {}
    for container in ax.containers:
        for bar in container:
            x = round(bar.get_x())
            tops[x] = max(tops.get(x, 0), bar.get_y() + bar.get_height())
    assert all(tops[s] == pytest.approx(40) for s in range(10))  # every call, stacked
    assert [round(v, 3) for v in ax.lines[0].get_xdata()] == [3.0, 3.0]
    assert ax.texts[0].get_text() == "delete-pod at 3 s"
