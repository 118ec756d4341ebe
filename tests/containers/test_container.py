"""The container tier: the image built by the grpc_apps role's own build task
(community.docker.docker_image) against a real Docker engine, run the way the Deployment runs it,
and probed with the exact command grpc_probe sends through k8s_exec.

Every container uses host networking on loopback addresses 127.0.41.x-127.0.42.x only (no
bridge), and runs as the pods do: read-only, /tmp a tmpfs, uid 10001, no capabilities, no
privilege escalation, POD_NAME set. Where no Docker engine answers (or the base image is not
there) the tier skips and says why; with GRPCLAB_CONTAINER_TESTS=required (.ci/run sets it) a
skip is a failure instead.

Environment: GRPCLAB_CONTAINER_DOCKER_HOST (the engine; else the endpoint the docker CLI would
use), GRPCLAB_CONTAINER_BASE (the image's base, default the stand-in images/stand-in-base.sh makes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import yaml
from ansible_cli import ROOT, recap, run_tool
from grpc_health.v1 import health_pb2, health_pb2_grpc

from grpclab import prerequisites
from grpclab.apps.protos import helloworld_pb2, helloworld_pb2_grpc

pytestmark = pytest.mark.slow

PLAYBOOK = ROOT / "tests" / "containers" / "test_container.yml"
BASE = os.environ.get("GRPCLAB_CONTAINER_BASE", "grpclab-stand-in-base:bookworm")
REQUIRED = os.environ.get("GRPCLAB_CONTAINER_TESTS", "") == "required"
IMAGE = "grpclab:container-test"
PORT = 50051
REPLICAS = ["127.0.41.1", "127.0.41.2", "127.0.41.3"]
DRAINING = "127.0.41.9"
NOWHERE = "127.0.42.254"
GRACE = 3.0
SERVICE_HOST = "{}.grpc-server.svc.cluster.local"
# the pods' security context, as docker run options
POD_OPTIONS = [
    "--network",
    "host",
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--user",
    "10001:10001",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
]
CASES = [
    # one Service address reaching one replica: pinned is met (0), spread is not (1)
    {"service": "grpc-server", "expect": "pinned"},
    {"service": "grpc-server", "expect": "spread"},
    # the headless name resolves to every replica: round_robin spreads (0)
    {"service": "grpc-server-headless", "expect": "spread", "lb": "round_robin"},
    # a Service address where nothing listens: cannot probe (2)
    {"service": "grpc-server-l4", "expect": "pinned"},
]


def docker_host() -> str:
    return (
        os.environ.get("GRPCLAB_CONTAINER_DOCKER_HOST")
        or prerequisites.docker_endpoint(dict(os.environ), Path.home()).host
    )


def unavailable() -> str:
    """Why the tier cannot run here ("" when it can)."""
    if shutil.which("docker") is None:
        return "no docker command on this machine"
    env = {**os.environ, "DOCKER_HOST": docker_host()}
    info = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if info.returncode != 0:
        return f"no Docker engine answers at {docker_host()}"
    base = subprocess.run(
        ["docker", "image", "inspect", BASE], env=env, capture_output=True, timeout=60
    )
    if base.returncode != 0:
        return f"base image {BASE} is not in the Docker engine (images/stand-in-base.sh makes it)"
    return ""


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    run = subprocess.run(
        ["docker", *args],
        env={**os.environ, "DOCKER_HOST": docker_host()},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert run.returncode == 0, f"docker {' '.join(args)}: {run.stderr}"
    return run


@dataclass
class Built:
    state_dir: Path
    extra_vars: str
    probe_commands: list[list[str]]
    dns_commands: list[list[str]]
    server_command: list[str]
    build_seconds: float


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    reason = unavailable()
    if reason:
        if REQUIRED:
            pytest.fail(f"GRPCLAB_CONTAINER_TESTS=required, but {reason}")
        pytest.skip(f"container tier skipped: {reason}")
    state = tmp_path_factory.mktemp("container")
    extra = {
        "grpclab_state_dir": str(state),
        "grpclab_docker_host": docker_host(),
        "grpc_apps_image": IMAGE,
        "grpc_apps_image_build_network": "host",
        "grpc_apps_image_build_args": {"PYTHON_IMAGE": BASE},
        "grpc_apps_server_grace_period": GRACE,
        "container_probe_cases": CASES,
    }
    started = time.monotonic()
    run = run_tool(
        "ansible-playbook",
        "-i",
        "inventories/kind",
        str(PLAYBOOK),
        "-e",
        json.dumps(extra),
        timeout=1200,
    )
    build_seconds = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    deployment = yaml.safe_load((state / "manifests" / "server-deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    rendered = json.loads((state / "probe-commands.json").read_text())
    # per case: the probe command, then the cluster DNS check that precedes it
    return Built(
        state,
        json.dumps(extra),
        rendered[0::2],
        rendered[1::2],
        container["command"],
        build_seconds,
    )


def run_container(
    name: str, argv: list[str], *, detach: bool, extra: tuple[str, ...] = (), timeout: float = 180
) -> subprocess.CompletedProcess:
    return docker(
        "run",
        *(["-d"] if detach else ["--rm"]),
        "--name",
        name,
        *POD_OPTIONS,
        "--env",
        f"POD_NAME={name}",
        *extra,
        IMAGE,
        *argv,
        check=False,
        timeout=timeout,
    )


def wait_serving(address: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(f"{address}:{PORT}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            assert time.monotonic() < deadline, f"{address}:{PORT} not SERVING in {timeout} s"
            time.sleep(0.3)


@pytest.fixture(scope="module")
def replicas(built: Built) -> Iterator[list[str]]:
    suffix = uuid.uuid4().hex[:6]
    names = [f"grpc-server-{suffix}-{n}" for n in range(len(REPLICAS))]
    try:
        for name, address in zip(names, REPLICAS, strict=True):
            run = run_container(name, [*built.server_command, "--address", address], detach=True)
            assert run.returncode == 0, run.stderr
        for address in REPLICAS:
            wait_serving(address)
        yield names
    finally:
        docker("rm", "--force", *names, check=False)


def test_the_role_built_a_small_image_that_runs_as_uid_10001(built):
    config = json.loads(docker("image", "inspect", IMAGE).stdout)[0]
    assert config["Config"]["User"] == "10001"
    assert config["Config"]["Cmd"] == ["grpclab-server", "--port", "50051"]
    size_mb = config["Size"] / 1e6
    print(f"\nimage {IMAGE}: {size_mb:.0f} MB, playbook with build {built.build_seconds:.0f} s")
    # the content tag the kind path loads by points at the same image
    refs = [tag for tag in config["RepoTags"] if ":content-" in tag]
    assert refs == [f"grpclab:content-{config['Id'].removeprefix('sha256:')[:12]}"]


def test_a_second_build_changes_nothing(built):
    # the build cache gives the same image ID; the content tag already points at it
    run = run_tool(
        "ansible-playbook",
        "-i",
        "inventories/kind",
        str(PLAYBOOK),
        "-e",
        built.extra_vars,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert recap(run.stdout)["changed"] == 0, run.stdout[-4000:]


def test_an_older_content_tag_is_removed_and_only_the_tag(built):
    stale = "grpclab:content-000000000000"
    docker("tag", BASE, stale)
    run = run_tool(
        "ansible-playbook",
        "-i",
        "inventories/kind",
        str(PLAYBOOK),
        "-e",
        built.extra_vars,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert recap(run.stdout)["changed"] == 1, run.stdout[-4000:]
    assert docker("image", "inspect", stale, check=False).returncode != 0
    assert docker("image", "inspect", BASE, check=False).returncode == 0
    tags = json.loads(docker("image", "inspect", IMAGE).stdout)[0]["RepoTags"]
    assert any(":content-" in tag for tag in tags)


def test_replicas_answer_with_their_pod_name(replicas):
    for name, address in zip(replicas, REPLICAS, strict=True):
        with grpc.insecure_channel(f"{address}:{PORT}") as channel:
            stub = helloworld_pb2_grpc.GreeterStub(channel)
            reply, call = stub.SayHello.with_call(helloworld_pb2.HelloRequest(name="ci"), timeout=5)
        assert reply.message == f"Hello from {name}"
        assert ("hostname", name) in call.initial_metadata()


def probe_in_client(built: Built, case: int, hosts: list[str]) -> subprocess.CompletedProcess:
    """The command grpc_probe renders, run in a client container; cluster DNS as /etc/hosts."""
    service = CASES[case]["service"]
    add_hosts = [f"--add-host={SERVICE_HOST.format(service)}:{ip}" for ip in hosts]
    return run_container(
        f"grpc-client-{uuid.uuid4().hex[:6]}",
        built.probe_commands[case],
        detach=False,
        extra=tuple(add_hosts),
    )


def test_the_probe_command_is_the_roles(built):
    command = built.probe_commands[0]
    target = "grpc-server.grpc-server.svc.cluster.local:50051"
    assert command[:3] == ["grpclab-probe", "--target", target]
    assert command[command.index("--expect") + 1] == "pinned"
    assert "--json" in command


def test_the_dns_wait_answers_once_the_name_resolves(built):
    add_host = f"--add-host={SERVICE_HOST.format('grpc-server')}:{REPLICAS[0]}"
    name = f"grpc-client-{uuid.uuid4().hex[:6]}"
    assert (
        run_container(name, built.dns_commands[0], detach=False, extra=(add_host,)).returncode == 0
    )
    # no such name (no cluster DNS here): the wait goes on
    assert run_container(name, built.dns_commands[0], detach=False).returncode != 0


def test_a_verdict_met_exits_0(built, replicas):
    run = probe_in_client(built, 0, REPLICAS[:1])
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["passed"] is True
    assert result["observed"] == "pinned"


def test_a_verdict_not_met_exits_1(built, replicas):
    run = probe_in_client(built, 1, REPLICAS[:1])
    assert run.returncode == 1, run.stderr
    result = json.loads(run.stdout)
    assert result["passed"] is False


def test_round_robin_over_the_headless_name_spreads(built, replicas):
    run = probe_in_client(built, 2, REPLICAS)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    result = json.loads(run.stdout)
    assert result["passed"] is True


def test_an_unreachable_service_exits_2_with_one_line(built, replicas):
    run = probe_in_client(built, 3, [NOWHERE])
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr


def test_sigterm_drains_the_call_in_flight_and_exits_0_within_the_grace(built):
    name = f"grpc-server-drain-{uuid.uuid4().hex[:6]}"
    command = [*built.server_command, "--address", DRAINING, "--delay", "1.5"]
    try:
        assert run_container(name, command, detach=True).returncode == 0
        wait_serving(DRAINING)
        with grpc.insecure_channel(f"{DRAINING}:{PORT}") as channel:
            stub = helloworld_pb2_grpc.GreeterStub(channel)
            in_flight = stub.SayHello.future(helloworld_pb2.HelloRequest(name="drain"), timeout=10)
            time.sleep(0.3)
            signalled = time.monotonic()
            docker("kill", "--signal", "TERM", name)
            assert in_flight.result().message == f"Hello from {name}"
        docker("wait", name, timeout=GRACE + 10)
        elapsed = time.monotonic() - signalled
        state = json.loads(docker("inspect", name).stdout)[0]["State"]
        assert state["ExitCode"] == 0, docker("logs", name, check=False).stderr
        assert elapsed < GRACE + 1, f"exited {elapsed:.1f} s after SIGTERM, grace {GRACE} s"
    finally:
        docker("rm", "--force", name, check=False)
