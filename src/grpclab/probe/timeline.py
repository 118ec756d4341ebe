"""The probe over time: every call of a paced run, per second, and per connection.

Pure functions over the pacer's records (:mod:`grpclab.probe.pacer`); no I/O. The JSON (key
``timeline`` of a ``grpclab.probe/v2`` document, see :mod:`grpclab.probe`)::

    {"start_unix": 1764480000.123,        # wall clock at the start (time.time())
     "rate": 1000.0, "duration_s": 30.0,  # as asked
     "achieved_rate": 999.8,              # calls sent / (last send time + 1 / rate)
     "max_lag_ms": 1.2,                   # the latest a call was sent after its due time
     "max_in_flight": 7,                  # most calls in flight at once, all connections
     "calls": [[t_s, connection, replica_or_null, status_code_name, latency_ms_or_null], ...],
     "per_second": [{"t": 0, "calls": 1000, "replicas": {"replica-1": 500, ...},
                     "failed": 0, "failures": {"UNAVAILABLE": 0, ...}}, ...],
     "connections": [{"index": 0, "replicas": ["replica-1", ...],
                      "segments": [{"replica": "replica-1", "from_s": 0.0, "to_s": 3.2,
                                    "calls": 801}, ...]}, ...]}

- ``calls``: one entry per call sent, sorted by send time: seconds since the start (0.1 ms),
  the connection's index, the replica that answered (null when the call failed or the reply
  named no replica), the gRPC status code name (``OK``; ``UNIDENTIFIED`` for a reply naming no
  replica, counted as failed as in the tallies), the latency in ms (null when the call failed).
- ``per_second``: one entry per whole second from 0 to the end of the run, by send time:
  successful calls per replica, failed calls and their codes.
- ``connections[].segments``: runs of successful calls on one connection answered by the same
  replica, in time order; a failed call neither ends nor extends a segment. ``replicas``: the
  replicas the connection reached, in the order it first reached them. Pinned: one segment per
  connection; rotating (max age): a few long ones; spread: one per call or so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from grpclab.probe.model import UNIDENTIFIED, Tally

OK = "OK"

# one call: (t_s since the start at send, connection, replica or None, status code name,
# latency_s from send to answer)
Record = tuple[float, int, str | None, str, float]


@dataclass
class PacedRun:
    """What the pacer returns: the records and how well it kept the schedule."""

    records: list[Record]  # every call answered or failed, in completion order
    start_unix: float
    sent_span_s: float  # from the start to the last send, plus one interval
    max_lag_s: float  # the latest a call was sent after its due time
    sent: int
    unidentified: str | None = None  # what the first reply naming no replica carried


_SEGMENTS_LISTED = 4  # the table lists a connection's segments up to this many
_TABLE_ROWS = 30  # the table groups seconds so that it shows at most this many rows


def tallies_of(records: Sequence[Record], connections: int) -> list[Tally]:
    """Per-connection tallies of the records: the same the closed-loop probe would keep."""
    tallies = [Tally() for _ in range(connections)]
    for _t, connection, replica, code, latency in records:
        tally = tallies[connection]
        if replica is not None:
            tally.replicas[replica] = tally.replicas.get(replica, 0) + 1
        else:
            tally.failures[code] = tally.failures.get(code, 0) + 1
        if _answered(code):  # as the closed loop: latency of every call that was answered
            tally.latencies_s.append(latency)
    return tallies


def _answered(code: str) -> bool:
    """The call itself succeeded (OK, or a reply that named no replica)."""
    return code in (OK, UNIDENTIFIED)


def max_in_flight(records: Sequence[Record]) -> int:
    """Most calls outstanding at once: sweep over sends and completions."""
    events = sorted(
        [(t, 1) for t, *_ in records] + [(t + latency, -1) for t, _c, _r, _code, latency in records]
    )
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def _segments(calls: Sequence[Record]) -> list[dict]:
    segments: list[dict] = []
    for t, _c, replica, _code, _lat in calls:
        if replica is None:
            continue
        if segments and segments[-1]["replica"] == replica:
            segments[-1]["to_s"] = round(t, 4)
            segments[-1]["calls"] += 1
        else:
            segments.append(
                {"replica": replica, "from_s": round(t, 4), "to_s": round(t, 4), "calls": 1}
            )
    return segments


def build_timeline(run: PacedRun, rate: float, duration: float, connections: int) -> dict:
    """The ``timeline`` object of the probe's JSON (shape in the module docstring)."""
    records = sorted(run.records, key=lambda r: (r[0], r[1]))
    seconds = max(math.ceil(duration), math.floor(records[-1][0]) + 1 if records else 0)
    per_second = [
        {"t": s, "calls": 0, "replicas": {}, "failed": 0, "failures": {}} for s in range(seconds)
    ]
    by_connection: list[list[Record]] = [[] for _ in range(connections)]
    calls = []
    for record in records:
        t, connection, replica, code, latency = record
        by_connection[connection].append(record)
        calls.append(
            [
                round(t, 4),
                connection,
                replica,
                code,
                round(latency * 1000.0, 3) if _answered(code) else None,
            ]
        )
        bucket = per_second[int(t)]
        bucket["calls"] += 1
        if replica is not None:
            bucket["replicas"][replica] = bucket["replicas"].get(replica, 0) + 1
        else:
            bucket["failed"] += 1
            bucket["failures"][code] = bucket["failures"].get(code, 0) + 1
    for bucket in per_second:
        bucket["replicas"] = dict(sorted(bucket["replicas"].items()))
    return {
        "start_unix": round(run.start_unix, 3),
        "rate": float(rate),
        "duration_s": float(duration),
        "achieved_rate": round(run.sent / run.sent_span_s, 2) if run.sent_span_s else None,
        "max_lag_ms": round(run.max_lag_s * 1000.0, 3),
        "max_in_flight": max_in_flight(records),
        "calls": calls,
        "per_second": per_second,
        "connections": [
            {
                "index": i,
                "replicas": list(dict.fromkeys(r[2] for r in rows if r[2])),
                "segments": _segments(rows),
            }
            for i, rows in enumerate(by_connection)
        ],
    }


