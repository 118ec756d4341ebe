"""The ``rotating`` verdict: pinned at any moment, yet several replicas over a run.

The max-age scenario's promise, judged from a timeline probe (``grpclab-probe --duration S
--rate R``): the server closes every connection after its max age, the client connects again
and is balanced again, per connection (L4). So a connection's calls go to one replica at a time
(unlike per-request balancing, where consecutive calls change replica), yet over the run the
connections move between replicas (unlike a pinned connection, which never moves).

Pure functions over the probe's JSON timeline; the figures:
- stickiness: of the consecutive pairs of successful calls on a connection, the fraction
  answered by the same replica (per-request round robin over N replicas: about 0; pinned: 1;
  rotating: 1 - reconnections / calls);
- moved: connections whose calls reached two replicas or more over the run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grpclab.churn.figures import OK

MIN_STICKINESS = 0.9  # a connection keeps its replica from one call to the next this often
MIN_MOVED = 0.5  # at least this fraction of the connections (rounded up) moved replica


@dataclass(frozen=True)
class Rotation:
    connections: int
    moved: int  # connections that reached two replicas or more
    switches: int  # changes of replica between consecutive successful calls, all connections
    pairs: int  # consecutive pairs of successful calls, all connections
    failed: int
    calls: int

    @property
    def stickiness(self) -> float:
        return 1.0 if self.pairs == 0 else 1 - self.switches / self.pairs


def measure(timeline: Mapping[str, Any]) -> Rotation:
    last: dict[int, str] = {}
    reached: dict[int, set[str]] = {}
    switches = pairs = failed = 0
    calls = sorted(timeline["calls"], key=lambda c: (float(c[0]), int(c[1])))
    for _, conn, replica, status, _ in calls:
        reached.setdefault(int(conn), set())
        if status != OK or replica is None:
            failed += 1
            continue
        reached[int(conn)].add(replica)
        if int(conn) in last:
            pairs += 1
            switches += last[int(conn)] != replica
        last[int(conn)] = replica
    return Rotation(
        connections=len(reached),
        moved=sum(len(r) > 1 for r in reached.values()),
        switches=switches,
        pairs=pairs,
        failed=failed,
        calls=len(calls),
    )


def verdict(
    timeline: Mapping[str, Any],
    min_stickiness: float = MIN_STICKINESS,
    min_moved: float = MIN_MOVED,
    max_error_rate: float = 0.0,
) -> tuple[bool, str]:
    """(passed, one line saying what was seen and, when broken, what was expected)."""
    fig = measure(timeline)
    need_moved = max(1, math.ceil(min_moved * fig.connections))
    seen = (
        f"{fig.moved} of {fig.connections} connections moved replica over "
        f"{float(timeline['duration_s']):g} s, {fig.switches} replica changes in "
        f"{fig.pairs} consecutive calls (stickiness {fig.stickiness:.3f})"
    )
    if fig.failed:
        seen += f", {fig.failed} of {fig.calls} calls failed"
    broken = []
    if fig.stickiness < min_stickiness:
        broken.append(f"stickiness at least {min_stickiness:g} (one replica at a time)")
    if fig.moved < need_moved:
        broken.append(f"at least {need_moved} connections to move replica")
    if fig.calls and fig.failed / fig.calls > max_error_rate:
        broken.append(f"at most {max_error_rate:.1%} failed calls")
    if broken:
        return False, f"rotating not met: {seen}; expected {', '.join(broken)}"
    return True, f"rotating: {seen}"
