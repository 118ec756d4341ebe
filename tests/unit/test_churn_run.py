"""A churn run as the grpc_probe role judges it (grpclab.churn.run, grpclab.churn.rotation), and the
collection filters that call it, on synthetic timelines in the probe's shape."""

from __future__ import annotations

import pytest
from test_churn import AFTER, BEFORE, per_request, pinned, rotating, timeline

from grpclab.churn import rotation
from grpclab.churn import run as churnrun


def result_of(tl: dict) -> dict:
    return {
        "schema": "grpclab.probe/v2",
        "expect": "none",
        "passed": True,
        "summary": "x",
        "observed": "pinned",
        "timeline": tl,
    }


def test_rotating_passes_a_max_age_run_and_fails_pinned_and_per_request():
    ok, line = rotation.verdict(timeline(rotating(2.0, 100.0)))
    assert ok, line
    assert line.startswith("rotating: 4 of 4 connections moved replica")
    ok, line = rotation.verdict(timeline(pinned))
    assert not ok and "expected at least 2 connections to move replica" in line
    assert "0 of 4 connections moved" in line
    ok, line = rotation.verdict(timeline(per_request(100.0)))
    assert not ok and "stickiness at least 0.9" in line


def test_rotating_counts_failed_calls_against_the_error_rate():
    def failing(t: float, conn: int, k: int) -> str:
        return "UNAVAILABLE" if conn == 0 and k == 5 else rotating(2.0, 100.0)(t, conn, k)

    ok, line = rotation.verdict(timeline(failing))
    assert not ok and "1 of 400 calls failed" in line and "at most 0.0% failed calls" in line
    assert rotation.verdict(timeline(failing), max_error_rate=0.01)[0]


def test_verdict_result_replaces_the_probes_verdict():
    judged = churnrun.verdict_result(result_of(timeline(rotating(2.0, 100.0))))
    assert judged["expect"] == "rotating" and judged["observed"] == "rotating"
    assert judged["passed"] is True and judged["summary"].startswith("rotating:")
    pinned_run = churnrun.verdict_result(result_of(timeline(pinned)))
    assert pinned_run["observed"] == "pinned" and pinned_run["passed"] is False


def test_judge_result_takes_the_action_time_from_the_clock_and_the_run_start():
    tl = timeline(per_request(3.2))
    judged = churnrun.judge_result(
        result_of(tl), "cilium", "scale-out", tl["start_unix"] + 3.0, BEFORE, AFTER
    )
    churn = judged["churn"]
    assert churn["at_s"] == 3.0 and churn["remedy"] == "cilium"
    assert churn["action"] == "scale-out" and churn["after"] == sorted(AFTER)
    assert judged["passed"] is True and judged["summary"].startswith("cilium scale-out at 3.0 s")
    assert churn["figures"]["new_replicas"] == ["r4", "r5"]
    # the same run judged as baseline breaks its promise, in one line
    broken = churnrun.judge_result(
        result_of(tl), "baseline", "scale-out", tl["start_unix"] + 3.0, BEFORE, AFTER
    )
    assert broken["passed"] is False
    assert ": not met, 4 of 4 connections reached" in broken["summary"]


def test_budgets_come_from_role_variables_and_unknown_ones_are_refused():
    budgets = churnrun.budgets_of({"max_age_s": 3, "max_age_grace_s": 1})
    assert budgets.reconnect_s == pytest.approx(4.3)
    with pytest.raises(ValueError, match="unknown churn budget max_age"):
        churnrun.budgets_of({"max_age": 3})


def test_a_result_without_timeline_is_one_clear_error():
    with pytest.raises(ValueError, match="no timeline"):
        churnrun.judge_result({"passed": True}, "cilium", "scale-out", 0.0, BEFORE, AFTER)
    with pytest.raises(ValueError, match="over time"):
        churnrun.verdict_result({"passed": True})
