"""Synthetic runs in the probe's timeline shape, for judging churn over time: three replicas
before an action, five after, and picks that say which replica (or which failure) each call got."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from grpclab.churn import Action

BEFORE = ("r1", "r2", "r3")
AFTER = ("r1", "r2", "r3", "r4", "r5")

# (t, connection, per-connection call number) -> replica, or a status code name for a failure
Pick = Callable[[float, int, int], str]


def timeline(pick: Pick, duration: float = 10.0, rate: float = 40.0, connections: int = 4) -> dict:
    """A run of the probe: ``rate`` calls/s in all, round-robin over the connections."""
    calls: list[list] = []
    per_conn = Counter()
    for i in range(int(duration * rate)):
        t, conn = round(i / rate, 4), i % connections
        outcome = pick(t, conn, per_conn[conn])
        per_conn[conn] += 1
        if outcome.isupper():
            calls.append([t, conn, None, outcome, None])
        else:
            calls.append([t, conn, outcome, "OK", 1.0])
    per_second = []
    for second in range(int(duration)):
        inside = [c for c in calls if int(c[0]) == second]
        failures = Counter(c[3] for c in inside if c[3] != "OK")
        per_second.append(
            {
                "t": second,
                "replicas": dict(Counter(c[2] for c in inside if c[2])),
                "failed": sum(failures.values()),
                "failures": dict(failures),
            }
        )
    conns = []
    for index in range(connections):
        segments: list[dict] = []
        for t, conn, replica, _, _ in calls:
            if conn != index or replica is None:
                continue
            if segments and segments[-1]["replica"] == replica:
                segments[-1]["to_s"], segments[-1]["calls"] = t, segments[-1]["calls"] + 1
            else:
                segments.append({"replica": replica, "from_s": t, "to_s": t, "calls": 1})
        conns.append({"index": index, "segments": segments})
    return {
        "start_unix": 1_700_000_000.0,
        "rate": rate,
        "duration_s": duration,
        "calls": calls,
        "per_second": per_second,
        "connections": conns,
    }


def scale_out(at: float = 3.0) -> Action:
    return Action("scale-out", at, frozenset(BEFORE), frozenset(AFTER))


def per_request(ready_at: float) -> Pick:
    """L7: each call to the next replica among those that are endpoints at that moment."""

    def pick(t: float, conn: int, k: int) -> str:
        replicas = AFTER if t >= ready_at else BEFORE
        return replicas[(k + conn) % len(replicas)]

    return pick


def pinned(t: float, conn: int, k: int) -> str:
    return BEFORE[conn % len(BEFORE)]


def rotating(age: float, ready_at: float) -> Pick:
    """max age: a connection is pinned, and balanced again each time the server closes it."""

    def pick(t: float, conn: int, k: int) -> str:
        epoch = int((t + conn * age / 4) / age)
        opened = epoch * age - conn * age / 4
        replicas = AFTER if opened >= ready_at else BEFORE
        return replicas[(epoch * 2 + conn * 3) % len(replicas)]

    return pick
