"""Judgement over time, on synthetic timelines in the probe's timeline shape
(tests/support/churn_timelines.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from churn_timelines import AFTER, BEFORE, per_request, pinned, rotating, scale_out, timeline

from grpclab.churn import (
    ACTIONS,
    FAILED_CALLS,
    REACH_ALL,
    REACH_NEVER,
    RECOVERY,
    REMEDIES,
    SERVED,
    SPREAD,
    Action,
    Budgets,
    expectations,
    fair_since,
    judge,
    matrix,
    measure,
    recovery_time,
    rotations_needed,
)

# --- figures ----------------------------------------------------------------------------------


def test_per_request_balancing_reaches_new_replicas_within_half_a_second():
    figures = measure(timeline(per_request(ready_at=3.5)), scale_out())
    assert figures.new_replicas == ("r4", "r5")
    assert figures.reached_by == {"r4": 4, "r5": 4}
    # 10 calls/s per connection, five replicas in turn: all reached by 0.5 s + 5 calls
    assert 0.5 <= figures.all_reached_s <= 1.0
    assert 0.5 <= figures.served_s["r4"] <= 0.7
    assert figures.fair_s is not None and figures.fair_s <= 1.0
    assert figures.failed == {} and figures.recovery_s == 0.0
    assert figures.connections == 4 and figures.calls == 400


def test_the_spread_counts_from_a_new_replicas_first_call_not_from_the_action():
    # the new replicas start slowly (ready 3 s after the action at 3 s), then Envoy spreads at once
    slow = measure(timeline(per_request(ready_at=6.0)), scale_out())
    assert slow.all_reached_s >= 3.0
    assert all(0 <= value <= 1.0 for value in slow.spread_s.values()), slow.spread_s
    verdict = judge(timeline(per_request(ready_at=6.0)), "cilium", scale_out())
    assert [c.outcome for c in verdict.checks if c.expectation.metric == SPREAD] == ["pass"]


def test_pinned_connections_never_reach_new_replicas():
    figures = measure(timeline(pinned), scale_out())
    assert figures.reached_by == {"r4": 0, "r5": 0}
    assert figures.reach_s == {"r4": None, "r5": None}
    assert figures.all_reached_s is None and figures.all_served_s is None
    assert figures.fair_s is None  # r4 and r5 get nothing: never fair


def test_fair_since_waits_until_the_shares_stay_fair():
    line = timeline(per_request(ready_at=6.0))
    # r4, r5 join at 6 s: windows from 6 on are fair; the one at 5 (seconds 5 and 6) gives them
    # half their fair share: fair at min_share 0.5, not at 0.75
    assert fair_since(line, AFTER, 3.0) == 2.0
    assert fair_since(line, AFTER, 3.0, min_share=0.75) == 3.0
    # r4 and r5 take shares from 6 s on: r1..r3 get 3/5 of their fair share of the calls
    assert fair_since(line, BEFORE, 0.0, min_share=0.75) is None
    assert fair_since(line, AFTER, 0.0, min_share=0.5, window_s=1) == 6.0


def test_recovery_is_the_first_success_after_each_connections_last_failure():
    def pick(t: float, conn: int, k: int) -> str:
        if conn == 1 and 3.0 <= t < 3.6:
            return "UNAVAILABLE"
        return BEFORE[conn % 3] if not (conn == 1 and t >= 3.0) else "r3"

    line = timeline(pick)
    assert recovery_time(line, 3.0) == pytest.approx(0.625)  # conn 1's calls: every 0.1 s
    assert recovery_time(line, 5.0) == 0.0
    never = timeline(lambda t, c, k: "UNAVAILABLE" if c == 0 and t >= 9 else "r1")
    assert recovery_time(never, 8.0) is None


def test_failures_are_counted_by_code_from_the_action_on():
    def pick(t: float, conn: int, k: int) -> str:
        if 1.0 <= t < 1.1:
            return "DEADLINE_EXCEEDED"
        if conn == 2 and 4.0 <= t < 4.5:
            return "UNAVAILABLE"
        return "r1"

    figures = measure(
        timeline(pick),
        Action("crash", 4.0, frozenset(BEFORE), frozenset(BEFORE), restarted=frozenset({"r1"})),
    )
    assert figures.failed == {"UNAVAILABLE": 5}
    assert figures.failed_before == 4
    assert figures.new_replicas == ()


# --- expectations -----------------------------------------------------------------------------


def test_every_remedy_and_action_has_expectations_with_a_failed_calls_figure():
    table = matrix()
    assert set(table) == {(r, a) for r in REMEDIES for a in ACTIONS}
    for (remedy, action), exps in table.items():
        assert FAILED_CALLS in [e.metric for e in exps], (remedy, action)
        if action != "scale-out":
            assert RECOVERY in [e.metric for e in exps], (remedy, action)


def test_the_promises_for_a_scale_out_differ_per_remedy():
    b = Budgets(max_age_s=30, max_age_grace_s=5, resolve_s=2, l7_reach_s=2)
    metric = {r: {e.metric: e.budget for e in expectations(r, "scale-out", b)} for r in REMEDIES}
    assert metric["cilium"][SPREAD] == 2
    assert REACH_NEVER in metric["baseline"] and REACH_NEVER in metric["cilium-l4"]
    assert REACH_NEVER in metric["client-side"]
    assert metric["client-side-max-age"][REACH_ALL] == pytest.approx(30 * 1.1 + 5 + 2)
    assert metric["max-age"][SERVED] is None  # sized from the run by judge()
    sized = replace(b, max_age_rotations=3)
    assert expectations("max-age", "scale-out", sized)[0].budget == pytest.approx(3 * 38)


def test_max_age_rotations_are_sized_so_that_chance_alone_rarely_misses():
    # 4 connections, 5 replicas, 2 new: one round misses a given replica with (4/5)^4 = 0.41
    assert rotations_needed(4, 5, 2) == 9  # 2 * 0.41^9 < 0.001 < 2 * 0.41^8
    assert rotations_needed(4, 5, 2, miss_chance=0.1) == 4
    assert rotations_needed(16, 3, 1) == 2  # (2/3)^16 = 0.0015
    assert rotations_needed(32, 3, 1) == 1
    assert rotations_needed(4, 3, 0) == 1


def test_unknown_numbers_are_not_judged_rather_than_guessed():
    crash = {e.metric: e for e in expectations("baseline", "crash")}
    assert crash[FAILED_CALLS].budget is None and not crash[FAILED_CALLS].judged
    rollout = {e.metric: e for e in expectations("cilium", "rollout-restart")}
    assert not rollout[FAILED_CALLS].judged
    assert "cilium/cilium#34991" in rollout[FAILED_CALLS].why
    given = {
        e.metric: e
        for e in expectations("cilium", "rollout-restart", Budgets(l7_graceful_failed_calls=3))
    }
    assert given[FAILED_CALLS].judged and given[FAILED_CALLS].budget == 3


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="action must be one of"):
        Action("reboot", 1.0, frozenset(), frozenset())
    with pytest.raises(ValueError, match="remedy must be one of"):
        expectations("istio", "scale-out")


# --- judgement --------------------------------------------------------------------------------


def test_cilium_scale_out_passes_with_one_line_of_figures():
    verdict = judge(timeline(per_request(ready_at=3.5)), "cilium", scale_out())
    assert verdict.passed, verdict.line
    assert verdict.line.startswith(
        "cilium scale-out at 3.0 s: every connection reached each new replica within 0."
    )
    assert "of its first call" in verdict.line
    assert (
        "; expected every connection to reach each new replica within 2 s of its first call"
        in verdict.line
    )
    assert "\n" not in verdict.line
    assert [c.outcome for c in verdict.checks] == ["pass", "pass", "pass"]


def test_cilium_without_l7_fails_with_what_was_seen():
    verdict = judge(timeline(pinned), "cilium", scale_out())
    assert not verdict.passed
    assert verdict.line.endswith(
        ": not met, not every connection reached the new replicas within the run "
        "(r4 by 0 of 4, r5 by 0 of 4) (+1 more)"
    )


def test_l7_too_slow_for_the_budget_fails():
    # the new replicas serve connection 0 from 3.5 s, the others only 3 s later
    fast = per_request(ready_at=3.5)
    slow = per_request(ready_at=6.5)

    def pick(t: float, conn: int, k: int) -> str:
        return fast(t, conn, k) if conn == 0 else slow(t, conn, k)

    verdict = judge(timeline(pick), "cilium", scale_out())
    assert not verdict.passed
    assert "not met, every connection reached each new replica within 2.9 s" in verdict.line
    assert "of its first call" in verdict.line


def test_baseline_scale_out_passes_when_pinned_and_fails_when_a_connection_moves():
    assert judge(timeline(pinned), "baseline", scale_out()).passed

    def one_moves(t: float, conn: int, k: int) -> str:
        return "r4" if conn == 0 and t > 5 else pinned(t, conn, k)

    verdict = judge(timeline(one_moves), "baseline", scale_out())
    assert not verdict.passed
    assert verdict.line.endswith("not met, 1 of 4 connections reached r4")


def test_max_age_rotation_serves_the_new_replicas_and_age_zero_does_not():
    budgets = Budgets(max_age_s=1.0, max_age_grace_s=0.5)
    verdict = judge(timeline(rotating(1.0, ready_at=3.2)), "max-age", scale_out(), budgets)
    assert verdict.passed, verdict.line
    assert "each new replica served calls within" in verdict.line
    broken = judge(timeline(pinned), "max-age", scale_out(), budgets)
    assert not broken.passed
    assert "not met, r4, r5 served no call within the run" in broken.line


def test_client_side_with_max_age_reaches_them_within_age_and_grace():
    budgets = Budgets(max_age_s=2.0, max_age_grace_s=0.5)

    def reresolved(t: float, conn: int, k: int) -> str:
        # every channel reconnects (and re-resolves) within 2.7 s of the action
        return per_request(ready_at=3.0 + 0.5 * (conn + 1))(t, conn, k)

    assert judge(timeline(reresolved), "client-side-max-age", scale_out(), budgets).passed
    assert judge(timeline(pinned), "client-side", scale_out()).passed
    assert not judge(timeline(reresolved), "client-side", scale_out()).passed


def test_delete_pod_failures_break_the_graceful_budget():
    def pick(t: float, conn: int, k: int) -> str:
        if conn == 1 and t >= 3.0:
            return "UNAVAILABLE" if t < 3.4 else "r3"
        return pinned(t, conn, k)

    action = Action("delete-pod", 3.0, frozenset(BEFORE), frozenset({"r1", "r3", "r6"}))
    assert not {e.metric: e for e in expectations("baseline", "delete-pod")}[FAILED_CALLS].judged
    verdict = judge(timeline(pick), "baseline", action, Budgets(graceful_failed_calls=0))
    assert not verdict.passed
    assert verdict.line.endswith("not met, 4 failed calls (UNAVAILABLE 4)")
    assert "calls succeeded again on every connection after 0.42 s" in verdict.line
    graceful = judge(timeline(pinned), "baseline", action, Budgets(graceful_failed_calls=0))
    assert graceful.passed and "no failed call; no connection lost a call" in graceful.line


def test_a_crash_records_its_failures_and_judges_recovery():
    def pick(t: float, conn: int, k: int) -> str:
        return "UNAVAILABLE" if conn == 0 and 3.0 <= t < 3.5 else pinned(t, conn, k)

    action = Action("crash", 3.0, frozenset(BEFORE), frozenset(BEFORE), frozenset({"r1"}))
    verdict = judge(timeline(pick), "cilium-l4", action)
    assert verdict.passed, verdict.line
    assert "5 failed calls (UNAVAILABLE 5)" in verdict.line
    assert "(1 figure not judged: no budget)" in verdict.line
    slow = judge(timeline(pick), "cilium-l4", action, Budgets(recovery_s=0.2))
    assert not slow.passed
    assert slow.line.endswith("not met, calls succeeded again on every connection after 0.50 s")


def test_rollout_on_cilium_is_held_to_its_failed_call_budget_when_given():
    def pick(t: float, conn: int, k: int) -> str:
        if conn == 3 and 4.0 <= t < 4.3:
            return "UNAVAILABLE"
        return per_request(ready_at=0.0)(t, conn, k)

    action = Action("rollout-restart", 3.0, frozenset(AFTER), frozenset({"n1", "n2", "n3"}))
    assert judge(timeline(pick), "cilium", action).passed
    verdict = judge(timeline(pick), "cilium", action, Budgets(l7_graceful_failed_calls=2))
    assert not verdict.passed
    assert "at most 2 failed calls" in verdict.line
    assert verdict.line.endswith("not met, 3 failed calls (UNAVAILABLE 3)")


def test_a_connection_still_failing_at_the_end_never_recovers():
    def pick(t: float, conn: int, k: int) -> str:
        return "UNAVAILABLE" if conn == 2 and t >= 7.0 else pinned(t, conn, k)

    action = Action("scale-in", 7.0, frozenset(BEFORE), frozenset({"r1", "r2"}))
    verdict = judge(timeline(pick), "client-side", action)
    assert not verdict.passed
    assert verdict.figures.recovery_s is None
    assert "a connection's calls still failed at the end of the run" in verdict.line
    assert verdict.line.endswith("not met, a connection's calls still failed at the end of the run")
    budgeted = judge(timeline(pick), "client-side", action, Budgets(graceful_failed_calls=0))
    assert budgeted.line.endswith("not met, 30 failed calls (UNAVAILABLE 30) (+1 more)")


def test_fair_windows_start_after_the_action_and_ties_in_time_sort():
    line = timeline(per_request(ready_at=3.5))
    assert fair_since(line, AFTER, 3.5) == pytest.approx(0.5)  # the first window starts at 4
    line["calls"].insert(0, [0.0, 0, None, "UNAVAILABLE", None])  # same time and connection
    assert measure(line, scale_out()).failed_before == 1


def test_a_judgement_goes_into_json_as_it_is():
    import json

    verdict = judge(timeline(pinned), "cilium", scale_out())
    doc = json.loads(json.dumps(verdict.to_json()))
    assert doc["passed"] is False and doc["summary"] == verdict.line
    assert doc["figures"]["new_replicas"] == ["r4", "r5"]
    assert doc["figures"]["all_reached_s"] is None and doc["figures"]["failed_calls"] == 0
    assert [(c["metric"], c["outcome"]) for c in doc["checks"]] == [
        (SPREAD, "fail"),
        ("fair", "fail"),
        (FAILED_CALLS, "pass"),
    ]
