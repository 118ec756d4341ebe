"""The walk-through's client as a real process against real servers."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

ADDRESS = "127.0.5.2"  # outside every lab address plan


def run_client(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grpclab.client", *args],
                          capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def server():
    proc = subprocess.Popen(
        [sys.executable, "-m", "grpclab.server", "--address", ADDRESS, "--port", "50071",
         "--name", "grpc-server-abc12-q1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert "listening on" in proc.stdout.readline()
    yield proc
    proc.terminate()
    proc.wait(timeout=15)


def test_logs_every_call_and_who_answered(server):
    result = run_client("--target", f"{ADDRESS}:50071", "--count", "3", "--interval", "0.05")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[-2:] for line in lines if "call:" in line] == [
        ["call:", "1"], ["call:", "2"], ["call:", "3"]]
    received = [line for line in lines if "Greeter client received:" in line]
    assert len(received) == 3
    assert all(line.endswith("Hello from grpc-server-abc12-q1") for line in received)


def test_target_from_server_url(server):
    env = {**os.environ, "SERVER_URL": f"{ADDRESS}:50071"}
    result = run_client("--count", "1", "--interval", "0", env=env)
    assert result.returncode == 0
    assert "Hello from grpc-server-abc12-q1" in result.stdout


def test_errors_are_logged_with_their_status_and_the_loop_goes_on():
    # nothing listens on this port: every call fails, and the client keeps calling
    result = run_client("--target", f"{ADDRESS}:50079", "--count", "2", "--interval", "0.05",
                        "--timeout", "1")
    assert result.returncode == 1
    assert result.stdout.count("UNAVAILABLE") == 2
    assert "call: 2" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_survives_a_server_restart():
    command = [sys.executable, "-m", "grpclab.server", "--address", ADDRESS, "--port", "50072"]
    first = subprocess.Popen([*command, "--name", "first"], stdout=subprocess.PIPE, text=True,
                             stderr=subprocess.STDOUT)
    assert "listening on" in first.stdout.readline()
    client = subprocess.Popen(
        [sys.executable, "-m", "grpclab.client", "--target", f"{ADDRESS}:50072",
         "--interval", "0.1", "--timeout", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    second = None
    try:
        time.sleep(1)
        first.terminate()
        first.wait(timeout=15)
        time.sleep(0.5)
        second = subprocess.Popen([*command, "--name", "second"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        assert "listening on" in second.stdout.readline()
        deadline = time.monotonic() + 20
        output = []
        for line in client.stdout:
            output.append(line)
            if "Hello from second" in line or time.monotonic() > deadline:
                break
        text = "".join(output)
        assert "Hello from first" in text
        assert "Hello from second" in text
        assert client.poll() is None
    finally:
        client.terminate()
        assert client.wait(timeout=10) == 0
        if second is not None:
            second.terminate()
            second.wait(timeout=15)


@pytest.mark.parametrize("args", [["--interval", "1e10"], ["--timeout", "nan"],
                                  ["--timeout", "1e10"], ["--count", "-1"]])
def test_bad_numbers_are_refused_with_exit_2(args):
    result = run_client("--target", f"{ADDRESS}:50079", "--count", "2", *args)
    assert result.returncode == 2
    assert "--interval must be 0 to 86400 seconds" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_target_is_one_line_and_exit_2():
    env = {k: v for k, v in os.environ.items() if k != "SERVER_URL"}
    result = run_client("--count", "1", env=env)
    assert result.returncode == 2
    assert "no target" in result.stderr
    assert "Traceback" not in result.stderr
