"""Churn expectations: each remedy's promise for each action, with budgets, and the judgement
that holds a run's figures against them in one line. Pure; see grpclab.churn."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from grpclab.churn.figures import (
    ACTIONS,
    FAILED_CALLS,
    FAIR,
    KEPT,
    REACH_ALL,
    REACH_NEVER,
    RECOVERY,
    REMEDIES,
    SERVED,
    SPREAD,
    Action,
    Figures,
    measure,
)
from grpclab.churn.proxyrestart import kept_seen, proxy_restart


@dataclass(frozen=True)
class Budgets:
    """The numbers the expectations hold figures against. Seconds unless named calls.

    A budget of None means no number is known for it: the figure is measured and shown, and the
    expectation is marked not judged rather than given a guessed number.
    """

    # cilium: every connection reaches each new replica within this long of its first call (the
    # replica's own start-up, 1.5-2 s on the lab, is not the balancer's to count)
    l7_reach_s: float = 2.0
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
    # proxy-restart: no call fails where the restarted proxy is not in the path (proxyrestart)
    proxy_failed_calls: int | None = 0
    l7_proxy_failed_calls: int | None = None  # cilium: the replaced Envoy drains; measured
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
            "remedy": self.remedy,
            "action": self.action,
            "passed": self.passed,
            "summary": self.line,
            "figures": {
                **asdict(fig),
                "new_replicas": list(fig.new_replicas),
                "all_reached_s": fig.all_reached_s,
                "all_served_s": fig.all_served_s,
                "failed_calls": fig.failed_calls,
            },
            "checks": [
                {
                    "metric": c.expectation.metric,
                    "budget": c.expectation.budget,
                    "judged": c.expectation.judged,
                    "why": c.expectation.why,
                    "seen": c.seen,
                    "outcome": c.outcome,
                }
                for c in self.checks
            ],
        }


# ---------------------------------------------------------------------------------------------
# figures


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
            expect(
                SPREAD,
                b.l7_reach_s,
                "Envoy balances each request: every connection "
                "reaches a new replica as soon as it is an endpoint",
            )
            expect(FAIR, b.l7_fair_s, "per request balancing evens the shares out")
        elif remedy in L4:
            expect(
                REACH_NEVER,
                None,
                "a connection is balanced once, when it opens: existing "
                "connections never reach a new replica",
            )
        elif remedy == "client-side":
            expect(
                REACH_NEVER,
                None,
                "gRPC re-resolves DNS only when a connection breaks: "
                "nothing breaks, so the new pods get nothing",
            )
        elif remedy == "client-side-max-age":
            expect(
                REACH_ALL,
                b.reconnect_s + b.resolve_s,
                "max age closes every connection "
                "within age + 10 % jitter + grace; the client re-resolves and round-robins "
                "over every pod",
            )
        else:  # max-age
            rotations = b.max_age_rotations
            expect(
                SERVED,
                None if rotations is None else rotations * b.reconnect_s,
                "each connection reconnects within age + 10 % jitter + grace and is "
                "balanced again, to one replica picked at random: a new replica is picked "
                f"within {rotations or 'a few'} reconnections of every connection",
            )
        expect(FAILED_CALLS, b.added_failed_calls, "adding replicas fails no call")
        return out
    if action == "proxy-restart":
        proxy_restart(remedy, b, expect)
        return out

    if action == "crash":
        expect(
            FAILED_CALLS,
            b.crash_failed_calls,
            "SIGKILL fails the calls in flight on that "
            "replica and those sent before the loss is seen: how many depends on the rate "
            "and the detection time, so it is recorded, not budgeted, unless a budget is given",
        )
    elif remedy == "cilium":
        expect(
            FAILED_CALLS,
            b.l7_graceful_failed_calls,
            "the server drains on SIGTERM, but "
            "Cilium's Envoy has a reported loss during rolling updates (cilium/cilium#34991): "
            "measured, not assumed zero, unless a budget is given",
        )
    else:
        expect(
            FAILED_CALLS,
            b.graceful_failed_calls,
            "the server drains on SIGTERM (GOAWAY, "
            "calls in flight finish), but SIGTERM races the endpoint's removal: a connection "
            "the drain closes can reconnect to the terminating pod and fail until gRPC's "
            "reconnect back-off ends (the lab shows 0 to ~100 calls at 200 calls/s): "
            "measured, not promised, unless a budget is given",
        )
    if remedy.startswith("client-side"):
        expect(
            RECOVERY,
            b.recovery_s + b.resolve_s,
            "calls succeed again on every connection "
            "once gRPC re-resolves DNS: when every address it knows is gone (a rollout), not "
            "before its minimum time between resolutions",
        )
    else:
        expect(RECOVERY, b.recovery_s, "calls succeed again on every connection")
    if action == "delete-pod" and remedy == "cilium":
        expect(
            REACH_ALL,
            b.l7_replace_s,
            "Envoy sends requests to the replacement pod as soon "
            "as it is an endpoint (it starts after the delete: start and readiness count)",
        )
    return out


def rotations_needed(connections: int, replicas: int, new: int, miss_chance: float = 0.001) -> int:
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
        seen = (
            "no connection reached a new replica"
            if not reached
            else "; ".join(
                f"{n} of {fig.connections} connections reached {name}"
                for name, n in reached.items()
            )
        )
        ok = not reached
    elif exp.metric in (REACH_ALL, SPREAD, SERVED):
        per_replica = {REACH_ALL: fig.reach_s, SPREAD: fig.spread_s, SERVED: fig.served_s}[
            exp.metric
        ]
        missing = [name for name, value in per_replica.items() if value is None]
        if not fig.new_replicas:
            seen, ok = "no new replica", False
        elif missing and exp.metric in (REACH_ALL, SPREAD):
            seen = (
                "not every connection reached the new replicas within the run ("
                + ", ".join(
                    f"{name} by {fig.reached_by[name]} of {fig.connections}" for name in missing
                )
                + ")"
            )
            ok = False
        elif missing:
            seen, ok = f"{', '.join(missing)} served no call within the run", False
        else:
            value = max(v for v in per_replica.values() if v is not None)
            seen = {
                REACH_ALL: f"every connection reached each new replica within {_s(value)}",
                SPREAD: f"every connection reached each new replica within {_s(value)} of its "
                "first call",
                SERVED: f"each new replica served calls within {_s(value)}",
            }[exp.metric]
            ok = budget is None or value <= budget
    elif exp.metric == FAIR:
        seen = (
            "shares never fair within the run"
            if fig.fair_s is None
            else f"shares fair after {_s(fig.fair_s)}"
        )
        ok = fig.fair_s is not None and (budget is None or fig.fair_s <= budget)
    elif exp.metric == KEPT:
        seen, ok = kept_seen(fig, budget)
    elif exp.metric == FAILED_CALLS:
        n = fig.failed_calls
        seen = (
            f"{n} failed call{'s' if n > 1 else ''} ({_codes(fig.failed)})"
            if fig.failed
            else "no failed call"
        )
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
        SPREAD: f"every connection to reach each new replica within {budget} s of its first call",
        REACH_NEVER: "no connection to reach a new replica",
        SERVED: f"each new replica to serve within {budget} s",
        FAIR: f"fair shares within {budget} s",
        FAILED_CALLS: "no failed call" if exp.budget == 0 else f"at most {budget} failed calls",
        RECOVERY: f"calls to succeed again on every connection within {budget} s",
        KEPT: "every connection to keep its replica",
    }[exp.metric]


def judge(
    timeline: Mapping[str, Any],
    remedy: str,
    action: Action,
    budgets: Budgets | None = None,
    expected: Sequence[Expectation] | None = None,
) -> Judgement:
    """Hold the timeline's figures against the promises of ``remedy`` for ``action``.

    The line says what was seen (every check's figure), then "expected ..." and, when a promise
    is broken, "not met, <the first broken one>" as the probe's verdict summaries do.
    """
    b = budgets or Budgets()
    fig = measure(timeline, action, b.min_share, b.fair_window_s)
    if b.max_age_rotations is None:
        b = replace(
            b,
            max_age_rotations=rotations_needed(
                fig.connections, len(action.after), len(action.new), b.max_age_miss_chance
            ),
        )
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
