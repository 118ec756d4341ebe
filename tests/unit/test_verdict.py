"""The verdict and its statistics on synthetic tallies: every rule and edge case, no network."""

from __future__ import annotations

import math

import pytest

from grpclab.probe.model import (
    FAILED,
    MIXED,
    PINNED,
    SPREAD,
    UNIDENTIFIED,
    Expectation,
    Tally,
)
from grpclab.probe.stats import jain_index, latency_ms, miss_chance, percentile
from grpclab.probe.verdict import judge, observed_pattern


def tally(
    replicas: dict[str, int], failures: dict[str, int] | None = None, latency_s: float = 0.001
) -> Tally:
    return Tally(
        replicas=dict(replicas),
        failures=dict(failures or {}),
        latencies_s=[latency_s] * sum(replicas.values()),
    )


EVEN = {"a": 34, "b": 33, "c": 33}
L7 = [tally(EVEN) for _ in range(4)]  # per request: every connection reaches every replica
L4 = [tally({"a": 100}), tally({"b": 100}), tally({"a": 100}), tally({"c": 100})]


def spread(replicas: int | None = 3, **kw: float) -> Expectation:
    return Expectation(expect=SPREAD, replicas=replicas, **kw)


def pinned(replicas: int | None = 3, **kw: float) -> Expectation:
    return Expectation(expect=PINNED, replicas=replicas, **kw)


# ---------------------------------------------------------------------------- the two paths


def test_per_request_balancing_is_spread_with_equal_shares():
    verdict = judge(L7, spread())
    assert verdict.observed == SPREAD and verdict.passed
    assert [r.name for r in verdict.replicas] == ["a", "b", "c"]
    assert [r.calls for r in verdict.replicas] == [136, 132, 132]
    assert sum(r.share for r in verdict.replicas) == pytest.approx(1.0, abs=1e-3)
    assert all(r.connections == 4 for r in verdict.replicas)
    assert verdict.jain_index > 0.999
    assert verdict.summary == (
        "each of 4 connections reached all 3 replicas (shares 0.34/0.33/0.33); expected spread"
    )
    assert verdict.reasons == []


def test_per_request_balancing_fails_pinned_and_says_which_connection():
    verdict = judge(L7, pinned())
    assert verdict.observed == SPREAD and not verdict.passed
    assert verdict.reasons[0].startswith(
        "4 of 4 connections reached more than one replica: connection 0 reached a 34, b 33, c 33"
    )
    assert "expected pinned: not met, 4 of 4 connections" in verdict.summary


def test_per_connection_balancing_is_pinned():
    verdict = judge(L4, pinned())
    assert verdict.observed == PINNED and verdict.passed
    assert [c.replicas for c in verdict.connections] == [
        {"a": 100},
        {"b": 100},
        {"a": 100},
        {"c": 100},
    ]
    assert verdict.summary.startswith(
        "each of 4 connections stayed on 1 replica (3 of 3 replicas used: a 200, b 100, c 100)"
    )


def test_per_connection_balancing_fails_spread():
    verdict = judge(L4, spread())
    assert not verdict.passed
    assert "connection 0 reached 1 of 3 (missing b, c)" in verdict.reasons[0]


def test_every_connection_on_the_same_replica_reads_as_in_the_design():
    verdict = judge([tally({"a": 100}) for _ in range(4)], spread())
    assert verdict.observed == PINNED and not verdict.passed
    assert verdict.summary.startswith(
        "1 of 3 replicas served all 400 calls on each of 4 "
        "connections; expected spread: not met, 4 of 4 "
        "connections did not reach every replica"
    )
    assert "only 1 of 3 expected replicas answered" in verdict.reasons
    assert judge([tally({"a": 100}) for _ in range(4)], pinned()).passed


# ---------------------------------------------------------------------------- edge cases


def test_a_replica_missing_from_one_connection_is_mixed_and_not_spread():
    tallies = [tally({"a": 50, "b": 50}), tally(EVEN), tally(EVEN)]
    verdict = judge(tallies, spread())
    assert verdict.observed == MIXED and not verdict.passed
    assert (
        "1 of 3 connections did not reach every replica: connection 0 reached 2 of 3 "
        "(missing c)" in verdict.reasons[0]
    )
    assert verdict.summary.startswith("connections reached 2 to 3 of 3 replicas (2 of 3 reached")
    assert not judge(tallies, pinned()).passed


def test_a_zero_count_is_not_a_replica_reached():
    tallies = [tally({"a": 50, "b": 50, "c": 0}), tally(EVEN)]
    verdict = judge(tallies, spread())
    assert verdict.connections[0].replicas == {"a": 50, "b": 50}
    assert verdict.observed == MIXED


