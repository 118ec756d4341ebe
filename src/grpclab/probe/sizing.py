"""How many calls the probe makes, and how many it keeps in flight, when ``--calls`` is left out.

Pure functions. The rule: enough calls per connection that per-request balancing (modelled as
uniform at random over the replicas, the worst of Envoy's round_robin, least_request and random)
would still pass ``spread`` except with a chance below ``TARGET_CHANCE``. The chance is bounded by
:func:`grpclab.probe.stats.spread_chance`: the union bound over every (connection, replica) pair
of "this connection never reached this replica", K x R x (1 - 1/R)^n, plus the union bound over
replicas of the exact binomial tail "this replica got less than min_share of its fair share".

Without ``--replicas`` the count of replicas is unknown before calling: the probe makes a first
pass of ``FIRST_PASS_CALLS`` calls (the old fixed default) and then, if the replicas it saw need
more, tops each connection up to the sized count for them (:func:`top_up`).

Concurrency left out rises with the calls per connection, one call in flight per
``CALLS_PER_WORKER`` calls, at most ``MAX_AUTO_CONCURRENCY``: the time stays proportionate.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from grpclab.probe.stats import spread_chance

TARGET_CHANCE = 1e-6
MIN_PER_CONNECTION = 25  # even with one replica: enough calls for latency percentiles
FIRST_PASS_CALLS = 400
CALLS_PER_WORKER = 100
MAX_AUTO_CONCURRENCY = 8

SIZED = "sized"  # the probe chose the count for --replicas
FIRST_PASS = "first-pass"  # no --replicas: sized for the replicas a first pass saw
GIVEN = "given"  # --calls
TIMELINE = "timeline"  # --rate x --duration


@dataclass(frozen=True)
class CallPlan:
    """The calls of one probe: ``chosen`` in all, at least ``per_connection`` on each."""

    chosen: int
    per_connection: int
    concurrency: int
    source: str
    why: str
    # bound on the chance per-request balancing fails spread with these calls (None: unknown)
    spread_chance: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def calls_per_connection(
    replicas: int, connections: int, min_share: float = 0.5, target: float = TARGET_CHANCE
) -> int:
    """The fewest calls per connection for which per-request balancing fails spread with a
    chance below ``target`` (and at least ``MIN_PER_CONNECTION``)."""
    if replicas <= 1:
        return MIN_PER_CONNECTION
    # the reach term alone gives a lower bound in closed form; the share term is then added
    reach_only = math.log(target / (connections * replicas)) / math.log(1.0 - 1.0 / replicas)
    calls = max(MIN_PER_CONNECTION, math.floor(reach_only))
    while spread_chance([calls] * connections, replicas, min_share) >= target:
        calls += 1
    return calls


def auto_concurrency(per_connection: int, connections: int, max_in_flight: int) -> int:
    """Calls in flight per connection when not given: one per CALLS_PER_WORKER calls."""
    wanted = min(MAX_AUTO_CONCURRENCY, math.ceil(per_connection / CALLS_PER_WORKER))
    return max(1, min(wanted, max_in_flight // connections))


def _chance(
    per_connection: int, connections: int, replicas: int | None, min_share: float
) -> float | None:
    if replicas is None:
        return None
    return float(f"{spread_chance([per_connection] * connections, replicas, min_share):.3g}")


def plan_calls(
    calls: int | None,
    connections: int,
    concurrency: int | None,
    replicas: int | None,
    min_share: float,
    max_in_flight: int,
) -> CallPlan:
    """The plan before any call: given, sized for ``replicas``, or a first pass."""
    if calls is not None:
        per = calls // connections
        chance = _chance(per, connections, replicas, min_share)
        why = f"--calls {calls} given: at least {per} per connection"
        if chance is not None and chance >= TARGET_CHANCE:
            why += (
                f"; per-request balancing would fail spread by chance up to {chance:.2g} "
                f"with {replicas} replicas"
            )
        return CallPlan(calls, per, concurrency or 1, GIVEN, why, chance)
    if replicas is None:
        per = max(MIN_PER_CONNECTION, FIRST_PASS_CALLS // connections)
        return CallPlan(
            per * connections,
            per,
            concurrency or auto_concurrency(per, connections, max_in_flight),
            FIRST_PASS,
            f"--replicas not given: a first pass of {per} calls per "
            "connection, then sized for the replicas it sees",
        )
    per = calls_per_connection(replicas, connections, min_share)
    chance = _chance(per, connections, replicas, min_share)
    return CallPlan(
        per * connections,
        per,
        concurrency or auto_concurrency(per, connections, max_in_flight),
        SIZED,
        _sized_why(per, connections, replicas, min_share, chance),
        chance,
    )


def _sized_why(
    per: int, connections: int, replicas: int, min_share: float, chance: float | None
) -> str:
    if replicas <= 1:
        return (
            f"sized for 1 replica: {MIN_PER_CONNECTION} calls per connection, the least "
            "the probe makes"
        )
    share = f" or a share below {min_share:g} of fair" if min_share > 0 else ""
    return (
        f"sized for {replicas} replicas over {connections} connections: with {per} calls "
        f"per connection, per-request balancing misses a replica on a connection{share} "
        f"by chance below {TARGET_CHANCE:g} ({chance:.2g})"
    )


def top_up(
    plan: CallPlan,
    seen: int,
    connections: int,
    min_share: float,
    concurrency: int | None,
    max_in_flight: int,
) -> tuple[CallPlan, int]:
    """After a first pass that saw ``seen`` replicas: the final plan, and the calls per
    connection still to make (0 when the first pass was enough)."""
    needed = calls_per_connection(seen, connections, min_share)
    per = max(needed, plan.per_connection)
    chance = _chance(per, connections, seen, min_share)
    noun = "replica" if seen == 1 else "replicas"
    if per == plan.per_connection:
        why = (
            f"--replicas not given: a first pass of {plan.per_connection} calls per "
            f"connection saw {seen} {noun}, enough for them (chance {chance:.2g})"
        )
    else:
        why = (
            f"--replicas not given: a first pass of {plan.per_connection} calls per "
            f"connection saw {seen} {noun}; topped up to {per} per connection, sized for "
            f"them (chance {chance:.2g})"
        )
    final = CallPlan(
        per * connections,
        per,
        concurrency or auto_concurrency(per, connections, max_in_flight),
        FIRST_PASS,
        why,
        chance,
    )
    return final, per - plan.per_connection


def timeline_plan(
    rate: float,
    duration: float,
    connections: int,
    replicas: int | None,
    min_share: float,
    in_flight: int,
) -> CallPlan:
    """The calls of a paced run: rate x duration, round robin over the connections;
    ``in_flight`` is the most calls a connection had in flight (measured, not a bound)."""
    chosen = round(rate * duration)
    per = chosen // connections
    return CallPlan(
        chosen,
        per,
        max(1, in_flight),
        TIMELINE,
        f"--rate {rate:g} x --duration {duration:g} s, paced open-loop over "
        f"{connections} connections",
        _chance(per, connections, replicas, min_share),
    )