def render_timeline(timeline: Mapping) -> list[str]:
    """Compact lines for the table: calls per replica over time, and each connection's path."""
    per_second = timeline.get("per_second", [])
    names = sorted({name for b in per_second for name in b["replicas"]})
    step = max(1, math.ceil(len(per_second) / _TABLE_ROWS))
    lines = [
        f"timeline     asked {timeline['rate']:g} calls/s for {timeline['duration_s']:g} s, "
        f"achieved {timeline.get('achieved_rate') or 0:g} calls/s (max lag "
        f"{timeline.get('max_lag_ms', 0):g} ms, at most {timeline.get('max_in_flight')} "
        "in flight)"
    ]
    header = ["second", "calls", "failed", *names]
    rows = []
    for first in range(0, len(per_second), step):
        group = per_second[first : first + step]
        label = f"{first}" if step == 1 else f"{first}-{first + len(group) - 1}"
        rows.append(
            [
                label,
                str(sum(b["calls"] for b in group)),
                str(sum(b["failed"] for b in group)),
                *(str(sum(b["replicas"].get(n, 0) for b in group)) for n in names),
            ]
        )
    if len(names) > 8:  # too wide: count the replicas reached instead
        header = ["second", "calls", "failed", "replicas reached"]
        rows = [[*row[:3], str(sum(1 for cell in row[3:] if cell != "0"))] for row in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        lines.append("  ".join(cell.rjust(widths[i]) for i, cell in enumerate(row)))
    lines.append("")
    lines.append("connection  path over time (replica from-to s, calls)")
    for connection in timeline.get("connections", []):
        segments = connection["segments"]
        if len(segments) <= _SEGMENTS_LISTED:
            path = (
                ", ".join(
                    f"{s['replica']} {s['from_s']:.1f}-{s['to_s']:.1f} ({s['calls']})"
                    for s in segments
                )
                or "-"
            )
        else:
            path = (
                f"{len(segments)} segments over {len(connection['replicas'])} replicas "
                f"(a change every {sum(s['calls'] for s in segments) / len(segments):.1f} "
                "calls)"
            )
        lines.append(f"{connection['index']:>10}  {path}")
    return lines