def test_one_failed_call_fails_the_default_error_rate_and_is_counted_by_code():
    tallies = [tally(EVEN), tally(EVEN, {"UNAVAILABLE": 1})]
    verdict = judge(tallies, spread())
    assert verdict.observed == SPREAD and not verdict.passed
    assert verdict.failures == {"UNAVAILABLE": 1}
    assert verdict.totals.calls == 201 and verdict.totals.ok == 200 and verdict.totals.failed == 1
    assert verdict.connections[1].failed == 1 and verdict.connections[1].calls == 101
    assert verdict.reasons == ["error rate 0.005 (1 of 201 calls) above --max-error-rate 0"]
    assert "; 1 of 201 calls failed (UNAVAILABLE 1); expected spread" in verdict.summary


def test_failures_within_max_error_rate_pass():
    tallies = [tally(EVEN), tally(EVEN, {"UNAVAILABLE": 1, "DEADLINE_EXCEEDED": 2})]
    verdict = judge(tallies, spread(max_error_rate=0.05))
    assert verdict.passed
    assert verdict.failures == {"DEADLINE_EXCEEDED": 2, "UNAVAILABLE": 1}  # sorted by code
    assert judge([tally({"a": 99}, {"UNAVAILABLE": 1})], pinned(max_error_rate=0.01)).passed


def test_error_rate_applies_to_pinned_too():
    verdict = judge([tally({"a": 99}, {"UNAVAILABLE": 1})], pinned())
    assert not verdict.passed and verdict.reasons[0].startswith("error rate 0.010")


def test_a_tiny_share_fails_spread_even_when_every_connection_reached_it():
    tallies = [tally({"a": 49, "b": 49, "c": 2}) for _ in range(2)]
    verdict = judge(tallies, spread())
    assert verdict.observed == SPREAD and not verdict.passed
    assert verdict.reasons == ["share below 0.5 x fair share 0.333 = 0.167: c 0.020"]
    assert judge(tallies, spread(min_share=0.0)).passed
    assert verdict.jain_index < 0.75


def test_min_share_is_a_fraction_of_the_fair_share():
    tallies = [tally({"a": 60, "b": 40})]
    assert judge(tallies, spread(replicas=2, min_share=0.8)).passed  # 0.40 >= 0.8 x 0.5
    assert not judge(tallies, spread(replicas=2, min_share=0.81)).passed


def test_a_single_connection_can_show_spread():
    verdict = judge([tally(EVEN)], spread())
    assert verdict.passed
    assert verdict.summary.startswith("the only connection reached all 3 replicas")


def test_a_single_connection_pinned_is_warned_about():
    verdict = judge([tally({"a": 100})], pinned())
    assert verdict.passed
    assert any("only one connection" in w for w in verdict.warnings)
    assert verdict.summary.startswith("1 of 3 replicas served all 100 calls on the only connection")


def test_one_replica_expected_says_pinned_and_spread_look_the_same():
    tallies = [tally({"a": 100}) for _ in range(4)]
    for expectation in (spread(replicas=1), pinned(replicas=1)):
        verdict = judge(tallies, expectation)
        assert verdict.passed
        assert "pinned and spread look the same" in verdict.summary
        assert any("cannot be told apart" in w for w in verdict.warnings)


def test_one_replica_seen_without_replicas_cannot_show_spread():
    tallies = [tally({"a": 100}) for _ in range(4)]
    verdict = judge(tallies, spread(replicas=None))
    assert not verdict.passed
    assert "pass --replicas 1" in verdict.reasons[0]
    assert judge(tallies, pinned(replicas=None)).passed


def test_zero_successful_calls_is_failed():
    tallies = [tally({}, {"UNAVAILABLE": 100}) for _ in range(4)]
    for expectation in (spread(), pinned()):
        verdict = judge(tallies, expectation)
        assert verdict.observed == FAILED and not verdict.passed
        assert verdict.reasons == ["no call succeeded (UNAVAILABLE 400)"]
        assert verdict.summary.startswith(
            "no call succeeded on any of 4 connections; 400 of 400 calls failed (UNAVAILABLE 400)"
        )
    verdict = judge(tallies, Expectation())
    assert verdict.passed  # none always passes, and still reports
    assert verdict.jain_index is None and verdict.latency_ms.p50 is None
    assert verdict.replicas == []


def test_a_connection_without_a_successful_call_fails_both_verdicts():
    tallies = [tally(EVEN), tally({}, {"UNAVAILABLE": 10})]
    for expectation in (spread(max_error_rate=1.0), pinned(max_error_rate=1.0)):
        verdict = judge(tallies, expectation)
        assert not verdict.passed
        assert "1 connection had no successful call (1)" in verdict.reasons
        assert not any("by chance" in w for w in verdict.warnings)  # not "use more --calls"
    # the pattern is judged on the connections that got answers
    assert observed_pattern(tallies) == SPREAD


def test_more_replicas_expected_than_seen():
    verdict = judge(L7, spread(replicas=4))
    assert not verdict.passed
    assert verdict.reasons[0].endswith(
        "connection 0 reached 3 of 4 (missing 1 replica that never answered)"
    )
    assert "only 3 of 4 expected replicas answered" in verdict.reasons
    assert verdict.summary.startswith("each of 4 connections reached 3 of 4 replicas")
    # the missing replica counts as a zero in the fairness index
    assert verdict.jain_index == pytest.approx(0.75, abs=0.01)
    assert verdict.expected_replicas == 4 and not verdict.replicas_assumed


