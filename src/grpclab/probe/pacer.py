"""Open-loop paced calls: ``rate`` calls per second in all, for ``duration`` seconds.

Call i is due at ``i / rate`` seconds from the start and goes on connection ``i % K``; it is
sent at its due time whatever the calls before it are doing (open loop: a slow or stalled
replica does not slow the schedule, calls in flight overlap). Calls are gRPC futures; their
completion callbacks record each call. When the sender falls behind (a busy machine), it sends
the late calls at once and the lag shows in ``max_lag_ms``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

import grpc

from grpclab.probe.calls import Caller, greeter_caller
from grpclab.probe.identity import Identifier
from grpclab.probe.model import UNIDENTIFIED
from grpclab.probe.timeline import OK, PacedRun, Record

# after the last call is sent, its deadline plus this is the most the pacer waits for answers
DRAIN_SLACK_S = 2.0


def _on_done(
    records: list[Record],
    notes: list[str],
    identify: Identifier,
    start: float,
    t: float,
    connection: int,
    future: grpc.Future,
) -> None:
    latency = time.perf_counter() - start - t
    try:
        reply = future.result()
    except grpc.RpcError as err:
        code = err.code()  # type: ignore[attr-defined]
        records.append((t, connection, None, code.name if code is not None else "UNKNOWN", latency))
        return
    except grpc.FutureCancelledError:
        records.append((t, connection, None, "CANCELLED", latency))
        return
    replica = identify(future, reply)
    if replica is None and not notes:  # what the first reply naming no replica carried
        notes.append(identify.describe(future, reply))
    records.append((t, connection, replica, OK if replica else UNIDENTIFIED, latency))


def run_paced(
    channels: Sequence[grpc.Channel],
    rate: float,
    duration: float,
    timeout: float,
    caller: Caller | None = None,
) -> PacedRun:
    """Send round(rate x duration) unary calls on schedule; wait for their answers; every
    record."""
    caller = caller or greeter_caller()
    total = round(rate * duration)
    interval = 1.0 / rate
    send = [channel.unary_unary(caller.method.path).future for channel in channels]
    count = len(send)
    request, metadata, identify = caller.method.request, caller.metadata, caller.identify
    records: list[Record] = []
    notes: list[str] = []
    clock, sleep = time.perf_counter, time.sleep
    max_lag = 0.0
    start_unix, start = time.time(), clock()
    t = 0.0
    for i in range(total):  # kept lean: this loop is the per-call cost (bench_timeline.py)
        due = i * interval
        now = clock() - start
        if due > now:
            sleep(due - now)
            now = clock() - start
        if now - due > max_lag:
            max_lag = now - due
        t = now
        connection = i % count
        future = send[connection](request, timeout=timeout, metadata=metadata)
        future.add_done_callback(
            functools.partial(_on_done, records, notes, identify, start, t, connection)
        )
    span = t + interval if total else 0.0
    deadline = clock() + timeout + DRAIN_SLACK_S
    while len(records) < total and clock() < deadline:
        sleep(0.005)
    return PacedRun(
        records=list(records),
        start_unix=start_unix,
        sent_span_s=span,
        max_lag_s=max_lag,
        sent=total,
        unidentified=notes[0] if notes else None,
    )
