"""The probe sizes its calls: the rule on numbers and the verdict on synthetic tallies (the
command against a real server: tests/integration/test_sizing_probe.py)."""

from __future__ import annotations

import random

import pytest

from grpclab.probe import sizing
from grpclab.probe.model import PINNED, SPREAD, Expectation, Tally
from grpclab.probe.stats import miss_chance, pinned_chance, share_chance, spread_chance
from grpclab.probe.verdict import judge

# ---------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("replicas", "connections"), [(2, 4), (3, 4), (10, 4), (32, 4), (32, 1), (32, 16), (100, 4)]
)
def test_the_sized_count_is_the_fewest_below_one_in_a_million(replicas, connections):
    n = sizing.calls_per_connection(replicas, connections, min_share=0.5)
    assert spread_chance([n] * connections, replicas, 0.5) < 1e-6
    if n > sizing.MIN_PER_CONNECTION:
        assert spread_chance([n - 1] * connections, replicas, 0.5) >= 1e-6


def test_the_union_bound_counts_every_connection_and_every_replica():
    # connection c misses replica r with (1 - 1/R)^n; K x R pairs
    assert miss_chance(200, 32, connections=4) == pytest.approx(4 * 32 * (31 / 32) ** 200)
    assert miss_chance(100, 32, connections=4) == 1.0  # capped
    assert miss_chance(588, 32, connections=4) < 1e-6 < miss_chance(587, 32, connections=4)
    assert spread_chance([100] * 4, 32) == pytest.approx(miss_chance(100, 32, connections=4))
    # the share term: some replica below half its fair share of all calls, exact binomial tail
    assert share_chance(90, 3, 0.5) == pytest.approx(
        3
        * sum(
            __import__("math").comb(90, k) * (1 / 3) ** k * (2 / 3) ** (90 - k) for k in range(15)
        )
    )
    assert share_chance(1000, 3, 0.0) == 0.0 and share_chance(10, 1, 0.5) == 0.0


def test_known_sizes():
    """The figures the README quotes: 4 connections, min share 0.5."""
    sizes = {r: sizing.calls_per_connection(r, 4) for r in (3, 32, 100)}
    assert sizes == {3: 45, 32: 735, 100: 2537}
    assert sizing.calls_per_connection(1, 4) == sizing.MIN_PER_CONNECTION
    # the reach term alone, as the issue counts it: 588 per connection for 32 replicas
    assert sizing.calls_per_connection(32, 4, min_share=0.0) == 588


def test_plans():
    sized = sizing.plan_calls(None, 4, None, 32, 0.5, 4096)
    assert (sized.chosen, sized.per_connection, sized.source) == (2940, 735, sizing.SIZED)
    assert sized.concurrency == sizing.MAX_AUTO_CONCURRENCY
    assert "sized for 32 replicas over 4 connections" in sized.why
    assert sized.spread_chance is not None and sized.spread_chance < 1e-6

    small = sizing.plan_calls(None, 4, None, 3, 0.5, 4096)
    assert (small.chosen, small.concurrency) == (180, 1)
    assert sizing.plan_calls(None, 4, 2, 3, 0.5, 4096).concurrency == 2  # given wins

    given = sizing.plan_calls(400, 4, None, 32, 0.5, 4096)
    assert (given.chosen, given.per_connection, given.concurrency) == (400, 100, 1)
    assert given.source == sizing.GIVEN and "would fail spread by chance up to 1" in given.why

    first = sizing.plan_calls(None, 4, None, None, 0.5, 4096)
    assert (first.chosen, first.source) == (400, sizing.FIRST_PASS)
    final, more = sizing.top_up(first, 32, 4, 0.5, None, 4096)
    assert (final.chosen, final.per_connection, more) == (2940, 735, 635)
    assert "saw 32 replicas; topped up to 735 per connection" in final.why
    enough, none = sizing.top_up(first, 3, 4, 0.5, None, 4096)
    assert (enough.chosen, none) == (400, 0) and "enough for them" in enough.why


def test_auto_concurrency_rises_with_the_calls_within_a_bound():
    assert [sizing.auto_concurrency(n, 4, 4096) for n in (25, 100, 101, 450, 5000)] == [
        1,
        1,
        2,
        5,
        sizing.MAX_AUTO_CONCURRENCY,
    ]
    assert sizing.auto_concurrency(5000, 1000, 4096) == 4  # never past MAX_IN_FLIGHT in all


# ---------------------------------------------------------------------------- the verdict


def _uniform(replicas: int, calls: int, rng: random.Random) -> Tally:
    tally = Tally()
    for _ in range(calls):
        name = f"r{rng.randrange(replicas)}"
        tally.replicas[name] = tally.replicas.get(name, 0) + 1
    return tally


def test_too_few_calls_make_a_spread_not_met_cannot_judge():
    short = [Tally({f"r{i}": 3 for i in range(30)}) for _ in range(4)]  # 2 of 32 never reached
    verdict = judge(short, Expectation(expect=SPREAD, replicas=32))
    assert not verdict.passed and verdict.cannot_judge
    assert any("cannot be trusted" in w for w in verdict.warnings)
    assert "expected spread: cannot judge with so few calls" in verdict.summary


def test_pinned_connections_are_judged_even_with_few_calls():
    """Per-request balancing all but never keeps 100 calls on one replica: a real not met."""
    pinned = [Tally({f"r{i}": 100}) for i in range(4)]
    verdict = judge(pinned, Expectation(expect=SPREAD, replicas=32))
    assert verdict.observed == PINNED and not verdict.passed and not verdict.cannot_judge
    assert pinned_chance([100] * 4, 32) < 1e-100
    # ... but one call per connection on one replica is no evidence at all
    assert judge(
        [Tally({f"r{i}": 1}) for i in range(4)], Expectation(expect=SPREAD, replicas=32)
    ).cannot_judge


def test_enough_calls_are_judged_and_a_miss_is_not_met():
    missing = [Tally({f"r{i}": 30 for i in range(31)}) for _ in range(4)]  # 31 of 32, 930 each
    verdict = judge(missing, Expectation(expect=SPREAD, replicas=32))
    assert not verdict.passed and not verdict.cannot_judge
    assert verdict.spread_chance is not None and verdict.spread_chance < 1e-6


def test_sized_tallies_pass_spread_in_simulation():
    """Uniform random per-request balancing with the sized count: 200 probes, all spread."""
    rng = random.Random(12)
    n = sizing.calls_per_connection(32, 4)
    for _ in range(200):
        verdict = judge(
            [_uniform(32, n, rng) for _ in range(4)], Expectation(expect=SPREAD, replicas=32)
        )
        assert verdict.passed, verdict.summary
