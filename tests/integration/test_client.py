"""The walk-through's client as a real process against real servers, and on a real lab node
(its own loopback ranges 127.0.45.x for pods, 127.0.46.x for Services: no lab lock needed)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from lab_node import lab_manifests, start_lab_node

ADDRESS = "127.0.5.2"  # outside every lab address plan
POD_NET, SVC_NET = "127.0.45", "127.0.46"


def run_client(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    if env is None:  # the lab's DNS only when a test sets it
        env = {k: v for k, v in os.environ.items() if k != "GRPCLAB_DNS"}
    return subprocess.run(
        [sys.executable, "-m", "grpclab.apps.client", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.fixture
def server():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "grpclab.apps.server",
            "--address",
            ADDRESS,
            "--port",
            "50071",
            "--name",
            "grpc-server-abc12-q1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
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
        ["call:", "1"],
        ["call:", "2"],
        ["call:", "3"],
    ]
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
    result = run_client(
        "--target", f"{ADDRESS}:50079", "--count", "2", "--interval", "0.05", "--timeout", "1"
    )
    assert result.returncode == 1
    assert result.stdout.count("UNAVAILABLE") == 2
    assert "call: 2" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_survives_a_server_restart():
    command = [sys.executable, "-m", "grpclab.apps.server", "--address", ADDRESS, "--port", "50072"]
    first = subprocess.Popen(
        [*command, "--name", "first"], stdout=subprocess.PIPE, text=True, stderr=subprocess.STDOUT
    )
    assert "listening on" in first.stdout.readline()
    client = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "grpclab.apps.client",
            "--target",
            f"{ADDRESS}:50072",
            "--interval",
            "0.1",
            "--timeout",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    second = None
    try:
        time.sleep(1)
        first.terminate()
        first.wait(timeout=15)
        time.sleep(0.5)
        second = subprocess.Popen(
            [*command, "--name", "second"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
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


@pytest.mark.parametrize(
    "args", [["--interval", "1e10"], ["--timeout", "nan"], ["--timeout", "1e10"], ["--count", "-1"]]
)
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


# ---------------------------------------------------------------------------- GRPCLAB_DNS

# (what the client makes of GRPCLAB_DNS and a target: tests/unit/test_client_targets.py)


def test_bad_grpclab_dns_is_one_line_and_exit_2():
    env = {**os.environ, "GRPCLAB_DNS": "127.0.2.253"}
    result = run_client("--target", f"{ADDRESS}:50079", "--count", "1", env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "grpclab-client: error: GRPCLAB_DNS must be host:port of a DNS server, not '127.0.2.253'"
    )
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_an_address_target_needs_no_dns_answer(server):
    # nothing answers DNS on this port: gRPC's dns resolver takes an address as it is
    env = {**os.environ, "GRPCLAB_DNS": f"{ADDRESS}:10053"}
    result = run_client("--target", f"{ADDRESS}:50071", "--count", "1", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"client calling dns://{ADDRESS}:10053/{ADDRESS}:50071" in result.stdout
    assert "Hello from grpc-server-abc12-q1" in result.stdout


def client_manifest() -> str:
    """The walk-through client as grpc_apps renders it (client-deployment.yaml.j2 with its
    defaults): SERVER_URL is the Service's short name, which only a cluster DNS resolves."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "grpc-client"}}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "grpc-client",
            "namespace": "grpc-client",
            "labels": {"app": "grpc-client"},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "grpc-client"}},
            "template": {
                "metadata": {"labels": {"app": "grpc-client"}},
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                    "containers": [
                        {
                            "name": "grpc-client",
                            "image": "grpclab:0.1.0",
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["grpclab-client", "--interval", "0.2"],
                            "env": [
                                {"name": "SERVER_URL", "value": "grpc-server.grpc-server:50051"}
                            ],
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "64Mi"},
                                "limits": {"cpu": "500m", "memory": "256Mi"},
                            },
                        }
                    ],
                },
            },
        },
    }
    return yaml.safe_dump_all([namespace, deployment], sort_keys=False)


def test_the_client_pod_resolves_the_service_short_name_on_the_lab(tmp_path: Path):
    node = start_lab_node(
        tmp_path / "h1a-client",
        POD_NET,
        SVC_NET,
        {**lab_manifests(), "client-deployment.yaml": client_manifest()},
    )
    log = ""
    try:
        node.rollout()
        done = node.cli(
            "rollout",
            "status",
            "deployment",
            "grpc-client",
            "-n",
            "grpc-client",
            "--timeout",
            "60",
            timeout=70,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        client = next(p for p in node.status()["pods"] if p["deployment"] == "grpc-client")
        replicas = {p["name"] for p in node.server_pods()}
        received: list[str] = []
        deadline = time.monotonic() + 30
        while len(received) < 6 and time.monotonic() < deadline:
            time.sleep(0.5)
            log = (node.state_dir / "pods" / f"{client['name']}.log").read_text()
            received = [
                line.split("Hello from ", 1)[1]
                for line in log.splitlines()
                if "Greeter client received: Hello from " in line
            ]
    finally:
        node.stop()
    assert f"client calling dns://{node.dns}/grpc-server.grpc-server:50051" in log, log
    assert len(received) >= 6, log
    assert set(received) <= replicas, log
    # grpc-server is the lb-l7 Service: Envoy spreads the one connection's calls (per request)
    assert len(set(received[:6])) >= 2, log
    assert node.process.returncode == 0
