"""Judgement over time: what a remedy did while replicas came, went or restarted.

Pure functions over the probe's timeline (``grpclab-probe --duration S --rate R``) and one churn
action taken during it; nothing here reads files or clocks. The timeline is the probe's JSON:

    {"start_unix": float, "rate": R, "duration_s": S,
     "calls": [[t_s, connection, replica_or_null, status_code_name, latency_ms_or_null], ...],
     "per_second": [{"t": int, "replicas": {name: n}, "failed": k, "failures": {code: n}}],
     "connections": [{"index": i, "segments": [{"replica", "from_s", "to_s", "calls"}]}]}

Times are seconds from the start of the run. The figures (``measure``) are the ones the issue
names: for new replicas, the time until every connection has reached each of them and the time
until the shares are fair; for removed or restarted ones, the failed calls by status code and the
time until calls succeed again on every connection. ``expectations`` writes each remedy's promise
for each action down as data, with its budget; ``judge`` holds the figures against them and says
what was seen in one line.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

OK = "OK"

REMEDIES = ("baseline", "max-age", "cilium", "cilium-l4", "client-side", "client-side-max-age")
ACTIONS = ("scale-out", "scale-in", "delete-pod", "crash", "rollout-restart")

# metrics an expectation can hold a figure against
REACH_ALL = "reach_all"  # every connection reached every new replica within the budget (s)
REACH_NEVER = "reach_never"  # no connection reached any new replica during the run
SERVED = "served"  # every new replica served a call (on any connection) within the budget (s)
FAIR = "fair"  # shares within the fair-share tolerance, for good, within the budget (s)
FAILED_CALLS = "failed_calls"  # calls failed from the action on, at most the budget
RECOVERY = "recovery"  # calls succeed again on every connection within the budget (s)


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
class Budgets:
    """The numbers the expectations hold figures against. Seconds unless named calls.

    A budget of None means no number is known for it: the figure is measured and shown, and the
    expectation is marked not judged rather than given a guessed number.
    """

    l7_reach_s: float = 2.0  # cilium: every connection reaches each new replica within
    l7_fair_s: float = 5.0  # cilium: shares are fair within
    # cilium, delete-pod: every connection reaches the replacement within; it starts only after
    # the delete (process start + readiness probe: 1.5-2 s on the lab), then Envoy reaches it
    l7_replace_s: float = 4.0
    max_age_s: float = 30.0  # the server's max connection age (the walk-through's 30 s)
    max_age_grace_s: float = 5.0
    # max-age: a new replica serves within this many reconnections of every connection; None:
    # sized from the run by judge() (rotations_needed, at most max_age_miss_chance of a miss)
    max_age_rotations: int | None = None
    max_age_miss_chance: float = 0.001
    # client-side: gRPC's DNS resolver re-resolves at most this often
    # (grpc.dns_min_time_between_resolutions_ms, 30 s by default), so new or moved pods are seen
    # up to this long after the last resolution
    resolve_s: float = 30.0
    recovery_s: float = 10.0  # after a removal, calls succeed again on every connection within
    added_failed_calls: int | None = 0  # scale-out: adding replicas fails no call
    # scale-in, delete-pod, rollout: the server drains on SIGTERM, but SIGTERM races the
    # endpoint's removal (as in Kubernetes without a preStop delay): measured, not promised,
    # unless a budget is given
    graceful_failed_calls: int | None = None
    l7_graceful_failed_calls: int | None = None  # the same through cilium's Envoy (cilium#34991)
    crash_failed_calls: int | None = None  # SIGKILL: calls in flight fail; how many is the figure
    min_share: float = 0.5  # fair: each replica gets at least this fraction of its fair share
    fair_window_s: int = 2  # fair: shares are taken over windows of this many seconds

    @property
    def reconnect_s(self) -> float:
        """Longest time until a connection is closed by max age: gRPC jitters the age by 10 %."""
        return self.max_age_s * 1.1 + self.max_age_grace_s


@dataclass(frozen=True)
class Expectation:
    """One promise of a remedy for an action. ``budget`` None with a metric that needs one: not
    judged (the figure is recorded; ``why`` says why no number is given)."""

    remedy: str
    action: str
    metric: str
    budget: float | None
    why: str

    @property
    def judged(self) -> bool:
        return self.metric == REACH_NEVER or self.budget is not None


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

    @property
    def all_reached_s(self) -> float | None:
        values = list(self.reach_s.values())
        return None if not values or None in values else max(values)  # type: ignore[type-var]

    @property
    def all_served_s(self) -> float | None:
        values = list(self.served_s.values())
        return None if not values or None in values else max(values)  # type: ignore[type-var]

    @property
    def failed_calls(self) -> int:
        return sum(self.failed.values())


@dataclass(frozen=True)
class Check:
    expectation: Expectation
    seen: str  # the figure, in words
    outcome: str  # "pass", "fail" or "not judged"


@dataclass(frozen=True)
class Judgement:
    remedy: str
    action: str
    passed: bool
    line: str  # one line: what was seen, and the first broken promise
    figures: Figures
    checks: list[Check] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """For the report JSON: the verdict, the figures (with their totals) and each check."""
        fig = self.figures
        return {
            "remedy": self.remedy, "action": self.action, "passed": self.passed,
            "summary": self.line,
            "figures": {**asdict(fig), "new_replicas": list(fig.new_replicas),
                        "all_reached_s": fig.all_reached_s, "all_served_s": fig.all_served_s,
                        "failed_calls": fig.failed_calls},
            "checks": [{"metric": c.expectation.metric, "budget": c.expectation.budget,
                        "judged": c.expectation.judged, "why": c.expectation.why,
                        "seen": c.seen, "outcome": c.outcome} for c in self.checks],
        }


# ---------------------------------------------------------------------------------------------
# figures


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


def fair_since(timeline: Mapping[str, Any], replicas: Iterable[str], from_s: float,
               min_share: float = 0.5, window_s: int = 2) -> float | None:
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


def measure(timeline: Mapping[str, Any], action: Action, min_share: float = 0.5,
            window_s: int = 2) -> Figures:
    calls = _calls(timeline)
    reach = reach_times(timeline, action)
    conns = connection_indexes(timeline)
    served: dict[str, float | None] = {}
    for name in sorted(action.new):
        times = [t - action.at_s for t, _, r, s in calls if r == name and s == OK
                 and t >= action.at_s]
        served[name] = times[0] if times else None
    failed = Counter(s for t, _, _, s in calls if s != OK and t >= action.at_s)
    return Figures(
        new_replicas=tuple(sorted(action.new)),
        reach_s={name: (max(by_conn.values()) if conns and len(by_conn) == len(conns) else None)
                 for name, by_conn in reach.items()},
        reached_by={name: len(by_conn) for name, by_conn in reach.items()},
        served_s=served,
        fair_s=fair_since(timeline, action.after, action.at_s, min_share, window_s),
        failed=dict(sorted(failed.items())),
        failed_before=sum(1 for t, _, _, s in calls if s != OK and t < action.at_s),
        recovery_s=recovery_time(timeline, action.at_s),
        connections=len(conns),
        calls=len(calls),
    )


# ---------------------------------------------------------------------------------------------
# expectations: each remedy's promise for each action

L4 = ("baseline", "cilium-l4")
REMOVALS = ("scale-in", "delete-pod", "crash", "rollout-restart")


def expectations(remedy: str, action: str, budgets: Budgets | None = None) -> list[Expectation]:
    """The promises of ``remedy`` for ``action``, with their budgets, as data."""
    if remedy not in REMEDIES:
        raise ValueError(f"remedy must be one of {', '.join(REMEDIES)}, not {remedy!r}")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    b = budgets or Budgets()
    out: list[Expectation] = []

    def expect(metric: str, budget: float | None, why: str) -> None:
        out.append(Expectation(remedy, action, metric, budget, why))

    if action == "scale-out":
        if remedy == "cilium":
            expect(REACH_ALL, b.l7_reach_s, "Envoy balances each request: every connection "
                   "reaches a new replica as soon as it is an endpoint")
            expect(FAIR, b.l7_fair_s, "per request balancing evens the shares out")
        elif remedy in L4:
            expect(REACH_NEVER, None, "a connection is balanced once, when it opens: existing "
                   "connections never reach a new replica")
        elif remedy == "client-side":
            expect(REACH_NEVER, None, "gRPC re-resolves DNS only when a connection breaks: "
                   "nothing breaks, so the new pods get nothing")
        elif remedy == "client-side-max-age":
            expect(REACH_ALL, b.reconnect_s + b.resolve_s, "max age closes every connection "
                   "within age + 10 % jitter + grace; the client re-resolves and round-robins "
                   "over every pod")
        else:  # max-age
            rotations = b.max_age_rotations
            expect(SERVED, None if rotations is None else rotations * b.reconnect_s,
                   "each connection reconnects within age + 10 % jitter + grace and is "
                   "balanced again, to one replica picked at random: a new replica is picked "
                   f"within {rotations or 'a few'} reconnections of every connection")
        expect(FAILED_CALLS, b.added_failed_calls, "adding replicas fails no call")
        return out

    if action == "crash":
        expect(FAILED_CALLS, b.crash_failed_calls, "SIGKILL fails the calls in flight on that "
               "replica and those sent before the loss is seen: how many depends on the rate "
               "and the detection time, so it is recorded, not budgeted, unless a budget is given")
    elif remedy == "cilium":
        expect(FAILED_CALLS, b.l7_graceful_failed_calls, "the server drains on SIGTERM, but "
               "Cilium's Envoy has a reported loss during rolling updates (cilium/cilium#34991): "
               "measured, not assumed zero, unless a budget is given")
    else:
        expect(FAILED_CALLS, b.graceful_failed_calls, "the server drains on SIGTERM (GOAWAY, "
               "calls in flight finish), but SIGTERM races the endpoint's removal: a connection "
               "the drain closes can reconnect to the terminating pod and fail until gRPC's "
               "reconnect back-off ends (the lab shows 0 to ~100 calls at 200 calls/s): "
               "measured, not promised, unless a budget is given")
    if remedy.startswith("client-side"):
        expect(RECOVERY, b.recovery_s + b.resolve_s, "calls succeed again on every connection "
               "once gRPC re-resolves DNS: when every address it knows is gone (a rollout), not "
               "before its minimum time between resolutions")
    else:
        expect(RECOVERY, b.recovery_s, "calls succeed again on every connection")
    if action == "delete-pod" and remedy == "cilium":
        expect(REACH_ALL, b.l7_replace_s, "Envoy sends requests to the replacement pod as soon "
               "as it is an endpoint (it starts after the delete: start and readiness count)")
    return out


def rotations_needed(connections: int, replicas: int, new: int,
                     miss_chance: float = 0.001) -> int:
    """Reconnections of every connection after which each of ``new`` replicas out of
    ``replicas`` has been picked by some connection, but for ``miss_chance``: each reconnection
    picks one replica at random (kube-proxy, Cilium's socket LB and the lab's tcp_proxy do)."""
    if new <= 0 or replicas <= 1 or connections <= 0:
        return 1
    miss_once = (1 - 1 / replicas) ** connections  # one replica missed by one round
    return max(1, math.ceil(math.log(miss_chance / new) / math.log(miss_once)))


def matrix(budgets: Budgets | None = None) -> dict[tuple[str, str], list[Expectation]]:
    """Every (remedy, action) with its expectations."""
    return {(r, a): expectations(r, a, budgets) for r in REMEDIES for a in ACTIONS}


# ---------------------------------------------------------------------------------------------
# judgement


def _s(seconds: float) -> str:
    """Seconds as the line shows them: two decimals under one second, else one."""
    return f"{seconds:.2f} s" if seconds < 1 else f"{seconds:.1f} s"


def _codes(failed: Mapping[str, int]) -> str:
    return ", ".join(f"{code} {n}" for code, n in failed.items())


def _check(exp: Expectation, fig: Figures) -> Check:
    budget = exp.budget
    if exp.metric == REACH_NEVER:
        reached = {name: n for name, n in fig.reached_by.items() if n}
        seen = ("no connection reached a new replica" if not reached else
                "; ".join(f"{n} of {fig.connections} connections reached {name}"
                          for name, n in reached.items()))
        ok = not reached
    elif exp.metric in (REACH_ALL, SERVED):
        per_replica = fig.reach_s if exp.metric == REACH_ALL else fig.served_s
        missing = [name for name, value in per_replica.items() if value is None]
        if not fig.new_replicas:
            seen, ok = "no new replica", False
        elif missing and exp.metric == REACH_ALL:
            seen = "not every connection reached the new replicas within the run (" + ", ".join(
                f"{name} by {fig.reached_by[name]} of {fig.connections}" for name in missing) + ")"
            ok = False
        elif missing:
            seen, ok = f"{', '.join(missing)} served no call within the run", False
        else:
            value = max(v for v in per_replica.values() if v is not None)
            seen = (f"every connection reached each new replica within {_s(value)}"
                    if exp.metric == REACH_ALL
                    else f"each new replica served calls within {_s(value)}")
            ok = budget is None or value <= budget
    elif exp.metric == FAIR:
        seen = ("shares never fair within the run" if fig.fair_s is None
                else f"shares fair after {_s(fig.fair_s)}")
        ok = fig.fair_s is not None and (budget is None or fig.fair_s <= budget)
    elif exp.metric == FAILED_CALLS:
        n = fig.failed_calls
        seen = (f"{n} failed call{'s' if n > 1 else ''} ({_codes(fig.failed)})" if fig.failed
                else "no failed call")
        ok = budget is None or fig.failed_calls <= budget
    else:  # RECOVERY
        if fig.recovery_s is None:
            seen = "a connection's calls still failed at the end of the run"
        elif fig.recovery_s == 0:
            seen = "no connection lost a call"
        else:
            seen = f"calls succeeded again on every connection after {_s(fig.recovery_s)}"
        ok = fig.recovery_s is not None and (budget is None or fig.recovery_s <= budget)
    if not exp.judged:
        return Check(exp, seen, "not judged")
    return Check(exp, seen, "pass" if ok else "fail")


def _promise(exp: Expectation) -> str:
    budget = "?" if exp.budget is None else f"{exp.budget:g}"
    return {
        REACH_ALL: f"every connection to reach each new replica within {budget} s",
        REACH_NEVER: "no connection to reach a new replica",
        SERVED: f"each new replica to serve within {budget} s",
        FAIR: f"fair shares within {budget} s",
        FAILED_CALLS: "no failed call" if exp.budget == 0 else f"at most {budget} failed calls",
        RECOVERY: f"calls to succeed again on every connection within {budget} s",
    }[exp.metric]


def judge(timeline: Mapping[str, Any], remedy: str, action: Action,
          budgets: Budgets | None = None,
          expected: Sequence[Expectation] | None = None) -> Judgement:
    """Hold the timeline's figures against the promises of ``remedy`` for ``action``.

    The line says what was seen (every check's figure), then "expected ..." and, when a promise
    is broken, "not met, <the first broken one>" as the probe's verdict summaries do.
    """
    b = budgets or Budgets()
    fig = measure(timeline, action, b.min_share, b.fair_window_s)
    if b.max_age_rotations is None:
        b = replace(b, max_age_rotations=rotations_needed(
            fig.connections, len(action.after), len(action.new), b.max_age_miss_chance))
    exps = list(expected) if expected is not None else expectations(remedy, action.name, b)
    checks = [_check(exp, fig) for exp in exps]
    broken = [c for c in checks if c.outcome == "fail"]
    head = f"{remedy} {action.name} at {action.at_s:.1f} s"
    seen = "; ".join(dict.fromkeys(c.seen for c in checks)) or "nothing to judge"
    if fig.failed_before:
        seen += f"; {fig.failed_before} calls failed before the action"
    line = f"{head}: {seen}"
    judged = [c for c in checks if c.outcome != "not judged"]
    if judged:
        line += "; expected " + ", ".join(_promise(c.expectation) for c in judged)
    unjudged = len(checks) - len(judged)
    if unjudged:
        line += f" ({unjudged} figure{'s' if unjudged > 1 else ''} not judged: no budget)"
    if broken:
        more = f" (+{len(broken) - 1} more)" if len(broken) > 1 else ""
        line += f": not met, {broken[0].seen}{more}"
    return Judgement(remedy, action.name, not broken, line, fig, checks)
