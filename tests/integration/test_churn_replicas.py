"""Judgement over time of real runs: real servers, real channels, one replica drained or killed
mid-run, the calls put into the probe's timeline shape (tests/support/churn_timelines.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from churn_timelines import timeline

from grpclab.churn import FAILED_CALLS, Action, Budgets, judge

# --- a real run: real servers, real channels, one replica drained or killed mid-run ----------
# 127.0.51.0/24 is outside every lab address plan: no lock needed


def recorded_run(
    targets: str,
    action: Callable[[], None],
    at_s: float,
    duration: float = 4.0,
    rate: float = 100.0,
    connections: int = 4,
    health_check: bool = False,
) -> dict:
    """Paced calls over ``connections`` round_robin channels to ``targets``; ``action`` runs at
    ``at_s``. The calls go into the timeline shape through the same helper as above.

    ``health_check``: the channels watch each replica's grpc.health.v1 status (gRPC's client-side
    health checking) and pick only the SERVING ones, so a draining replica leaves the balancer
    when it says NOT_SERVING, before it stops."""
    import json
    import threading
    import time as clock

    import grpc

    from grpclab.apps.protos import helloworld_pb2, helloworld_pb2_grpc
    from grpclab.apps.server import SERVICE_NAME

    config: dict = {"loadBalancingConfig": [{"round_robin": {}}]}
    if health_check:
        config["healthCheckConfig"] = {"serviceName": SERVICE_NAME}
    options = [("grpc.service_config", json.dumps(config))]
    channels = [
        grpc.insecure_channel(targets, options=[*options, ("grpc.channel_id", i)])
        for i in range(connections)
    ]
    stubs = [helloworld_pb2_grpc.GreeterStub(channel) for channel in channels]
    for channel in channels:
        grpc.channel_ready_future(channel).result(timeout=10)
    outcomes: dict[int, str] = {}
    pending = []
    start = clock.monotonic()
    acted = threading.Timer(at_s, action)
    acted.start()
    for i in range(int(duration * rate)):
        clock.sleep(max(0.0, start + i / rate - clock.monotonic()))
        future = stubs[i % connections].SayHello.future(
            helloworld_pb2.HelloRequest(name="x"), timeout=5
        )
        pending.append((i, future))
    for i, future in pending:
        try:
            outcomes[i] = future.result().message.removeprefix("Hello from ")
        except grpc.RpcError as error:
            outcomes[i] = error.code().name
    acted.join()
    for channel in channels:
        channel.close()
    return timeline(lambda t, conn, k: outcomes[round(t * rate)], duration, rate, connections)


# Seconds a replica keeps serving after SIGTERM while it says NOT_SERVING: ample for the
# channels' health watch on one host. Without it, a call on its way to the replica when its
# server stops is cancelled by gRPC's shutdown (the test flaked: 1 CANCELLED call in a CI run).
DRAIN_DELAY = 1.0


@pytest.fixture
def two_replicas():
    import os
    import subprocess
    import sys

    procs = {}
    for name, address in (("real-1", "127.0.51.11"), ("real-2", "127.0.51.12")):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "grpclab.apps.server",
                "--address",
                address,
                "--port",
                "50071",
                "--name",
                name,
                "--grace",
                "5",
                "--drain-delay",
                str(DRAIN_DELAY),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ),
        )
        assert "listening on" in proc.stdout.readline()
        procs[name] = proc
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
        proc.wait()


TARGETS = "ipv4:127.0.51.11:50071,127.0.51.12:50071"
REAL = frozenset({"real-1", "real-2"})


def test_a_real_drained_replica_costs_no_call(two_replicas):
    import signal

    # the channels watch health: the replica leaves them when it says NOT_SERVING, and stops
    # DRAIN_DELAY later, when no call is on its way to it any more
    line = recorded_run(
        TARGETS, lambda: two_replicas["real-2"].send_signal(signal.SIGTERM), 1.5, health_check=True
    )
    assert two_replicas["real-2"].wait(timeout=10) == 0
    action = Action("scale-in", 1.5, REAL, frozenset({"real-1"}))
    verdict = judge(line, "client-side", action, Budgets(graceful_failed_calls=0, resolve_s=0))
    assert verdict.passed, verdict.line
    assert verdict.line == (
        "client-side scale-in at 1.5 s: no failed call; no connection lost a "
        "call; expected no failed call, calls to succeed again on every "
        "connection within 10 s"
    )
    late = [c for c in line["calls"] if c[0] >= 2.5]
    assert {c[2] for c in late} == {"real-1"}  # the drained replica got nothing after it left


def test_a_real_killed_replica_is_recorded_and_the_connections_recover(two_replicas):
    line = recorded_run(TARGETS, two_replicas["real-2"].kill, 1.5)
    action = Action("crash", 1.5, REAL, frozenset({"real-1"}))
    verdict = judge(line, "client-side", action, Budgets(recovery_s=2.0))
    assert verdict.passed, verdict.line
    assert verdict.figures.recovery_s is not None and verdict.figures.recovery_s <= 2.0
    assert "(1 figure not judged: no budget)" in verdict.line
    failed = next(c for c in verdict.checks if c.expectation.metric == FAILED_CALLS)
    assert failed.outcome == "not judged"
