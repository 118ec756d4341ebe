"""Churn figures: what a timeline shows around one action (new replicas reached, fair shares,
failed calls, recovery). Pure functions over the probe's timeline; see grpclab.churn."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

OK = "OK"

REMEDIES = ("baseline", "max-age", "cilium", "cilium-l4", "client-side", "client-side-max-age")
ACTIONS = ("scale-out", "scale-in", "delete-pod", "crash", "rollout-restart", "proxy-restart")

# metrics an expectation can hold a figure against
REACH_ALL = "reach_all"  # every connection reached every new replica within the budget (s)
REACH_NEVER = "reach_never"  # no connection reached any new replica during the run
SERVED = "served"  # every new replica served a call (on any connection) within the budget (s)
# once a new replica served its first call, every connection reached it within the budget (s):
# the balancer's part alone, without the replica's own start-up
SPREAD = "spread"
FAIR = "fair"  # shares within the fair-share tolerance, for good, within the budget (s)
FAILED_CALLS = "failed_calls"  # calls failed from the action on, at most the budget
RECOVERY = "recovery"  # calls succeed again on every connection within the budget (s)
# every connection stays on the replica it had at the action: an L4 connection that survived
# (one that broke and reconnected is balanced again, to a replica picked at random)
KEPT = "kept"


@dataclass(frozen=True)
class Action:
    """One churn action: its name, when it was taken, and the replicas before and after it.

    ``restarted`` names replicas that kept their name through a restart (a crashed container
    restarts in the same pod); a deleted or rolled pod is in ``before`` and not in ``after``.
    """

    name: str
    at_s: float
    before: frozenset[str]
    after: frozenset[str]
    restarted: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.name not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {self.name!r}")

    @property
    def new(self) -> frozenset[str]:
        return self.after - self.before

    @property
    def removed(self) -> frozenset[str]:
        return self.before - self.after


@dataclass(frozen=True)
class Figures:
    """What the timeline shows around the action."""

    new_replicas: tuple[str, ...]
    # per new replica, seconds after the action: until every connection reached it; its first
    # successful call; and how many connections reached it at all
    reach_s: dict[str, float | None]
    served_s: dict[str, float | None]
    reached_by: dict[str, int]
    fair_s: float | None  # shares fair for good, after the action (None: never)
    failed: dict[str, int]  # from the action on, by status code
    failed_before: int  # before the action (a healthy run has none)
    recovery_s: float | None  # calls succeed again on every connection (0: nothing failed)
    connections: int
    calls: int
    # connections answered by another replica after the action than the one they had at it
    moved: int = 0

    @property
    def all_reached_s(self) -> float | None:
        values = list(self.reach_s.values())
        return None if not values or None in values else max(values)  # type: ignore[type-var]

    @property
    def spread_s(self) -> dict[str, float | None]:
        """Per new replica: seconds from its first call to every connection having reached it."""
        return {
            name: None if reach is None or served is None else reach - served
            for name in self.new_replicas
            for reach, served in [(self.reach_s.get(name), self.served_s.get(name))]
        }

    @property
    def all_served_s(self) -> float | None:
        values = list(self.served_s.values())
        return None if not values or None in values else max(values)  # type: ignore[type-var]

    @property
    def failed_calls(self) -> int:
        return sum(self.failed.values())


def _calls(timeline: Mapping[str, Any]) -> list[tuple[float, int, str | None, str]]:
    """(t_s, connection, replica, status) of every call, in time order."""
    calls = [(float(c[0]), int(c[1]), c[2], str(c[3])) for c in timeline["calls"]]
    return sorted(calls, key=lambda call: (call[0], call[1]))


def connection_indexes(timeline: Mapping[str, Any]) -> list[int]:
    """Every connection of the run, from its segments and its calls."""
    seen = {int(c["index"]) for c in timeline.get("connections") or []}
    seen |= {int(c[1]) for c in timeline["calls"]}
    return sorted(seen)


def reach_times(timeline: Mapping[str, Any], action: Action) -> dict[str, dict[int, float]]:
    """Per new replica, per connection: seconds from the action to its first successful call on
    that replica. A connection that never reached it is absent."""
    reach: dict[str, dict[int, float]] = {name: {} for name in sorted(action.new)}
    for t, conn, replica, status in _calls(timeline):
        if t >= action.at_s and status == OK and replica in reach:
            reach[replica].setdefault(conn, t - action.at_s)
    return reach


def fair_since(
    timeline: Mapping[str, Any],
    replicas: Iterable[str],
    from_s: float,
    min_share: float = 0.5,
    window_s: int = 2,
) -> float | None:
    """Seconds from ``from_s`` until the shares of ``replicas`` are fair and stay so: every window
    of ``window_s`` whole seconds from then to the end gives each replica at least ``min_share``
    of its fair share (1/len(replicas)) of the successful calls. None: not fair by the end."""
    names = sorted(set(replicas))
    counts: dict[int, Counter[str]] = {}
    for second in timeline["per_second"]:
        counts[int(second["t"])] = Counter(second.get("replicas") or {})
    if not names or not counts:
        return None
    # windows wholly after from_s
    first, last = max(math.ceil(from_s), min(counts)), max(counts)
    starts = list(range(first, last - window_s + 2))

    def fair(start: int) -> bool:
        window: Counter[str] = Counter()
        for t in range(start, start + window_s):
            window.update(counts.get(t, Counter()))
        total = sum(window.values())  # calls to replicas outside ``replicas`` count too
        return total > 0 and all(window[n] >= min_share * total / len(names) for n in names)

    since: int | None = None
    for start in reversed(starts):  # the earliest start from which every window is fair
        if not fair(start):
            break
        since = start
    return None if since is None else max(0.0, since - from_s)


def recovery_time(timeline: Mapping[str, Any], at_s: float) -> float | None:
    """Seconds from ``at_s`` until every connection's calls succeed again: per connection, its
    first successful call after its last failed one. 0 when no call failed from ``at_s`` on;
    None when a connection's last call failed (it did not recover within the run)."""
    last_failed: dict[int, float] = {}
    calls = [c for c in _calls(timeline) if c[0] >= at_s]
    for t, conn, _, status in calls:
        if status != OK:
            last_failed[conn] = t
    worst = 0.0
    for conn, failed_at in last_failed.items():
        after = [t for t, c, _, status in calls if c == conn and t > failed_at and status == OK]
        if not after:
            return None
        worst = max(worst, after[0] - at_s)
    return worst


