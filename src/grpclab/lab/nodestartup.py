"""The lab node's start-up, recovery and lock, and its shutdown: what ``node.Node`` runs its
reconcile loop on.

Start-up takes the cluster's node lock (one node per cluster), stops what a previous node left
running (pods by their pid files, Envoy), checks that the DNS address is free, then starts the
cluster DNS and Envoy (supervised like a pod, its admin on the unix socket ``admin.admin_socket``
of the state directory) and waits until Envoy is ready. Shutdown terminates every pod, then
Envoy and the DNS, and removes status.json.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grpclab.lab import admin, dns, manifests, pidfiles, pods, processes, xds
from grpclab.lab import cluster as clusterdir
from grpclab.lab.envoyconfig import PARENT_SHUTDOWN_S, envoy_argv
from grpclab.lab.errors import LabError
from grpclab.lab.ipam import Ipam, load_json
from grpclab.lab.preflight import address_problem

ENVOY_START_TIMEOUT = 30.0
# Envoy's hot restart: its socket (relative to Envoy's working directory, the state directory:
# a unix socket path is at most 107 bytes) and its shared memory, named machine-wide after the
# base id (Envoy adds _parent_<id*10+epoch> and friends, and /dev/shm/envoy_shared_memory_<id*10>)
HOT_RESTART_SOCKET = "envoy/hot-restart"
SHARED_MEMORY = Path("/dev/shm")


def hot_restart_base_id(state_dir: Path) -> int:
    """The cluster's own base id, kept in envoy/base-id: epoch 0 unlinks the shared memory of its
    id, so a new id is the first one, from a hash of the state directory, not in use."""
    path = state_dir / "envoy" / "base-id"
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text())
    first = 1000 + zlib.crc32(str(state_dir.resolve()).encode()) % 100_000
    base = next(
        b
        for b in range(first, first + 1000)
        if not (SHARED_MEMORY / f"envoy_shared_memory_{b * 10}").exists()
    )
    path.write_text(f"{base}\n")
    return base


def envoy_epoch(admin_info: str) -> str:
    """``LIVE <epoch>`` from Envoy's /server_info, else what it says (the old Envoy still
    answers on the admin address until the new one takes it over)."""
    try:
        info = json.loads(admin_info)
        return f"{info['state']} {info['command_line_options']['restart_epoch']}"
    except (ValueError, KeyError, TypeError):
        return admin_info[:80]


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


@dataclass
class Desired:
    state: manifests.DesiredState
    cilium: dict[str, Any] | None
    fingerprint: str


class NodeLifecycle:
    """A lab node's state, its start-up (lock, recovery, DNS, Envoy) and its shutdown; the
    reconcile loop and publishing are ``node.Node``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.config = clusterdir.read_config(state_dir)
        self.pods_dir = state_dir / "pods"
        self.wake = threading.Event()
        self.stopping = False
        self.pods: dict[str, pods.Pod] = {}
        self.desired = Desired(manifests.DesiredState(), None, "")
        self.error = ""
        self.seen_stat: tuple = ()
        self.ipam = Ipam(
            self.config.pod_network, self.config.service_network, state_dir / "ipam.json"
        )
        self.restarted_at_path = state_dir / "restarted-at.json"
        self.restarted_at: dict[str, str] = load_json(self.restarted_at_path)
        self.xds = xds.XdsFiles(state_dir / "envoy")
        self.dns: dns.ClusterDns | None = None
        self.envoy: pods.Pod | None = None
        self.envoy_epoch = 0
        self.draining: list[pods.Pod] = []  # replaced Envoys, until the new one shuts them down
        self.base_id = 0
        self.started = time.time()
        self.last_status = ""
        self.base_env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        self.base_env.update(
            PYTHONUNBUFFERED="1", GRPCLAB_DNS=f"{self.config.dns[0]}:{self.config.dns[1]}"
        )
        self.lock_file = None

    # --- start and stop ------------------------------------------------------------------

    def take_lock(self) -> None:
        self.lock_file = (self.state_dir / "node.lock").open("a+")
        try:
            fcntl.flock(self.lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabError(
                f"a node of cluster {self.config.name} already runs "
                f"(lock {self.state_dir / 'node.lock'})"
            ) from None

    def start(self) -> None:
        self.take_lock()
        self.pods_dir.mkdir(parents=True, exist_ok=True)
        orphans = pods.clean_orphans(self.pods_dir)
        for name in pidfiles.recorded_names(self.state_dir, "envoy*"):
            envoy_record = pidfiles.live_record(self.state_dir, name)
            if envoy_record is not None:
                pidfiles.stop(envoy_record, 5)
                orphans.append(name)
        if orphans:
            log(f"cleaned up what a previous node left running: {', '.join(orphans)}")
        problem = address_problem("{}:{}".format(*self.config.dns))
        if problem:
            raise LabError(problem)
        try:
            self.dns = dns.ClusterDns(*self.config.dns)  # binds at once
        except OSError as error:
            host, port = self.config.dns
            raise LabError(
                f"{host}:{port} (DNS, UDP or TCP) cannot be bound: {error.strerror or error}"
            ) from None
        self.dns.start()
        bootstrap = self.xds.prepare(admin.admin_address(self.state_dir))
        self.base_id = hot_restart_base_id(self.state_dir)
        self._start_envoy(bootstrap)
        (self.state_dir / "requests").mkdir(exist_ok=True)
        for stale in (self.state_dir / "requests").glob("*.json"):
            stale.unlink()
        log(f"node of cluster {self.config.name} up (pid {os.getpid()})")

    def _start_envoy(self, bootstrap: Path, epoch: int = 0) -> None:
        argv = envoy_argv(
            self.config.envoy_binary,
            bootstrap,
            concurrency=self.config.envoy_concurrency,
            log_level=self.config.envoy_log_level,
            hot_restart=(self.base_id, epoch, HOT_RESTART_SOCKET),
        )
        proxy = manifests.Deployment(
            name="envoy",
            namespace="kube-system",
            replicas=1,
            selector={},
            labels={},
            command=tuple(argv),
            env=(),
            ports={},
            readiness=None,
            liveness=None,
            grace=5.0,
            max_surge=1,
            max_unavailable=0,
            template_hash="envoy",
        )
        # Envoy is supervised like a pod (restarted if it dies), with its files in the state dir
        # its "pod IP" is only its POD_IP: Envoy listens on the Service addresses xDS gives it
        self.envoy = pods.Pod(
            "envoy", proxy, self.config.dns[0], self.state_dir, self.poke, self.base_env
        )
        self.envoy.start()
        envoy = self.envoy
        ready, state = processes.wait_ready(
            lambda: envoy_epoch(admin.admin_text(self.state_dir, "/server_info")),
            f"LIVE {epoch}",
            timeout=ENVOY_START_TIMEOUT,
            alive=lambda: envoy.restarts < 2 and not envoy.last_error,
        )
        if not ready:
            tail = pidfiles.log_tail(pidfiles.log_path(self.state_dir, "envoy"), 1)
            raise LabError(f"envoy did not start ({envoy.last_error or state}): {tail}")
        self.envoy_epoch = epoch

    def restart_envoy(self) -> None:
        """proxy-restart: the next epoch takes the listeners over (hot restart), the old Envoy
        drains until the new one shuts it down; killed if it outlives that by 5 s."""
        self.draining = [pod for pod in self.draining if not pod.finished]
        old = self.envoy
        if old is not None:
            retired = f"envoy-draining-{self.envoy_epoch}"
            with contextlib.suppress(FileNotFoundError):
                pidfiles.pid_path(self.state_dir, old.name).replace(
                    pidfiles.pid_path(self.state_dir, retired)
                )
            old.name = retired
            old.drain(PARENT_SHUTDOWN_S + 5)
            self.draining.append(old)
        log(f"proxy restart: envoy epoch {self.envoy_epoch + 1} takes over")
        self._start_envoy(self.xds.bootstrap_path, self.envoy_epoch + 1)

    def poke(self) -> None:
        self.wake.set()

    def shutdown(self) -> None:
        log("stopping: terminating every pod")
        for pod in self.pods.values():
            pod.terminate()
        self.publish()
        for pod in list(self.pods.values()):
            pod.join()
        for envoy in [*self.draining, self.envoy]:
            if envoy:
                envoy.terminate()
                with contextlib.suppress(ProcessLookupError, TypeError):
                    os.kill(envoy.pid, signal.SIGTERM)  # a draining one is left alone otherwise
        for envoy in [*self.draining, self.envoy]:
            if envoy:
                envoy.join()
        self._remove_hot_restart_files()
        admin.admin_socket(self.state_dir).unlink(missing_ok=True)
        if self.dns:
            self.dns.stop()
        (self.state_dir / clusterdir.STATUS).unlink(missing_ok=True)
        log("stopped")

    def _remove_hot_restart_files(self) -> None:
        """Envoy leaves its hot restart sockets and shared memory behind: the last one out."""
        for path in (self.state_dir / HOT_RESTART_SOCKET).parent.glob("hot-restart_*"):
            path.unlink(missing_ok=True)
        if self.base_id:
            (SHARED_MEMORY / f"envoy_shared_memory_{self.base_id * 10}").unlink(missing_ok=True)

    def publish(self) -> None:
        """Publish the endpoints and the status: the reconcile loop's part (``node.Node``)."""
        raise NotImplementedError
