#!/usr/bin/python
# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Ansible module grpclab.lab.prerequisites: gathers what the controller has; grpclab.prerequisites
judges it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.grpclab.lab.plugins.module_utils.grpclab_package import import_grpclab

DOCUMENTATION = r"""
---
module: prerequisites
short_description: Check the controller's prerequisites of the kind and existing platforms
version_added: 1.0.0
description:
  - Resolves the Docker endpoint as the docker CLI does (E(DOCKER_HOST), else the E(DOCKER_CONTEXT)
    or current context's endpoint, else the default socket) and asks that engine for its version.
  - Asks each tool for its version, checks the Python kubernetes client and, with Helm 4, that
    kubernetes.core supports it; on kind, reads the inotify limits.
  - Returns one line per missing prerequisite in RV(problems), saying how to get it.
  - Changes nothing.
  - Sets the facts C(grpclab_tool_paths) and, with O(docker), C(grpclab_docker_host), the endpoint
    the community.docker modules and kind are then given.
options:
  docker:
    description: Check the Docker engine.
    type: bool
    default: false
  tools:
    description: Tools to check.
    type: list
    elements: str
    choices: [kind, helm]
    default: []
  bin_dir:
    description: Where grpclab installed the pinned tools; empty takes them from E(PATH).
    type: str
    default: ""
  minimum:
    description: Lowest version of each tool (overrides grpclab's own).
    type: dict
    default: {}
  install_hint:
    description: How to get each tool, by name (a line of text).
    type: dict
    default: {}
  helm4_kubernetes_core_min:
    description: kubernetes.core release that supports Helm 4.
    type: str
    default: "6.4.0"
  kind_clusters:
    description:
      - kind clusters run at once (compare runs 2).
      - Below kind's inotify values that is an error; with 1 cluster, a warning.
    type: int
    default: 1
  ansible_config:
    description: The ansible.cfg in use, for C(ansible-galaxy collection list).
    type: str
    default: ""
extends_documentation_fragment:
  - grpclab.lab.common
"""

EXAMPLES = r"""
- name: Check Docker, kind and helm
  grpclab.lab.prerequisites:
    docker: true
    tools: [kind, helm]
  register: prerequisites
"""

RETURN = r"""
problems:
  description: One line per missing prerequisite, with how to get it.
  type: list
  elements: str
  returned: always
docker_host:
  description: The Docker endpoint checked, and what chose it.
  type: dict
  returned: when O(docker) is true
"""

VERSION_ARGS = {"kind": ["version"], "helm": ["version", "--short"]}
MINIMUM = {"kind": "0.31.0", "helm": "3.10.0"}


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return 1, ""
    return done.returncode, done.stdout


def kubernetes_core_version(ansible_config: str) -> str:
    galaxy = (
        shutil.which("ansible-galaxy", path=os.path.dirname(sys.executable)) or "ansible-galaxy"
    )
    env = {**os.environ, **({"ANSIBLE_CONFIG": ansible_config} if ansible_config else {})}
    rc, out = run([galaxy, "collection", "list", "kubernetes.core", "--format", "json"], env)
    try:
        paths = json.loads(out) if rc == 0 else {}
        return next(
            iter(
                collections["kubernetes.core"]["version"]
                for collections in paths.values()
                if "kubernetes.core" in collections
            )
        )
    except (ValueError, StopIteration, KeyError, TypeError, AttributeError):
        return ""


def engine_version(logic, host: str) -> tuple[str, str]:
    """(version, "") from the engine at host, or ("", why not); ssh:// and TLS through the CLI."""
    tls = bool(os.environ.get("DOCKER_TLS_VERIFY")) and not host.startswith("unix://")
    if host.startswith(("unix://", "tcp://", "http://")) and not tls:
        try:
            return logic.docker_server_version(host), ""
        except OSError as error:
            return "", str(error) or type(error).__name__
    rc, out = run(["docker", "--host", host, "version", "--format", "{{.Server.Version}}"])
    if rc == 0 and out.strip():
        return out.strip(), ""
    return "", f"docker version --host {host} failed"


def inotify_limits() -> dict[str, int]:
    limits = {}
    for key in ("max_user_watches", "max_user_instances"):
        with contextlib.suppress(OSError, ValueError):
            limits[key] = int(Path(f"/proc/sys/fs/inotify/{key}").read_text())
    return limits


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "docker": {"type": "bool", "default": False},
            "tools": {
                "type": "list",
                "elements": "str",
                "choices": ["kind", "helm"],
                "default": [],
            },
            "bin_dir": {"type": "str", "default": ""},
            "minimum": {"type": "dict", "default": {}},
            "install_hint": {"type": "dict", "default": {}},
            "helm4_kubernetes_core_min": {"type": "str", "default": "6.4.0"},
            "kind_clusters": {"type": "int", "default": 1},
            "ansible_config": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    logic = import_grpclab(module, "prerequisites")
    params = module.params
    paths = {
        name: os.path.join(params["bin_dir"], name) if params["bin_dir"] else name
        for name in ("kind", "helm")
    }
    found = logic.Found()
    for name in params["tools"]:
        rc, out = run([paths[name], *VERSION_ARGS[name]])
        found.tools[name] = out if rc == 0 else ""
    if "helm" in params["tools"]:
        found.kubernetes_core = kubernetes_core_version(params["ansible_config"])
    try:
        import kubernetes  # noqa: F401  (the client kubernetes.core needs, beside Ansible)
        import yaml  # noqa: F401
    except ImportError as error:
        found.kubernetes_client_error = str(error)
    facts: dict[str, object] = {"grpclab_tool_paths": {"docker": "docker", **paths}}
    result: dict[str, object] = {}
    if params["docker"]:
        try:
            endpoint = logic.docker_endpoint(dict(os.environ), Path.home())
        except logic.EndpointError as error:
            found.docker_error = str(error)
        else:
            found.docker_endpoint = endpoint
            facts["grpclab_docker_host"] = endpoint.host
            result["docker_host"] = {"host": endpoint.host, "source": endpoint.source}
            found.docker, found.docker_error = engine_version(logic, endpoint.host)
    if "kind" in params["tools"]:
        found.inotify = inotify_limits()
    wanted = logic.Wanted(
        tools=tuple(
            logic.Tool(
                name,
                str(params["minimum"].get(name) or MINIMUM[name]),
                str(params["install_hint"].get(name, "")),
            )
            for name in params["tools"]
        ),
        docker=params["docker"],
        helm4_kubernetes_core_min=params["helm4_kubernetes_core_min"],
        kind_clusters=params["kind_clusters"],
        python=sys.executable,
    )
    errors, warnings = logic.problems(wanted, found)
    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=False, problems=errors, ansible_facts=facts, **result)


if __name__ == "__main__":
    main()
