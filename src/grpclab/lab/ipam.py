"""The lab's address plan: pod IPs and ClusterIPs on two loopback /24s.

Pod IPs are ``<podNetwork>.1-.250``, given round the range so that a new pod gets an address no
pod held just before it. ClusterIPs are ``<serviceNetwork>.1-.200``, the first free one in
manifest order, kept for a Service's life (persisted in ipam.json, so a restarted node gives the
same ones back) and freed when the Service is deleted.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection, Iterable
from pathlib import Path

from grpclab.lab.cluster import write_json
from grpclab.sockets import bind_error

POD_RANGE = range(1, 251)
SERVICE_RANGE = range(1, 201)


def load_json(path: Path) -> dict:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text())
        if isinstance(data, dict):
            return data
    return {}


class Ipam:
    def __init__(self, pod_network: str, service_network: str, path: Path) -> None:
        self.pod_network = pod_network
        self.service_network = service_network
        self.path = path
        self.cluster_ips: dict[str, str] = dict(load_json(path).get("services", {}))
        self._next_pod = 1

    def pod_ip(self, held: Collection[str]) -> str | None:
        """The next address after the last one given that no pod holds (None: range full)."""
        for step in range(len(POD_RANGE)):
            index = (self._next_pod - 1 + step) % len(POD_RANGE) + 1
            ip = f"{self.pod_network}.{index}"
            if ip not in held:
                self._next_pod = index % len(POD_RANGE) + 1
                return ip
        return None

    def cluster_ip(self, key: str, ports: Iterable[int]) -> str | None:
        """The Service's ClusterIP: its own, else the first free address whose ``ports``
        nothing else listens on (Envoy could not bind them)."""
        if key not in self.cluster_ips:
            used = set(self.cluster_ips.values())
            ports = list(ports)
            free = [
                ip
                for ip in (f"{self.service_network}.{i}" for i in SERVICE_RANGE)
                if ip not in used and all(bind_error(ip, port) is None for port in ports)
            ]
            if not free:
                return None
            self.cluster_ips[key] = free[0]
            self._save()
        return self.cluster_ips[key]

    def keep_only(self, keys: Collection[str]) -> None:
        """Free the ClusterIPs of the Services not in ``keys`` (deleted)."""
        if self.cluster_ips.keys() - set(keys):
            self.cluster_ips = {k: v for k, v in self.cluster_ips.items() if k in keys}
            self._save()

    def _save(self) -> None:
        write_json(self.path, {"services": self.cluster_ips})
