"""The lab node: one process playing kubelet, the Deployment/ReplicaSet and EndpointSlice
controllers, kube-proxy or Cilium with cilium-envoy, and CoreDNS, for one lab cluster.

One loop (the main thread) reconciles whenever something changes: the manifests or the Cilium
config (polled every ``POLL`` seconds, a few stat calls), a pod's process or readiness (its
thread wakes the loop), a request from ``grpclab-lab`` (SIGUSR1 wakes the loop). Each pass
decides the pods (controllers.plan_rollout), starts or terminates them, and publishes the
endpoints to Envoy (xDS files), to the DNS, and to status.json. The node's start-up, recovery,
lock and shutdown are ``grpclab.lab.nodestartup``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

from grpclab.lab import cluster as clusterdir
from grpclab.lab import controllers, dns, manifestfields, manifests, pods, xds
from grpclab.lab.errors import LabError
from grpclab.lab.ipam import POD_RANGE
from grpclab.lab.names import random_suffix
from grpclab.lab.nodestartup import Desired, NodeLifecycle, log

# POD_RANGE (imported), MEMORY_PER_POD and mem_available are read by the lookup
# grpclab.lab.capacity too
POLL = 0.2
MEMORY_PER_POD = 40 * 2**20  # what a grpclab-server process takes, about


def mem_available() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 2**62


class Node(NodeLifecycle):
    """The reconcile loop of a lab node, and what it publishes to Envoy, the DNS and status.json."""

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> None:
        while not self.stopping:
            woke = self.wake.wait(POLL)
            self.wake.clear()
            if self.stopping:
                break
            # an idle pass is a few stat calls: the rest runs only when something changed
            if self.read_desired() | self.handle_requests() | woke:
                self.reconcile()
                self.publish()

    def _stat(self) -> tuple:
        paths = [
            *manifests.manifest_files(clusterdir.manifests_dir(self.state_dir)),
            self.state_dir / clusterdir.CILIUM_CONFIG,
        ]
        result = []
        for path in paths:
            with contextlib.suppress(OSError):
                stat = path.stat()
                result.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(result)

    def read_desired(self) -> bool:
        """Reload the manifests and the Cilium config if they changed; True when they did."""
        stat = self._stat()
        if stat == self.seen_stat:
            return False
        self.seen_stat = stat
        fingerprint = clusterdir.fingerprint(self.state_dir)
        if fingerprint == self.desired.fingerprint:
            return False
        try:
            state = manifests.load_files(
                manifests.manifest_files(clusterdir.manifests_dir(self.state_dir)),
                self.restarted_at,
            )
            cilium = self._read_cilium()
            self._check_capacity(state)
        except LabError as error:
            self.error = f"manifests refused, the node keeps the previous state: {error}"
            self.desired.fingerprint = fingerprint
            log(self.error)
            return True
        self.error = ""
        self.desired = Desired(state, cilium, fingerprint)
        stamps = {d.key: d.restarted_at for d in state.deployments if d.restarted_at}
        if stamps.items() - self.restarted_at.items():
            self.restarted_at.update(stamps)
            clusterdir.write_json(self.restarted_at_path, self.restarted_at)
        log(
            f"desired state {fingerprint}: {len(state.deployments)} deployments, "
            f"{len(state.services)} services, cilium {cilium or 'off'}"
        )
        return True

    def _read_cilium(self) -> dict[str, Any] | None:
        path = self.state_dir / clusterdir.CILIUM_CONFIG
        try:
            raw = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, yaml.YAMLError) as error:
            raise LabError(f"{path}: cannot be read: {error}") from error
        if not isinstance(raw, dict):
            raise LabError(f"{path}: must be a mapping")
        algorithm = raw.get(controllers.L7_ALGORITHM)
        if algorithm is not None and algorithm not in manifestfields.ALGORITHMS:
            raise LabError(
                f"{path}: {controllers.L7_ALGORITHM} must be one of "
                f"{', '.join(manifestfields.ALGORITHMS)}, not {algorithm!r}"
            )
        return raw

    def _check_capacity(self, state: manifests.DesiredState) -> None:
        wanted = sum(d.replicas + d.max_surge for d in state.deployments)
        if wanted > len(POD_RANGE):
            raise LabError(
                f"{wanted} pods (replicas plus surge) do not fit the pod range "
                f"{self.config.pod_network}.1-{POD_RANGE[-1]}"
            )
        running = sum(1 for pod in self.pods.values() if not pod.terminating)
        needed = (sum(d.replicas for d in state.deployments) - running) * MEMORY_PER_POD
        if needed > mem_available():
            raise LabError(
                f"{sum(d.replicas for d in state.deployments)} replicas need about "
                f"{needed // 2**20} MB more, MemAvailable is "
                f"{mem_available() // 2**20} MB"
            )

    def handle_requests(self) -> bool:
        paths = sorted((self.state_dir / "requests").glob("*.json"))
        for path in paths:
            try:
                request = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            path.unlink(missing_ok=True)
            if request.get("action") == "proxy-restart":
                try:
                    self.restart_envoy()
                except LabError as error:
                    self.error = f"proxy restart failed: {error}"
                    log(self.error)
            if request.get("action") == "delete-pod":
                pod = self.pods.get(str(request.get("pod")))
                if pod and not pod.terminating:
                    log(f"pod {pod.name} deleted")
                    pod.terminate()
        return bool(paths)

    def reconcile(self) -> None:
        for name in [name for name, pod in self.pods.items() if pod.finished]:
            del self.pods[name]
        wanted = {d.key: d for d in self.desired.state.deployments}
        for pod in self.pods.values():
            if pod.deployment.key not in wanted and not pod.terminating:
                pod.terminate()
        for deployment in wanted.values():
            mine = [
                pod
                for pod in self.pods.values()
                if pod.deployment.key == deployment.key and not pod.terminating
            ]
            plan = controllers.plan_rollout(deployment, mine)
            for name in plan.terminate:
                self.pods[name].terminate()
            for _ in range(plan.create):
                ip = self.ipam.pod_ip({pod.ip for pod in self.pods.values()})
                if ip is None:
                    self.error = f"the pod range {self.config.pod_network}.1-250 is full"
                    break
                name = f"{deployment.name}-{deployment.template_hash}-{random_suffix()}"
                while name in self.pods:
                    name = f"{deployment.name}-{deployment.template_hash}-{random_suffix()}"
                pod = pods.Pod(name, deployment, ip, self.pods_dir, self.poke, self.base_env)
                self.pods[name] = pod
                pod.start()

    # --- publishing: Envoy, DNS, status --------------------------------------------------

    def publish(self) -> None:
        live = [pod for pod in self.pods.values() if not pod.finished]
        self.ipam.keep_only({service.key for service in self.desired.state.services})
        proxy, dns_rows, service_rows = [], [], []
        for service in self.desired.state.services:
            endpoints = controllers.endpoints(service, live)
            l7, algorithm = controllers.l7_mode(service, self.desired.cilium)
            ip = (
                None
                if service.headless
                else self.ipam.cluster_ip(service.key, [port.port for port in service.ports])
            )
            if ip:
                for port in service.ports:
                    cluster = controllers.cluster_name(service, port.port)
                    mine = [
                        (a, p)
                        for a, p in endpoints
                        if len(service.ports) == 1 or p == port.target_port
                    ]
                    proxy.append(
                        xds.ProxyService(cluster, (ip, port.port), l7, algorithm, tuple(mine))
                    )
            addresses = sorted({a for a, _ in endpoints}) if service.headless else [ip]
            dns_rows.append((service.name, service.namespace, [a for a in addresses if a]))
            service_rows.append(
                {
                    "name": service.name,
                    "namespace": service.namespace,
                    "type": "Headless" if service.headless else "ClusterIP",
                    "cluster_ip": ip or "None",
                    "port": service.ports[0].port,
                    "ports": [p.port for p in service.ports],
                    "mode": "L7" if l7 else "L4",
                    "algorithm": algorithm or ("n/a" if service.headless else "random"),
                    "endpoints": [f"{a}:{p}" for a, p in endpoints],
                }
            )
        written = self.xds.apply(proxy)
        if written:
            log(f"xds: wrote {', '.join(written)}")
        if self.dns:
            self.dns.update(dns.records(dns_rows))
        self.write_status(service_rows)

    def write_status(self, service_rows: list[dict[str, Any]]) -> None:
        pod_rows = [
            {
                "name": pod.name,
                "namespace": pod.deployment.namespace,
                "deployment": pod.deployment.name,
                "ip": pod.ip,
                "ready": pod.ready,
                "phase": pod.phase,
                "restarts": pod.restarts,
                "pid": pod.pid,
                "created": round(pod.created, 3),
                "template_hash": pod.template_hash,
                "error": pod.last_error,
                "ready_at": round(pod.ready_at, 4),
            }
            for pod in sorted(self.pods.values(), key=lambda pod: pod.name)
            if not pod.finished
        ]
        deployments = []
        for deployment in self.desired.state.deployments:
            mine = [
                row
                for row in pod_rows
                if row["deployment"] == deployment.name and row["namespace"] == deployment.namespace
            ]
            current = [row for row in mine if row["phase"] != "Terminating"]
            deployments.append(
                {
                    "name": deployment.name,
                    "namespace": deployment.namespace,
                    "replicas": deployment.replicas,
                    "ready": sum(row["ready"] for row in current),
                    "updated": sum(
                        row["template_hash"] == deployment.template_hash for row in current
                    ),
                    "available": sum(row["ready"] for row in current),
                    "total": len(mine),
                    "template_hash": deployment.template_hash,
                }
            )
        status = {
            "node": {
                "pid": os.getpid(),
                "started": self.started,
                "envoy_pid": self.envoy.pid if self.envoy else None,
                "envoy_epoch": self.envoy_epoch,
                "envoy_draining": [p.pid for p in self.draining if p.pid and not p.finished],
                "cluster": self.config.name,
            },
            "manifests": self.desired.fingerprint,
            "error": self.error,
            "pods": pod_rows,
            "services": service_rows,
            "deployments": deployments,
        }
        text = json.dumps(status, sort_keys=True)
        if text != self.last_status:
            self.last_status = text
            clusterdir.write_json(self.state_dir / clusterdir.STATUS, status)


def run_node(state_dir: Path) -> int:
    node = Node(state_dir)

    def stop(_signum: int, _frame: object) -> None:
        node.stopping = True
        node.wake.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, lambda _s, _f: node.wake.set())
    try:
        node.start()
    except LabError:
        if node.envoy:
            node.envoy.terminate()
            node.envoy.join()
        raise
    try:
        node.wake.set()
        node.run()
    finally:
        node.shutdown()
    sys.stdout.flush()
    return 0
