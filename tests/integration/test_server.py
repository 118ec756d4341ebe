"""The Greeter server as a real process: identity, health, drain on SIGTERM, bad input (its
functions alone: tests/unit/test_server_options.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from grpclab.apps.protos import helloworld_pb2, helloworld_pb2_grpc

# 127.0.5.0/24 is outside every lab address plan, so these tests never meet a lab cluster
ADDRESS = "127.0.5.1"


def start_server(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "grpclab.apps.server", "--address", ADDRESS, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    line = proc.stdout.readline()
    assert "listening on" in line, line
    return proc


@pytest.fixture
def server_factory():
    procs: list[subprocess.Popen] = []

    def factory(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        proc = start_server(*args, env=env)
        procs.append(proc)
        return proc

    yield factory
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def say_hello(target: str):
    with grpc.insecure_channel(target) as channel:
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        return stub.SayHello.with_call(helloworld_pb2.HelloRequest(name="test"), timeout=5)


def health_status(target: str, service: str = "") -> int:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def test_reply_and_hostname_metadata_name_the_replica(server_factory):
    server_factory("--port", "50061", env={"POD_NAME": "grpc-server-7d4f9-x2k4q"})
    reply, call = say_hello(f"{ADDRESS}:50061")
    assert reply.message == "Hello from grpc-server-7d4f9-x2k4q"
    assert dict(call.initial_metadata())["hostname"] == "grpc-server-7d4f9-x2k4q"


def test_health_is_serving_for_the_server_and_the_greeter(server_factory):
    server_factory("--port", "50062", "--name", "r1")
    serving = health_pb2.HealthCheckResponse.SERVING
    assert health_status(f"{ADDRESS}:50062") == serving
    assert health_status(f"{ADDRESS}:50062", "helloworld.Greeter") == serving


def test_sigterm_drains_calls_in_flight_and_reports_not_serving(server_factory):
    target = f"{ADDRESS}:50063"
    proc = server_factory("--port", "50063", "--name", "slow", "--delay", "1.5", "--grace", "10")
    channel = grpc.insecure_channel(target)
    grpc.channel_ready_future(channel).result(timeout=5)
    # a health Watch opened before SIGTERM sees the status change during the drain
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    slow = helloworld_pb2_grpc.GreeterStub(channel).SayHello.future(
        helloworld_pb2.HelloRequest(name="x"), timeout=10
    )
    time.sleep(0.3)  # the slow call is now being served
    proc.send_signal(signal.SIGTERM)
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert slow.result().message == "Hello from slow"
    watch.cancel()
    channel.close()
    assert proc.wait(timeout=15) == 0
    assert "draining" in proc.stdout.read()


def test_new_calls_are_refused_once_draining(server_factory):
    target = f"{ADDRESS}:50064"
    proc = server_factory("--port", "50064", "--name", "d", "--delay", "2", "--grace", "10")
    with grpc.insecure_channel(target) as channel:
        # connected first: the pause below then only covers the call reaching the server
        grpc.channel_ready_future(channel).result(timeout=5)
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        in_flight = stub.SayHello.future(helloworld_pb2.HelloRequest(name="x"), timeout=10)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(grpc.RpcError) as refused:
            stub.SayHello(helloworld_pb2.HelloRequest(name="y"), timeout=3)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert in_flight.result().message == "Hello from d"
    assert proc.wait(timeout=15) == 0


def test_port_in_use_is_one_line_and_exit_2(server_factory):
    server_factory("--port", "50065", "--name", "first")
    second = subprocess.run(
        [sys.executable, "-m", "grpclab.apps.server", "--address", ADDRESS, "--port", "50065"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 2
    assert second.stderr.strip().splitlines() == [
        f"grpclab-server: error: cannot listen on {ADDRESS}:50065: Address already in use"
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["--port", "0"],
        ["--port", "70000"],
        ["--grace", "-1"],
        ["--address", "192.0.2.1"],
        ["--grace", "1e10"],
        ["--delay", "nan"],
        ["--drain-delay", "-1"],
        ["--drain-delay", "nan"],
        ["--drain-delay", "1e10"],
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(args):
    result = subprocess.run(
        [sys.executable, "-m", "grpclab.apps.server", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_sigterm_with_nothing_in_flight_exits_at_once(server_factory):
    proc = server_factory("--port", "50066", "--name", "idle", "--grace", "30")
    proc.send_signal(signal.SIGTERM)
    # well under the 30 s grace: an idle server has nothing to wait for
    assert proc.wait(timeout=10) == 0


def test_bad_drain_delay_is_named_in_its_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "grpclab.apps.server", "--drain-delay", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "grpclab-server: error: --drain-delay must be 0 to 86400 seconds, not -1"
    ]


def wait_for_status(stub, service: str, wanted: int, timeout: float = 5.0) -> float:
    """Poll Check until ``service`` reports ``wanted``; the monotonic time it did."""
    deadline = time.monotonic() + timeout
    while True:
        status = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2).status
        if status == wanted:
            return time.monotonic()
        assert time.monotonic() < deadline, f"{service!r} still {status}"
        time.sleep(0.02)


def test_drain_delay_serves_new_calls_while_not_serving_then_stops(server_factory):
    delay, grace = 2.0, 3.0
    proc = server_factory(
        "--port", "50067", "--name", "late", "--drain-delay", str(delay), "--grace", str(grace)
    )
    with grpc.insecure_channel(f"{ADDRESS}:50067") as channel:
        grpc.channel_ready_future(channel).result(timeout=5)
        health = health_pb2_grpc.HealthStub(channel)
        greeter = helloworld_pb2_grpc.GreeterStub(channel)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        wait_for_status(health, "", not_serving)
        wait_for_status(health, "helloworld.Greeter", not_serving)
        # a new call, made during the delay, on a connection the server has not sent GOAWAY on
        reply = greeter.SayHello(helloworld_pb2.HelloRequest(name="x"), timeout=5)
        assert reply.message == "Hello from late"
        assert time.monotonic() - signalled < delay, "the call came too late to prove anything"
        assert proc.poll() is None
    assert proc.wait(timeout=delay + grace + 5) == 0
    # it stopped after the delay, and at once then: nothing was left in flight
    assert delay <= time.monotonic() - signalled < delay + grace
    log = proc.stdout.read()
    assert "drain delay 2.0s, grace 3.0s" in log and "stopping: GOAWAY" in log


def test_a_call_in_flight_when_the_drain_delay_ends_gets_its_grace(server_factory):
    # the call takes 1.5 s and starts 0.5 s into a 1 s delay: the server stops while it runs
    proc = server_factory(
        "--port", "50068", "--name", "busy", "--delay", "1.5", "--drain-delay", "1", "--grace", "10"
    )
    with grpc.insecure_channel(f"{ADDRESS}:50068") as channel:
        grpc.channel_ready_future(channel).result(timeout=5)
        greeter = helloworld_pb2_grpc.GreeterStub(channel)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        in_flight = greeter.SayHello.future(helloworld_pb2.HelloRequest(name="x"), timeout=10)
        assert in_flight.result().message == "Hello from busy"
        # the delay is over (1 s): the stopped server refuses what comes after
        with pytest.raises(grpc.RpcError) as refused:
            greeter.SayHello(helloworld_pb2.HelloRequest(name="y"), timeout=3)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert proc.wait(timeout=15) == 0
    # it exits once the call is done (about 2 s after SIGTERM), well within delay + grace
    assert 2.0 <= time.monotonic() - signalled < 6.0


def test_a_second_signal_cuts_the_drain_delay_short(server_factory):
    proc = server_factory("--port", "50069", "--name", "hurried", "--drain-delay", "60")
    with grpc.insecure_channel(f"{ADDRESS}:50069") as channel:
        grpc.channel_ready_future(channel).result(timeout=5)
        proc.send_signal(signal.SIGTERM)
        wait_for_status(
            health_pb2_grpc.HealthStub(channel), "", health_pb2.HealthCheckResponse.NOT_SERVING
        )
    signalled = time.monotonic()
    proc.send_signal(signal.SIGINT)  # Ctrl-C after the SIGTERM: no minute's wait
    assert proc.wait(timeout=10) == 0
    assert time.monotonic() - signalled < 5


# ---------------------------------------------------------------------------------------------
# connection management: real server processes on 127.0.51.0/24 (no lab uses it, no lock needed)

MANAGED = "127.0.51.1"


def start_managed(
    address: str, port: int, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "grpclab.apps.server", "--port", str(port), *args]
    if address:
        command += ["--address", address]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    line = proc.stdout.readline()
    assert "listening on" in line, line
    return proc, line


@pytest.fixture
def managed_factory():
    procs: list[subprocess.Popen] = []

    def factory(
        address: str, port: int, *args: str, env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen, str]:
        proc, line = start_managed(address, port, *args, env=env)
        procs.append(proc)
        return proc, line

    yield factory
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def client_ports(address: str, port: int) -> set[int]:
    """Ports of the client ends of the established TCP connections to ADDRESS:PORT, as the
    kernel lists them: each is one connection the server holds. gRPC binds an IPv4 address as
    an IPv4-mapped IPv6 socket when it can, so both tables are read."""
    host = "".join(f"{int(part):02X}" for part in reversed(address.split(".")))
    wanted = {f"{host}:{port:04X}", f"0000000000000000FFFF0000{host}:{port:04X}"}
    ports: set[int] = set()
    for table_path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table_path) as table:
            next(table)
            for row in table:
                local, remote, state = row.split()[1:4]
                if local in wanted and state == "01":  # ESTABLISHED, the server's socket
                    ports.add(int(remote.rsplit(":", 1)[1], 16))
    return ports


def test_max_connection_age_rotates_the_connection_and_no_call_fails(managed_factory):
    port = 50051
    proc, _ = managed_factory(
        MANAGED,
        port,
        "--name",
        "aged",
        "--max-connection-age",
        "1",
        "--max-connection-age-grace",
        "2",
    )
    states: list[grpc.ChannelConnectivity] = []
    seen_ports: set[int] = set()
    failures: list[grpc.StatusCode] = []
    ok = 0
    # one channel for the whole run, as a long-lived client has it
    with grpc.insecure_channel(f"{MANAGED}:{port}") as channel:
        channel.subscribe(states.append, try_to_connect=True)
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        end = time.monotonic() + 4.5
        while time.monotonic() < end:
            try:
                stub.SayHello(helloworld_pb2.HelloRequest(name="x"), timeout=5)
                ok += 1
            except grpc.RpcError as error:
                failures.append(error.code())
            seen_ports |= client_ports(MANAGED, port)
            time.sleep(0.05)
        channel.unsubscribe(states.append)
    assert failures == []
    assert ok > 40
    # the server closed the connection (GOAWAY at ~1 s, +-10 % jitter) and the channel connected
    # again, each time from a new client port: 4.5 s give at least 3 connections
    assert len(seen_ports) >= 3, seen_ports
    ready = [state for state in states if state == grpc.ChannelConnectivity.READY]
    assert len(ready) >= 3, states
    assert (
        "connection management: grpc.max_connection_age_ms=1000, "
        "grpc.max_connection_age_grace_ms=2000" in proc.stdout.readline()
    )


def test_without_max_age_the_connection_stays(managed_factory):
    port = 50052
    managed_factory(MANAGED, port, "--name", "kept")
    seen_ports: set[int] = set()
    with grpc.insecure_channel(f"{MANAGED}:{port}") as channel:
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            stub.SayHello(helloworld_pb2.HelloRequest(name="x"), timeout=5)
            seen_ports |= client_ports(MANAGED, port)
            time.sleep(0.05)
    assert len(seen_ports) == 1, seen_ports


def test_max_connection_idle_closes_a_connection_without_calls(managed_factory):
    port = 50053
    managed_factory(MANAGED, port, "--name", "idle", "--max-connection-idle", "0.5")
    states: list[grpc.ChannelConnectivity] = []
    with grpc.insecure_channel(f"{MANAGED}:{port}") as channel:
        channel.subscribe(states.append, try_to_connect=True)
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        stub.SayHello(helloworld_pb2.HelloRequest(name="x"), timeout=5)
        first = client_ports(MANAGED, port)
        time.sleep(1.5)  # three idle periods: the server has closed it
        assert client_ports(MANAGED, port) == set()
        assert states[-1] == grpc.ChannelConnectivity.IDLE, states
        # the next call connects again, on a new connection
        assert (
            stub.SayHello(helloworld_pb2.HelloRequest(name="y"), timeout=5).message
            == "Hello from idle"
        )
        assert client_ports(MANAGED, port) - first
        channel.unsubscribe(states.append)


def test_keepalive_pings_keep_an_answering_client_on_its_connection(managed_factory):
    port = 50054
    managed_factory(
        MANAGED, port, "--name", "ka", "--keepalive-time", "0.2", "--keepalive-timeout", "1"
    )
    with grpc.insecure_channel(f"{MANAGED}:{port}") as channel:
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        # a long call: the server pings during it, the client answers, the call completes
        ports = set()
        for _ in range(3):
            stub.SayHello(helloworld_pb2.HelloRequest(name="x"), timeout=5)
            ports |= client_ports(MANAGED, port)
            time.sleep(0.5)
    assert len(ports) == 1, ports


def test_address_defaults_to_pod_ip(managed_factory):
    proc, line = managed_factory("", 50055, "--name", "pod", env={"POD_IP": "127.0.51.2"})
    assert line.rstrip().endswith("listening on 127.0.51.2:50055")
    with grpc.insecure_channel("127.0.51.2:50055") as channel:
        reply = helloworld_pb2_grpc.GreeterStub(channel).SayHello(
            helloworld_pb2.HelloRequest(name="x"), timeout=5
        )
    assert reply.message == "Hello from pod"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--max-connection-age", "-1"],
        ["--max-connection-age-grace", "nan"],
        ["--max-connection-idle", "1e10"],
        ["--keepalive-time", "0.0001"],
        ["--keepalive-timeout", "inf"],
    ],
)
def test_bad_connection_management_is_one_line_and_exit_2(args):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "grpclab.apps.server",
            "--address",
            MANAGED,
            "--port",
            "50059",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"grpclab-server: error: {args[0]} must be"), (
        lines
    )


@pytest.mark.parametrize(("grace", "outcome"), [("3", "OK"), ("0.2", "UNAVAILABLE")])
def test_max_age_grace_bounds_the_calls_in_flight(managed_factory, grace, outcome):
    # each call takes 1 s; the connection reaches its age at 0.3 s, during the call: a grace of
    # 3 s lets it finish, one of 0.2 s closes the connection under it
    port = 50056 if outcome == "OK" else 50057
    managed_factory(
        MANAGED,
        port,
        "--name",
        "slow",
        "--delay",
        "1",
        "--max-connection-age",
        "0.3",
        "--max-connection-age-grace",
        grace,
    )
    with grpc.insecure_channel(f"{MANAGED}:{port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=5)
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        try:
            stub.SayHello(helloworld_pb2.HelloRequest(name="x"), timeout=5)
            seen = "OK"
        except grpc.RpcError as error:
            seen = error.code().name
    assert seen == outcome