def moved_connections(timeline: Mapping[str, Any], at_s: float) -> int:
    """Connections whose successful calls after ``at_s`` came from another replica than their
    last successful call before it."""
    at_action: dict[int, str | None] = {}
    moved: set[int] = set()
    for t, conn, replica, status in _calls(timeline):
        if status != OK:
            continue
        if t < at_s:
            at_action[conn] = replica
        elif conn in at_action and replica != at_action[conn]:
            moved.add(conn)
    return len(moved)


def measure(
    timeline: Mapping[str, Any], action: Action, min_share: float = 0.5, window_s: int = 2
) -> Figures:
    calls = _calls(timeline)
    reach = reach_times(timeline, action)
    conns = connection_indexes(timeline)
    served: dict[str, float | None] = {}
    for name in sorted(action.new):
        times = [
            t - action.at_s for t, _, r, s in calls if r == name and s == OK and t >= action.at_s
        ]
        served[name] = times[0] if times else None
    failed = Counter(s for t, _, _, s in calls if s != OK and t >= action.at_s)
    return Figures(
        new_replicas=tuple(sorted(action.new)),
        reach_s={
            name: (max(by_conn.values()) if conns and len(by_conn) == len(conns) else None)
            for name, by_conn in reach.items()
        },
        reached_by={name: len(by_conn) for name, by_conn in reach.items()},
        served_s=served,
        fair_s=fair_since(timeline, action.after, action.at_s, min_share, window_s),
        failed=dict(sorted(failed.items())),
        failed_before=sum(1 for t, _, _, s in calls if s != OK and t < action.at_s),
        recovery_s=recovery_time(timeline, action.at_s),
        connections=len(conns),
        calls=len(calls),
        moved=moved_connections(timeline, action.at_s),
    )


# ---------------------------------------------------------------------------------------------
# expectations: each remedy's promise for each action
