"""The probe as a monitor: ``grpclab-probe --watch``.

Calls go out on schedule (``--rate`` per second in all, open loop, as the paced mode sends them)
until SIGTERM or SIGINT, or for ``--duration``. Time is cut into windows of ``--window``
seconds; each window opens ``--connections`` new connections and sends its calls over them,
and once its answers are in it is judged with the probe's own verdict
(:func:`grpclab.probe.verdict.judge`, the same ``--expect``, ``--replicas``, ``--min-share``
and ``--max-error-rate``). New connections every window are the point: a connection made
before the balancing broke (an annotation removed, an Envoy config rejected) can keep its old
path for minutes while Envoy drains it, so a monitor that kept its connections would go on
seeing what used to be. Each window tells what a connection made now gets.

Metrics on ``--metrics-address`` (:mod:`grpclab.probe.metrics`); log lines on stderr only when
something changes: the verdict of a window, or the failures of the calls (a target that stops
answering is one line, its return another), never one per call.

The calls are made through :func:`open_call_path`, the one place that knows how the probe makes
and attributes a call.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import start_http_server

import grpclab
from grpclab.probe import pacer
from grpclab.probe.calls import PROG, Caller, channel_options
from grpclab.probe.cli import caller_for
from grpclab.probe.metrics import WatchMetrics
from grpclab.probe.model import UNIDENTIFIED
from grpclab.probe.options import MAX_RATE, MAX_TIMELINE_CALLS, ProbeError, ProbeOptions
from grpclab.probe.timeline import OK, Record, tallies_of
from grpclab.probe.verdict import judge
from grpclab.sockets import bind_error
from grpclab.status import ExitStatus

DEFAULT_RATE = 10.0  # calls per second when --watch comes without --rate
MIN_WINDOW_S = 1.0
STOP_GRACE_S = 2.0  # on a stop, the most the monitor waits for the answers of a finished window


# ---------------------------------------------------------------------------- the seam


@dataclass
class CallPath:
    """One window's connections: ``start(connection, t, sink)`` sends one call on connection
    ``connection`` (``t``: seconds since ``origin`` at the send) and appends its
    :data:`~grpclab.probe.timeline.Record` to ``sink`` when it is answered; ``close()``."""

    origin: float
    start: Callable[[int, float, object], None]
    close: Callable[[], None]
    notes: list[str]  # what the first reply naming no replica carried, for the verdict


def open_call_path(options: ProbeOptions, caller: Caller) -> CallPath:
    """The probe's way of making and attributing one call, for the monitor.

    The channels and the calls are the paced mode's (the probe's transport and
    :func:`grpclab.probe.calls.channel_options`; :func:`grpclab.probe.pacer._on_done` attributes
    each reply with the caller's identity specs), so every call, identity and TLS option of the
    probe applies. The channels are not waited for: a monitor starts, and goes on, while the
    target is down; its calls then fail and say so.
    """
    transport = options.spec.transport
    channels = [
        transport.channel(options.target, channel_options(options.lb))
        for _ in range(options.connections)
    ]
    send = [channel.unary_unary(caller.method.path).future for channel in channels]
    request, metadata, identify = caller.method.request, caller.metadata, caller.identify
    notes: list[str] = []
    origin = time.perf_counter()

    def start(connection: int, t: float, sink: object) -> None:
        future = send[connection](request, timeout=options.timeout, metadata=metadata)
        future.add_done_callback(
            functools.partial(pacer._on_done, sink, notes, identify, origin, t, connection)
        )

    def close() -> None:
        for channel in channels:
            channel.close()

    return CallPath(origin, start, close, notes)


def resolve_caller(options: ProbeOptions) -> Caller:
    """The method and identity every call of the watch uses, resolved once at the start (by
    reflection when neither --protoset nor --proto is given: the target must answer then)."""
    channel = options.spec.transport.channel(options.target, channel_options(options.lb))
    try:
        caller = caller_for(options, channel)
    finally:
        channel.close()
    if caller.method.streaming:
        raise ProbeError(
            f"--watch paces unary calls; {options.spec.call} is "
            f"{caller.method.kind.replace('_', '-')}"
        )
    return caller


# ---------------------------------------------------------------------------- one window


@dataclass
class WindowCalls:
    """The sink of one window's calls: keeps the records, counts each call in the metrics and
    in the failure state (``append`` runs on gRPC's completion threads)."""

    metrics: WatchMetrics
    failures: FailureState
    records: list[Record] = field(default_factory=list)
    sent: int = 0
    closed: bool = False

    def append(self, record: Record) -> None:
        if self.closed:  # cancelled by a stop: not a failure of the target
            return
        _t, _connection, replica, code, latency = record
        answered = code in (OK, UNIDENTIFIED)  # as the tallies: latency of every answer
        self.metrics.call(replica, code, latency if answered else None)
        self.failures.count(code)
        self.records.append(record)


@dataclass
class FailureState:
    """Failed calls by code over the last second; a line is logged only when the set of
    failing codes changes (a target going down, or coming back)."""

    target: str
    log: Callable[[str], None]
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _second: dict[str, int] = field(default_factory=dict)
    _failing: tuple[str, ...] = ()
    _since: float = 0.0

    def count(self, code: str) -> None:
        with self._lock:
            self._second[code] = self._second.get(code, 0) + 1

    def tick(self) -> None:
        """Once a second: compare the second's calls with the state, log a change."""
        with self._lock:
            second, self._second = self._second, {}
        if not second:
            return
        failing = tuple(sorted(code for code in second if code != OK))
        if failing == self._failing:
            return
        calls = sum(second.values())
        failed = sum(second[code] for code in failing)
        if failing:
            codes = ", ".join(f"{code} {second[code]}" for code in failing)
            self.log(
                f"calls to {self.target} failing: {failed} of {calls} in the last second ({codes})"
            )
        else:
            self.log(
                f"calls to {self.target} succeed again, after {time.monotonic() - self._since:.0f}"
                " s of failures"
            )
        if not self._failing:
            self._since = time.monotonic()
        self._failing = failing


# ---------------------------------------------------------------------------- the monitor


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {PROG}: {message}", file=sys.stderr, flush=True)


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ProbeError(f"--metrics-address must be HOST:PORT (port 1-65535), not {text!r}")
    return host, int(port)


def checked(options: ProbeOptions) -> ProbeOptions:
    """The options of a watch, with the rate filled in; ProbeError names the first bad one."""
    for flag, given in (
        ("--calls", options.calls is not None),
        ("--concurrency", options.concurrency is not None),
        ("--report", options.report is not None),
        ("--json", options.json),
    ):
        if given:
            raise ProbeError(f"{flag} does not apply to --watch (it runs until stopped)")
    if options.spec.by_peer:
        raise ProbeError(
            "--identity peer counts whole connections, not calls in a window: give --watch "
            "an identity the replies carry (header:, trailer: or field:)"
        )
    rate = DEFAULT_RATE if options.rate is None else options.rate
    if not 0 < rate <= MAX_RATE:
        raise ProbeError(
            f"--rate must be a positive number of calls per second, at most {MAX_RATE:g}, "
            f"not {rate:g}"
        )
    if not MIN_WINDOW_S <= options.window <= grpclab.MAX_SECONDS:
        raise ProbeError(
            f"--window must be {MIN_WINDOW_S:g} to {grpclab.MAX_SECONDS:g} seconds, "
            f"not {options.window:g}"
        )
    calls = round(rate * options.window)
    if calls < options.connections:
        raise ProbeError(
            f"--rate x --window makes {calls} calls a window, fewer than --connections "
            f"{options.connections}"
        )
    if calls > MAX_TIMELINE_CALLS:
        raise ProbeError(
            f"--rate x --window makes {calls} calls a window, more than {MAX_TIMELINE_CALLS}"
        )
    if (
        options.duration is not None
        and not options.window <= options.duration <= grpclab.MAX_SECONDS
    ):
        raise ProbeError(
            f"--duration must be at least --window ({options.window:g} s) and at most "
            f"{grpclab.MAX_SECONDS:g} s, not {options.duration:g}"
        )
    _address(options.metrics_address)
    return dataclasses.replace(options, rate=rate)


class Monitor:
    """The windows, one after the other, each judged once its answers are in."""

    def __init__(
        self,
        options: ProbeOptions,
        caller: Caller,
        metrics: WatchMetrics,
        stop: threading.Event,
    ):
        self.options = options
        self.caller = caller
        self.metrics = metrics
        self.stop = stop
        self.failures = FailureState(options.target, log)
        self.pending: list[tuple[CallPath, WindowCalls, float]] = []
        self.judged = 0
        self.met: bool | None = None

    def run(self) -> None:
        options = self.options
        assert options.rate is not None
        interval = 1.0 / options.rate
        per_window = round(options.rate * options.window)
        windows = math.inf if options.duration is None else options.duration // options.window
        next_tick = time.monotonic() + 1.0
        clock, stop = time.perf_counter, self.stop
        started = 0
        while not stop.is_set() and started < windows:
            started += 1
            path = open_call_path(options, self.caller)
            calls = WindowCalls(self.metrics, self.failures)
            complete = True
            for i in range(per_window):  # the pacer's loop, with housekeeping between calls
                due = i * interval
                now = clock() - path.origin
                if due > now and stop.wait(due - now):
                    complete = False
                    break
                path.start(i % options.connections, clock() - path.origin, calls)
                calls.sent += 1
                if time.monotonic() >= next_tick:
                    next_tick += 1.0
                    self.failures.tick()
                    self._judge_ready()
            self.pending.append((path, calls, clock() + options.timeout + pacer.DRAIN_SLACK_S))
            if not complete:
                break
            self._judge_ready()
        deadline = clock() + (STOP_GRACE_S if stop.is_set() else options.timeout + 1.0)
        while self.pending and clock() < deadline and not (stop.is_set() and self._partial()):
            self._judge_ready()
            time.sleep(0.02)
        for path, calls, _ in self.pending:  # stopped before their answers came: not judged
            calls.closed = True
            path.close()

    def _partial(self) -> bool:
        return self.pending[0][1].sent < round(self.options.rate * self.options.window)

    def _judge_ready(self) -> None:
        while self.pending:
            path, calls, deadline = self.pending[0]
            if self._partial() or (
                len(calls.records) < calls.sent and time.perf_counter() < deadline
            ):
                return
            self.pending.pop(0)
            calls.closed = True
            path.close()
            self._judge(calls, path.notes)

    def _judge(self, calls: WindowCalls, notes: list[str]) -> None:
        tallies = tallies_of(list(calls.records), self.options.connections)
        if notes:  # the summary then says which specs were tried and what the reply carried
            tallies[0].unidentified = notes[0]
        verdict = judge(tallies, self.options.expectation)
        removed = self.metrics.judged(verdict, tallies)
        self.judged += 1
        if removed:
            log(f"replicas silent for a while, dropped from the metrics: {', '.join(removed)}")
        if verdict.passed != self.met:
            self.met = verdict.passed
            log(f"window {self.judged}: {verdict.summary}")


def watch(options: ProbeOptions) -> int:
    """``grpclab-probe --watch``: serve the metrics, run the windows until stopped."""
    try:
        options = checked(options)
        caller = resolve_caller(options)
        host, port = _address(options.metrics_address)
        why = bind_error(host, port)
        if why is not None:
            raise ProbeError(f"--metrics-address {options.metrics_address}: cannot listen: {why}")
        metrics = WatchMetrics(
            options.expect,
            options.window,
            options.min_share,
            options.max_error_rate,
            options.connections,
        )
        try:
            server, _thread = start_http_server(port, host, registry=metrics.registry)
        except OSError as err:
            raise ProbeError(
                f"--metrics-address {options.metrics_address}: cannot listen: {err.strerror}"
            ) from None
    except ProbeError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return ExitStatus.ERROR
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log(
        f"watching {options.target}: {options.rate:g} calls/s over {options.connections} "
        f"new connections every {options.window:g} s, expecting {options.expect}; "
        f"metrics on http://{options.metrics_address}/metrics"
    )
    monitor = Monitor(options, caller, metrics, stop)
    try:
        monitor.run()
    finally:
        server.shutdown()
        server.server_close()
    log(f"stopped after {monitor.judged} windows judged")
    return ExitStatus.SUCCESS
