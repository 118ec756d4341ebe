"""One churn run as a playbook takes it: the probe's result, the action's wall-clock time and the
pods before and after, turned into a judgement (grpclab.churn) kept with the result.

The grpc_probe role calls ``judge_result`` through the collection's filter
``grpclab.lab.probe_verdict``; ``verdict_result`` does the same for the ``rotating`` promise
(grpclab.churn.rotation). Pure: the caller gives the times and the pod names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

from grpclab.churn import rotation
from grpclab.churn.expectations import Budgets, judge
from grpclab.churn.figures import Action


def budgets_of(values: Mapping[str, Any] | None) -> Budgets:
    """Budgets from a mapping of field names (role variables); unknown names are refused."""
    known = {f.name for f in fields(Budgets)}
    unknown = sorted(set(values or {}) - known)
    if unknown:
        raise ValueError(
            f"unknown churn budget {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return Budgets(**dict(values or {}))


def action_of(
    result: Mapping[str, Any],
    name: str,
    at_unix: float,
    before: Iterable[str],
    after: Iterable[str],
    restarted: Iterable[str] = (),
) -> Action:
    timeline = result.get("timeline")
    if not timeline:
        raise ValueError("the probe's result has no timeline: run it with --duration and --rate")
    return Action(
        name=name,
        at_s=round(float(at_unix) - float(timeline["start_unix"]), 3),
        before=frozenset(before),
        after=frozenset(after),
        restarted=frozenset(restarted),
    )


def judge_result(
    result: Mapping[str, Any],
    remedy: str,
    action: str,
    at_unix: float,
    before: Iterable[str],
    after: Iterable[str],
    restarted: Iterable[str] = (),
    budgets: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The result with ``churn`` (the judgement's JSON plus the action's times) and its verdict
    (``passed``, ``summary``) replaced by the judgement's."""
    act = action_of(result, action, at_unix, before, after, restarted)
    judgement = judge(result["timeline"], remedy, act, budgets_of(budgets))
    record = {
        **judgement.to_json(),
        "at_s": act.at_s,
        "at_unix": float(at_unix),
        "before": sorted(act.before),
        "after": sorted(act.after),
        "restarted": sorted(act.restarted),
    }
    return {**result, "churn": record, "passed": judgement.passed, "summary": judgement.line}


def verdict_result(result: Mapping[str, Any], max_error_rate: float = 0.0) -> dict[str, Any]:
    """The result judged ``rotating`` (its own verdict, taken with --expect none, replaced)."""
    timeline = result.get("timeline")
    if not timeline:
        raise ValueError("rotating is judged over time: run the probe with --duration and --rate")
    passed, line = rotation.verdict(timeline, max_error_rate=max_error_rate)
    fig = rotation.measure(timeline)
    observed = (
        "rotating"
        if passed
        else "pinned"
        if fig.moved == 0
        else "spread"
        if fig.stickiness < rotation.MIN_STICKINESS
        else "mixed"
    )
    return {**result, "expect": "rotating", "observed": observed, "passed": passed, "summary": line}
