"""The probe's statistics: latency percentiles, Jain's fairness index, and how much of an
outcome could be luck under per-request balancing.

Pure functions. Per-request balancing is modelled as every call going to a replica uniformly at
random, independently: the worst case of Envoy's round_robin, least_request and random (round
robin is near deterministic, but a worker thread interleaves the calls of several connections).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def miss_chance(calls: int, replicas: int, connections: int = 1) -> float:
    """Bound on the chance that per-request balancing, uniform at random over ``replicas``,
    leaves a replica out of one of ``connections`` connections of ``calls`` calls each.

    Union bound over connections and replicas: connection c misses replica r with chance
    (1 - 1/replicas) ** calls, so the chance is at most connections x replicas x that (capped
    at 1). This is the noise floor of "every connection reached every replica".
    """
    if replicas <= 1:
        return 0.0
    return min(1.0, connections * replicas * (1.0 - 1.0 / replicas) ** calls)


def _log_binomial_pmf(k: int, n: int, p: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def share_chance(calls: int, replicas: int, min_share: float) -> float:
    """Bound on the chance that per-request balancing, uniform at random, gives some replica
    less than ``min_share`` of its fair share of ``calls`` successful calls.

    Each replica's count is Binomial(calls, 1/replicas); the lower tail is summed exactly and
    the union bound taken over the replicas (capped at 1).
    """
    if replicas <= 1 or min_share <= 0 or calls <= 0:
        return 0.0
    below = math.ceil(min_share * calls / replicas)  # a count below this fails the share rule
    tail = sum(math.exp(_log_binomial_pmf(k, calls, 1.0 / replicas)) for k in range(below))
    return min(1.0, replicas * tail)


def spread_chance(
    calls_per_connection: Sequence[int], replicas: int, min_share: float = 0.0
) -> float:
    """Bound on the chance that per-request balancing fails ``spread`` by luck alone: some
    connection misses a replica (each connection with its own successful calls), or some
    replica gets less than ``min_share`` of its fair share of them all. Union of both bounds."""
    if replicas <= 1 or not calls_per_connection:
        return 0.0
    reach = sum(miss_chance(calls, replicas) for calls in calls_per_connection)
    shares = share_chance(sum(calls_per_connection), replicas, min_share)
    return min(1.0, reach + shares)


def pinned_chance(calls_per_connection: Sequence[int], replicas: int) -> float:
    """Chance that per-request balancing, uniform at random, puts every call of every
    connection on a single replica: how much a pinned observation could be luck."""
    if replicas <= 1 or not calls_per_connection:
        return 1.0
    return math.exp(sum((1 - calls) * math.log(replicas) for calls in calls_per_connection))


@dataclass(frozen=True)
class LatencyMs:
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of already sorted values; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_ms(latencies_s: Iterable[float]) -> LatencyMs:
    ordered = sorted(latencies_s)

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000.0, 3)

    return LatencyMs(
        p50=ms(percentile(ordered, 50)),
        p90=ms(percentile(ordered, 90)),
        p99=ms(percentile(ordered, 99)),
        max=ms(ordered[-1] if ordered else None),
    )


def jain_index(values: Sequence[float], count: int | None = None) -> float | None:
    """Jain's fairness index: 1 when all equal, 1/n when one takes all; None without data.

    ``count`` (at least ``len(values)``) counts the values not listed as zeros.
    """
    n = max(len(values), count or 0)
    total = sum(values)
    squares = sum(v * v for v in values)
    if n == 0 or squares == 0:
        return None
    return total * total / (n * squares)
