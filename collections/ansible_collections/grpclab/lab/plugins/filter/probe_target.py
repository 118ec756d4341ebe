# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.probe_target: what the probe dials for grpc_probe_target, on a platform."""

from __future__ import annotations

import re
from typing import Any

DOCUMENTATION = r"""
---
name: probe_target
short_description: The probe's gRPC target for grpc_probe_target, or one line saying why not
version_added: 2.0.0
description:
  - A target with a scheme (C(dns:///name:port), C(dns://server/name:port), C(ipv4:a:p,b:p),
    C(ipv6:), C(unix:)) or a C(host:port) whose host is an address or a name of three labels
    or more is dialled as it is.
  - C(<service>.<namespace>:<port>) (or C(<service>.<namespace>.svc[.<domain>]:<port>)) names a
    Kubernetes Service. On kind and existing it becomes
    C(<service>.<namespace>.svc.<domain>:<port>), resolved in the probe's pod. On the lab the
    result only names the Service (target null) - the grpc_probe role looks it up on the lab
    node as it does the scenario's Service.
  - Never raises - a target that does not parse gives C(error), one line the play fails with.
options:
  _input:
    description: grpc_probe_target.
    type: str
    required: true
  platform:
    description: lab, kind or existing.
    type: str
    required: true
  domain:
    description: The cluster's DNS domain.
    type: str
    default: cluster.local
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: What the probe dials
  ansible.builtin.set_fact:
    target: "{{ 'orders.shop:50051' | grpclab.lab.probe_target('existing') }}"
    # {'target': 'orders.shop.svc.cluster.local:50051', 'host': 'orders.shop.svc.cluster.local',
    #  'service': {'name': 'orders', 'namespace': 'shop', 'port': 50051}, 'error': None}
"""

RETURN = r"""
_value:
  description: >-
    target (what the probe dials, or null for a lab Service, which the role looks up),
    host (the name to resolve, null for addresses and schemes), service (name, namespace, port
    of a Service target, else null), error (one line, else null).
  type: dict
"""

SCHEMES = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:", "xds:")
LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
SERVICE = re.compile(rf"^(?P<name>{LABEL})\.(?P<namespace>{LABEL})(\.svc(\.[-a-z0-9.]+)?)?$")
HOST_PORT = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[^:\[\]/\s]+):(?P<port>[0-9]{1,5})$")


def _result(target=None, host=None, service=None, error=None) -> dict[str, Any]:
    return {"target": target, "host": host, "service": service, "error": error}


def _address(host: str) -> bool:
    return host.startswith("[") or bool(re.fullmatch(r"[0-9.]+", host))


def probe_target(
    target: Any,
    platform: str,
    domain: str = "cluster.local",
) -> dict[str, Any]:
    text = "" if target is None else str(target).strip()
    if not text or any(ch.isspace() for ch in text):
        return _result(
            error=f"grpc_probe_target {text!r} is not a gRPC target: give host:port, "
            "dns:///name:port or <service>.<namespace>:<port>"
        )
    if text.lower().startswith(SCHEMES):
        return _result(text)
    match = HOST_PORT.match(text)
    if not match or not 0 < int(match["port"]) < 65536:
        return _result(
            error=f"grpc_probe_target {text} has no port: give host:port, dns:///name:port "
            "or <service>.<namespace>:<port>"
        )
    host, port = match["host"], int(match["port"])
    named = None if _address(host) else SERVICE.match(host.lower())
    if named is None:
        return _result(text, None if _address(host) else host)
    service = {"name": named["name"], "namespace": named["namespace"], "port": port}
    if platform == "lab":
        return _result(service=service)
    fqdn = f"{service['name']}.{service['namespace']}.svc.{domain}"
    return _result(f"{fqdn}:{port}", fqdn, service)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"probe_target": probe_target}
