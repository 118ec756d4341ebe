"""The verdict's data: what a connection saw, what the scenario promises, what the probe reports.

:class:`Tally` (one connection's calls, filled by :mod:`grpclab.probe.calls` and
:mod:`grpclab.probe.timeline`), :class:`Expectation` (the promise), and :class:`Verdict` with its
parts (what :func:`grpclab.probe.verdict.judge` returns), with the names of the patterns and
expectations. Plain data, no rules: the rules are :mod:`grpclab.probe.verdict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from grpclab.probe.stats import LatencyMs

SPREAD = "spread"
PINNED = "pinned"
NONE = "none"
MIXED = "mixed"
FAILED = "failed"

EXPECTATIONS = (SPREAD, PINNED, NONE)

# replies the probe could not attribute to a replica are counted as failures under this name
UNIDENTIFIED = "UNIDENTIFIED"


@dataclass
class Tally:
    """What one connection saw: successful calls per replica, failures, latencies (seconds).

    On a streaming method a call is a stream: ``replicas`` counts streams, ``messages`` the
    messages per replica, ``split_streams`` the streams whose messages named another replica
    than the stream's own. ``unidentified`` describes the first reply that named no replica.
    """

    replicas: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)
    messages: dict[str, int] = field(default_factory=dict)
    split_streams: int = 0
    unidentified: str | None = None

    @property
    def ok(self) -> int:
        return sum(self.replicas.values())

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def calls(self) -> int:
        return self.ok + self.failed

    def replicas_reached(self) -> set[str]:
        return {name for name, count in self.replicas.items() if count > 0}

    def merge(self, other: Tally) -> None:
        """Add another tally of the same connection (one per worker thread) into this one."""
        for name, count in other.replicas.items():
            self.replicas[name] = self.replicas.get(name, 0) + count
        for code, count in other.failures.items():
            self.failures[code] = self.failures.get(code, 0) + count
        self.latencies_s.extend(other.latencies_s)
        for name, count in other.messages.items():
            self.messages[name] = self.messages.get(name, 0) + count
        self.split_streams += other.split_streams
        if self.unidentified is None:
            self.unidentified = other.unidentified


@dataclass(frozen=True)
class Expectation:
    """What the scenario promises; ``replicas`` None means "the replicas seen"."""

    expect: str = NONE
    replicas: int | None = None
    min_share: float = 0.5
    max_error_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.expect not in EXPECTATIONS:
            choices = ", ".join(EXPECTATIONS)
            raise ValueError(f"expect must be one of {choices}, not {self.expect!r}")
        if self.replicas is not None and self.replicas < 1:
            raise ValueError("replicas must be at least 1")
        if not 0.0 <= self.min_share <= 1.0:
            raise ValueError("min_share must be between 0 and 1")
        if not 0.0 <= self.max_error_rate <= 1.0:
            raise ValueError("max_error_rate must be between 0 and 1")


@dataclass(frozen=True)
class ReplicaShare:
    name: str
    calls: int
    share: float  # of all successful calls
    connections: int  # how many connections reached this replica


@dataclass(frozen=True)
class ConnectionReport:
    index: int
    calls: int
    failed: int
    replicas: dict[str, int]  # successful calls per replica, sorted by name


@dataclass(frozen=True)
class Totals:
    calls: int
    ok: int
    failed: int


@dataclass(frozen=True)
class Verdict:
    expect: str
    observed: str
    passed: bool
    summary: str  # one line: what was seen, what was expected, the first reason it failed
    expected_replicas: int
    replicas_assumed: bool
    replicas: list[ReplicaShare]
    connections: list[ConnectionReport]
    jain_index: float | None
    latency_ms: LatencyMs
    totals: Totals
    failures: dict[str, int]
    error_rate: float
    reasons: list[str]  # every criterion the verdict missed, empty when passed
    warnings: list[str]
    # spread not met, but too few calls to tell it from luck: exit status 2, not 1
    cannot_judge: bool = False
    # bound on the chance per-request balancing fails spread by luck with these calls
    spread_chance: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)
