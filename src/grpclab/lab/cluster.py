"""A lab cluster's state directory: its config (cluster.yaml), the node's status and requests.

Shared by the node (which writes status.json and reads requests/) and ``grpclab-lab`` (which
reads status.json and writes requests/ and the manifests).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grpclab.lab.admin import ADMIN_SOCKET
from grpclab.lab.envoyconfig import find_envoy_binary
from grpclab.lab.errors import LabError
from grpclab.lab.manifests import manifest_files
from grpclab.lab.pidfiles import proc_cmdline
from grpclab.lab.preflight import split_address

DEFAULT_CLUSTER = "grpclab-cilium"
STATUS = "status.json"
CILIUM_CONFIG = "cilium-config.yaml"


@dataclass(frozen=True)
class ClusterConfig:
    """cluster.yaml: the lab's "kind config"."""

    name: str
    pod_network: str
    service_network: str
    dns: tuple[str, int]
    envoy_binary: str
    envoy_concurrency: int = 1
    envoy_log_level: str = "warn"


def parse_network(value: Any, what: str) -> str:
    """A /24 given as its first three octets (``127.0.1``), within 127.0.0.0/8."""
    try:
        address = ipaddress.ip_address(f"{value}.1")
    except ValueError as error:
        raise LabError(f"{what} {value!r} is not the first three octets of an address") from error
    if not address.is_loopback:
        raise LabError(f"{what} {value!r} is not a loopback range (127.x.y)")
    return str(value)


def read_config(state_dir: Path) -> ClusterConfig:
    path = state_dir / "cluster.yaml"
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise LabError(f"{path}: cannot be read: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise LabError(f"{path}: is not valid YAML") from error
    if not isinstance(raw, dict):
        raise LabError(f"{path}: must be a mapping")
    known = {
        "name",
        "podNetwork",
        "serviceNetwork",
        "dnsAddress",
        "envoyBinary",
        "envoyConcurrency",
        "envoyLogLevel",
    }
    for key in raw:
        if key == "envoyAdmin":
            raise LabError(
                f"{path}: envoyAdmin is gone: Envoy's admin is the unix socket {ADMIN_SOCKET} "
                "in the state directory, never TCP"
            )
        if key not in known:
            raise LabError(f"{path}: {key} is not a cluster.yaml field")
    for key in ("podNetwork", "serviceNetwork", "dnsAddress"):
        if key not in raw:
            raise LabError(f"{path}: {key} is required")
    binary = raw.get("envoyBinary") or find_envoy_binary()
    if not binary:
        raise LabError(f"{path}: envoyBinary is not set and no envoy is installed")
    try:
        return ClusterConfig(
            name=str(raw.get("name") or state_dir.name),
            pod_network=parse_network(raw["podNetwork"], "podNetwork"),
            service_network=parse_network(raw["serviceNetwork"], "serviceNetwork"),
            dns=split_address(str(raw["dnsAddress"])),
            envoy_binary=str(binary),
            envoy_concurrency=int(raw.get("envoyConcurrency", 1)),
            envoy_log_level=str(raw.get("envoyLogLevel", "warn")),
        )
    except (LabError, ValueError) as error:
        raise LabError(f"{path}: {error}") from None


def state_dir_of(state_root: str | None, cluster: str | None, state_dir: str | None) -> Path:
    if state_dir:
        return Path(state_dir)
    return Path(state_root or ".grpclab") / "lab" / (cluster or DEFAULT_CLUSTER)


def manifests_dir(state_dir: Path) -> Path:
    return state_dir / "manifests"


def fingerprint(state_dir: Path) -> str:
    """What the desired state is now: a hash of the manifests and the Cilium config."""
    digest = hashlib.sha256()
    for path in [*manifest_files(manifests_dir(state_dir)), state_dir / CILIUM_CONFIG]:
        with contextlib.suppress(OSError):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def write_json(path: Path, data: Any) -> None:
    """Atomically: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


def node_alive(pid: int) -> bool:
    cmdline = proc_cmdline(pid)
    return bool(cmdline) and "node" in cmdline


def read_status(state_dir: Path, cluster: str) -> dict[str, Any]:
    """The running node's status; LabError when no node runs for the cluster."""
    path = state_dir / STATUS
    try:
        status = json.loads(path.read_text())
    except FileNotFoundError:
        raise LabError(
            f"node of cluster {cluster} is not running: no {path} (start it with: grpclab-lab node)"
        ) from None
    except (OSError, ValueError) as error:
        raise LabError(f"node of cluster {cluster}: {path} is unreadable: {error}") from error
    pid = int(status.get("node", {}).get("pid", 0))
    if not node_alive(pid):
        raise LabError(f"node of cluster {cluster} is not running: its pid {pid} is gone")
    return status


def send_request(state_dir: Path, status: dict[str, Any], request: dict[str, Any]) -> None:
    """Hand ``request`` to the running node and wake it up."""
    requests = state_dir / "requests"
    requests.mkdir(exist_ok=True)
    write_json(requests / f"{time.time():.6f}-{secrets.token_hex(3)}.json", request)
    wake(status)


def wake(status: dict[str, Any]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(int(status["node"]["pid"]), signal.SIGUSR1)
