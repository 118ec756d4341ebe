"""The lab node for the tests and the benchmarks: its manifests, rendered from the grpc_apps
role's own templates, and ``start_lab_node``, a real ``grpclab-lab node`` on a state directory.

``lab_manifests()`` renders roles/grpc_apps/templates with Ansible's own templating (its Templar,
in this process: no ansible-playbook, no subprocess, so the unit tier can use it too) from the
variables the role sees on the lab: roles/grpclab and roles/grpc_apps defaults, the lab
inventory's group_vars, the role's vars, then the test's own variables, which win as ``-e`` would.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from servers import START_TIMEOUT, _tail, envoy_binary, spawn, stop

from grpclab.lab.admin import admin_request
from grpclab.lab.processes import wait_ready

REPO = Path(__file__).resolve().parents[2]
LAB_PORT = 50051
# what the role's variables are read from, in Ansible's order (later wins)
VARIABLE_FILES = (
    "roles/grpclab/defaults/main.yml",
    "roles/grpc_apps/defaults/main.yml",
    "inventories/lab/group_vars/grpclab/*.yml",
    "roles/grpc_apps/vars/main.yml",
    "roles/grpc_apps/vars/lab.yml",
)
TEMPLATES = REPO / "roles" / "grpc_apps" / "templates"
# the server's manifests; the walk-through client (client-deployment) only when asked for
SERVER_MANIFESTS = ("namespaces", "server-deployment", "services")


@functools.cache
def _role_variables() -> dict[str, Any]:
    """The variables grpc_apps renders with on the lab, before a test's own (read once)."""
    loader = DataLoader()
    variables: dict[str, Any] = {}
    for pattern in VARIABLE_FILES:
        for path in sorted(REPO.glob(pattern)):
            variables.update(loader.load_from_file(str(path)) or {})
    return variables


@functools.cache
def _render(names: tuple[str, ...], variables: tuple[tuple[str, str], ...]) -> dict[str, str]:
    values = {**_role_variables(), **{key: json.loads(value) for key, value in variables}}
    templar = Templar(loader=DataLoader(), variables=values)
    return {
        f"{name}.yaml": templar.template(
            trust_as_template((TEMPLATES / f"{name}.yaml.j2").read_text()), escape_backslashes=False
        )
        for name in names
    }


def lab_manifests(
    *,
    replicas: int = 3,
    grace: int = 1,
    lb_l7: bool = True,
    names: Sequence[str] = SERVER_MANIFESTS,
    **variables: Any,
) -> dict[str, str]:
    """grpc_apps' manifests as the role renders them on the lab, file name -> YAML text.

    ``replicas``, ``grace`` (the server's drain, seconds) and ``lb_l7`` are grpclab_replicas,
    grpc_apps_server_grace_period and grpc_apps_lb_l7; ``variables`` are any other of the
    role's (e.g. grpc_apps_server_max_connection_age=2). The pods get 2 s beyond their drain
    (grpc_apps_termination_margin) unless told otherwise, so that the tests' kills are quick.
    Rendered once per set of variables in a session.
    """
    given = {
        "grpclab_replicas": replicas,
        "grpc_apps_server_grace_period": grace,
        "grpc_apps_lb_l7": lb_l7,
        "grpc_apps_termination_margin": 2,
        **variables,
    }
    key = tuple(sorted((name, json.dumps(value)) for name, value in given.items()))
    return dict(_render(tuple(names), key))


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

    def admin(self, path: str, method: str = "GET") -> str:
        """The body of a request to Envoy's admin, on its unix socket in the state directory."""
        status, body = admin_request(self.state_dir, path, method, timeout=5.0)
        assert status == 200, f"{method} {path}: {status} {body[:200]}"
        return body

    def cli(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        """``grpclab-lab ARGS --state-dir <this node>`` as a real process."""
        return subprocess.run(
            [sys.executable, "-m", "grpclab.lab", *args, "--state-dir", str(self.state_dir)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def status(self) -> dict:
        return json.loads((self.state_dir / "status.json").read_text())

    def write_manifests(self, files: dict[str, str]) -> None:
        folder = self.state_dir / "manifests"
        folder.mkdir(exist_ok=True)
        for name, text in files.items():
            tmp = folder / f".{name}.tmp"
            tmp.write_text(text)
            tmp.replace(folder / name)

    def rollout(self, timeout: float = 60.0) -> None:
        done = self.cli(
            "rollout",
            "status",
            "deployment",
            "grpc-server",
            "--timeout",
            str(timeout),
            timeout=timeout + 10,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def service(self, name: str) -> dict:
        return next(s for s in self.status()["services"] if s["name"] == name)

    def target(self, name: str) -> str:
        return f"{self.service(name)['cluster_ip']}:{LAB_PORT}"

    def server_pods(self) -> list[dict]:
        return [p for p in self.status()["pods"] if p["deployment"] == "grpc-server"]

    def stop(self, timeout: float = 30.0) -> None:
        stop(self.process, timeout)


def start_lab_node(
    state_dir: Path,
    pod_network: str,
    service_network: str,
    files: dict[str, str] | None = None,
    *,
    cilium: bool = True,
    timeout: float = START_TIMEOUT,
    dns_address: str | None = None,
) -> LabNode:
    """Write cluster.yaml (and ``files`` as the manifests, cilium-config.yaml when ``cilium``)
    into ``state_dir`` and run ``grpclab-lab node`` there until ``get pods`` answers. The DNS is
    on ``dns_address``, else ``<service network>.253:10053``."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "cluster.yaml").write_text(
        yaml.safe_dump(
            {
                "name": state_dir.name,
                "podNetwork": pod_network,
                "serviceNetwork": service_network,
                "dnsAddress": dns_address or f"{service_network}.253:10053",
                "envoyBinary": envoy_binary(),
            }
        )
    )
    if cilium:
        (state_dir / "cilium-config.yaml").write_text(
            "loadbalancer-l7: envoy\nloadbalancer-l7-algorithm: round_robin\n"
        )
    log = state_dir / "node.out"
    process = spawn(
        [sys.executable, "-m", "grpclab.lab", "--state-dir", str(state_dir), "node"], log
    )
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