def test_more_replicas_seen_than_expected():
    verdict = judge(L7, spread(replicas=2))
    assert not verdict.passed
    assert verdict.reasons[0] == "3 replicas answered but 2 were expected"
    assert any("saw 3 distinct replicas but 2 were expected" in w for w in verdict.warnings)


def test_replicas_absent_means_the_ones_seen_with_a_warning():
    verdict = judge(L7, spread(replicas=None))
    assert verdict.passed
    assert verdict.expected_replicas == 3 and verdict.replicas_assumed
    assert verdict.warnings[0].startswith("--replicas not given: expecting the 3 replicas seen")


def test_expect_none_always_passes_but_reports():
    verdict = judge(L4, Expectation())
    assert verdict.passed and verdict.observed == PINNED and verdict.reasons == []
    assert verdict.summary.endswith("; no expectation")


def test_unidentified_replies_are_failures_with_a_warning():
    verdict = judge([tally(EVEN, {UNIDENTIFIED: 2})], spread(max_error_rate=0.1))
    assert verdict.passed and verdict.failures == {UNIDENTIFIED: 2}
    assert any("2 replies named no replica" in w for w in verdict.warnings)


def test_many_replicas_summarise_shares_as_a_range():
    replicas = {f"r{i:02d}": 10 + i for i in range(10)}
    verdict = judge([tally(replicas)], spread(replicas=10))
    assert "shares 0.07 to 0.13" in verdict.summary


def test_summary_is_one_line_and_the_dict_is_json_ready():
    import json

    for tallies in (L7, L4, [tally({}, {"UNAVAILABLE": 1})]):
        verdict = judge(tallies, spread())
        assert "\n" not in verdict.summary
        as_dict = verdict.to_dict()
        assert json.loads(json.dumps(as_dict)) == as_dict


def test_merge_adds_worker_tallies_of_one_connection():
    merged = tally({"a": 1}, {"UNAVAILABLE": 1})
    merged.merge(tally({"a": 2, "b": 1}, {"UNAVAILABLE": 2, "INTERNAL": 1}))
    assert merged.replicas == {"a": 3, "b": 1}
    assert merged.failures == {"UNAVAILABLE": 3, "INTERNAL": 1}
    assert merged.ok == 4 and merged.failed == 4 and merged.calls == 8
    assert len(merged.latencies_s) == 4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"expect": "sideways"},
        {"replicas": 0},
        {"min_share": 1.5},
        {"min_share": -0.1},
        {"max_error_rate": 2.0},
        {"min_share": math.nan},
    ],
)
def test_expectation_refuses_bad_values(kwargs):
    with pytest.raises(ValueError):
        Expectation(**kwargs)


# ---------------------------------------------------------------------------- statistics


def test_jain_index():
    assert jain_index([5, 5, 5]) == pytest.approx(1.0)
    assert jain_index([9, 0, 0]) == pytest.approx(1 / 3)
    assert jain_index([2, 1]) == pytest.approx(9 / 10)
    assert jain_index([]) is None
    assert jain_index([0, 0]) is None
    assert jain_index([5, 5], count=4) == pytest.approx(0.5)  # two zeros not listed
    assert jain_index([5, 5], count=1) == pytest.approx(1.0)  # never fewer than listed


def test_a_huge_replicas_count_is_judged_without_a_value_per_replica():
    verdict = judge(L7, spread(replicas=10**12))
    assert not verdict.passed and verdict.jain_index == 0.0  # 3e-12, rounded to 4 places


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 90) == 90
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_latency_summary_in_milliseconds():
    summary = latency_ms([0.003, 0.001, 0.002, 0.010])
    assert (summary.p50, summary.p90, summary.p99, summary.max) == (2.0, 10.0, 10.0, 10.0)
    empty = latency_ms([])
    assert (empty.p50, empty.p90, empty.p99, empty.max) == (None, None, None, None)


def test_too_few_calls_per_connection_are_warned_about():
    few = [tally({"a": 3, "b": 3, "c": 2}) for _ in range(4)]
    verdict = judge(few, spread())
    assert verdict.passed and not verdict.cannot_judge  # a pass is proof, however few the calls
    # reach: 4 connections x 3 replicas x (2/3)^8 = 0.468; share: 3 x P[Bin(32, 1/3) <= 5]
    assert verdict.spread_chance == pytest.approx(0.533, abs=0.001)
    assert any(
        "with 8 successful calls on a connection" in w and "by chance up to 53.3%" in w
        for w in verdict.warnings
    )
    assert not any("by chance" in w for w in judge(L7, spread()).warnings)
    assert not any("by chance" in w for w in judge(few, pinned()).warnings)
    assert miss_chance(100, 3) < 1e-15 and miss_chance(1, 3) == 1.0 and miss_chance(5, 1) == 0.0
