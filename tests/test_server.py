"""The Greeter server as a real process: identity, health, drain on SIGTERM, bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from grpclab.protos import helloworld_pb2, helloworld_pb2_grpc
from grpclab.server import replica_name

# 127.0.5.0/24 is outside every lab address plan, so these tests never meet a lab cluster
ADDRESS = "127.0.5.1"


def start_server(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "grpclab.server", "--address", ADDRESS, *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
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


def test_name_comes_from_flag_then_pod_name_then_hostname(monkeypatch):
    monkeypatch.setenv("POD_NAME", "grpc-server-abc-1")
    assert replica_name("explicit") == "explicit"
    assert replica_name() == "grpc-server-abc-1"
    monkeypatch.delenv("POD_NAME")
    assert replica_name() == os.uname().nodename


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
        helloworld_pb2.HelloRequest(name="x"), timeout=10)
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
        [sys.executable, "-m", "grpclab.server", "--address", ADDRESS, "--port", "50065"],
        capture_output=True, text=True, timeout=30,
    )
    assert second.returncode == 2
    assert second.stderr.strip().splitlines() == [
        f"grpclab-server: error: cannot listen on {ADDRESS}:50065: Address already in use"
    ]


@pytest.mark.parametrize(
    "args",
    [["--port", "0"], ["--port", "70000"], ["--grace", "-1"], ["--address", "192.0.2.1"],
     ["--grace", "1e10"], ["--delay", "nan"]],
)
def test_bad_arguments_are_one_line_and_exit_2(args):
    result = subprocess.run([sys.executable, "-m", "grpclab.server", *args],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_sigterm_with_nothing_in_flight_exits_at_once(server_factory):
    proc = server_factory("--port", "50066", "--name", "idle", "--grace", "30")
    proc.send_signal(signal.SIGTERM)
    # well under the 30 s grace: an idle server has nothing to wait for
    assert proc.wait(timeout=10) == 0
