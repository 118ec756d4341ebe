"""The monitor's Prometheus metrics (``grpclab-probe --watch``), in a registry of their own.

Every call counts at once (``grpclab_probe_calls_total``, ``grpclab_probe_latency_seconds``);
the verdict and the figures of a window are set when that window is judged
(:meth:`WatchMetrics.judged`). Labels stay bounded: connections are ``0..K-1``; a replica that
answered no call for :data:`STALE_WINDOWS` windows in a row loses its series.

Metrics (all prefixed ``grpclab_probe_``)::

    calls_total{replica,code}         counter: calls answered (replica "" when none answered)
    latency_seconds                   histogram: of every call answered (OK or UNIDENTIFIED)
    connection_replicas{connection}   replicas that connection reached in the last window
    replicas_seen                     distinct replicas that answered in the last window
    replica_fair_share{replica}       a replica's share of the last window / its fair share
    min_share                         --min-share (GrpcReplicaStarved compares with it)
    verdict{expect}                   1 the last window met --expect, 0 it did not
    verdict_unmet_windows{expect}     windows in a row that did not meet it (GrpcTrafficPinned)
    jain_index                        Jain's fairness index of the last window (NaN: no call)
    error_ratio                       failed calls / calls of the last window
    max_error_ratio                   --max-error-rate
    window_seconds                    --window
    windows_total                     counter: windows judged
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from grpclab.probe.model import Tally, Verdict

STALE_WINDOWS = 3  # a replica silent for this many windows in a row leaves the metrics
# from a loopback call (~0.5 ms) to the probe's default deadline (5 s)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
NO_REPLICA = ""  # the replica label of a failed call

disable_created_metrics()  # no *_created series: they double every counter for nothing here


class WatchMetrics:
    """The registry and the state the labels are bounded with."""

    def __init__(
        self,
        expect: str,
        window_s: float,
        min_share: float,
        max_error_rate: float,
        connections: int,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.expect = expect
        r = self.registry
        self.calls = Counter(
            "grpclab_probe_calls", "Calls answered, by replica and gRPC status code",
            ["replica", "code"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "grpclab_probe_latency_seconds", "Latency of the calls answered",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.connection_replicas = Gauge(
            "grpclab_probe_connection_replicas",
            "Replicas each connection reached in the last window", ["connection"], registry=r,
        )  # fmt: skip
        self.replicas_seen = Gauge(
            "grpclab_probe_replicas_seen", "Distinct replicas that answered in the last window",
            registry=r,
        )  # fmt: skip
        self.fair_share = Gauge(
            "grpclab_probe_replica_fair_share",
            "A replica's share of the last window's calls divided by its fair share",
            ["replica"], registry=r,
        )  # fmt: skip
        self.verdict = Gauge(
            "grpclab_probe_verdict", "1 when the last window met the expectation, else 0",
            ["expect"], registry=r,
        )  # fmt: skip
        self.unmet = Gauge(
            "grpclab_probe_verdict_unmet_windows",
            "Windows in a row that did not meet the expectation", ["expect"], registry=r,
        )  # fmt: skip
        self.jain = Gauge(
            "grpclab_probe_jain_index", "Jain's fairness index over the replicas, last window",
            registry=r,
        )  # fmt: skip
        self.error_ratio = Gauge(
            "grpclab_probe_error_ratio", "Failed calls / calls of the last window", registry=r
        )
        self.windows = Counter("grpclab_probe_windows", "Windows judged", registry=r)
        for name, help_text, value in (
            ("grpclab_probe_window_seconds", "Seconds of calls each verdict judges", window_s),
            ("grpclab_probe_min_share", "Least share of its fair share a replica needs", min_share),
            ("grpclab_probe_max_error_ratio", "Largest error ratio the verdict accepts",
             max_error_rate),
        ):  # fmt: skip
            Gauge(name, help_text, registry=r).set(value)
        self.jain.set(math.nan)
        self.verdict.labels(expect).set(0)
        self.unmet.labels(expect).set(0)
        self._lock = threading.Lock()
        self._codes: dict[str, set[str]] = {}  # replica label -> codes it has series for
        self._silent: dict[str, int] = {}  # replica -> windows in a row it answered nothing
        self._connections = connections
        self._unmet_windows = 0

    def call(self, replica: str | None, code: str, latency_s: float | None) -> None:
        """One call answered or failed (from a gRPC completion thread)."""
        label = replica or NO_REPLICA
        with self._lock:
            self._codes.setdefault(label, set()).add(code)
        self.calls.labels(label, code).inc()
        if latency_s is not None:
            self.latency.observe(latency_s)

    def judged(self, verdict: Verdict, tallies: Sequence[Tally]) -> list[str]:
        """Set the window's figures; returns the replicas whose series were removed."""
        met = verdict.passed
        self._unmet_windows = 0 if met else self._unmet_windows + 1
        self.verdict.labels(self.expect).set(1 if met else 0)
        self.unmet.labels(self.expect).set(self._unmet_windows)
        self.jain.set(math.nan if verdict.jain_index is None else verdict.jain_index)
        self.error_ratio.set(verdict.error_rate)
        self.replicas_seen.set(len(verdict.replicas))
        for index in range(self._connections):
            reached = len(tallies[index].replicas_reached()) if index < len(tallies) else 0
            self.connection_replicas.labels(str(index)).set(reached)
        fair = 1.0 / max(1, verdict.expected_replicas, len(verdict.replicas))
        shares = {r.name: r.share for r in verdict.replicas}
        removed = []
        with self._lock:
            for label in list(self._codes):
                if label == NO_REPLICA:
                    continue
                if label in shares:
                    self._silent.pop(label, None)
                    continue
                self._silent[label] = self._silent.get(label, 0) + 1
                if self._silent[label] >= STALE_WINDOWS:
                    removed.append(label)
            for label in removed:
                for code in self._codes.pop(label):
                    self.calls.remove(label, code)
                self._silent.pop(label, None)
                self.fair_share.remove(label)
            present = [label for label in self._codes if label != NO_REPLICA]
        for label in present:  # a replica silent this window (not yet stale) has 0
            self.fair_share.labels(label).set(round(shares.get(label, 0.0) / fair, 4))
        self.windows.inc()
        return removed
