# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.lab_addresses: the host:port a lab node will bind, checked free before it
starts."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: lab_addresses
short_description: The addresses a lab cluster's node will bind
version_added: 2.0.0
description:
  - A pod address for each server replica and the client (the node hands them out from C(.1) of the
    pod network), the first two ClusterIPs (the node gives them in manifest order - C(grpc-server),
    C(grpc-server-l4)), each on O(port); then O(extra) (the node's DNS and Envoy's admin) as given.
options:
  _input:
    description: The first three octets of the pod network (C(grpclab_lab_pod_network)).
    type: str
    required: true
  service_network:
    description: The first three octets of the Service network.
    type: str
    required: true
  replicas:
    description: Server replicas.
    type: int
    required: true
  port:
    description: The gRPC port.
    type: int
    required: true
  extra:
    description: More host:port the node binds.
    type: list
    elements: str
    default: []
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: The addresses to check
  ansible.builtin.debug:
    msg: "{{ '127.0.1' | grpclab.lab.lab_addresses('127.0.2', 3, 50051, ['127.0.2.253:10053']) }}"
"""

RETURN = r"""
_value:
  description: host:port strings, pods first.
  type: list
  elements: str
"""

SERVICES = 2  # ClusterIPs planned: grpc-server and grpc-server-l4


def lab_addresses(
    pod_network: str, service_network: str, replicas: int, port: int, extra: list[str] | None = None
) -> list[str]:
    pods = [f"{pod_network}.{n}:{int(port)}" for n in range(1, int(replicas) + 2)]
    services = [f"{service_network}.{n}:{int(port)}" for n in range(1, SERVICES + 1)]
    return pods + services + [str(address) for address in extra or []]


class FilterModule:
    def filters(self):
        return {"lab_addresses": lab_addresses}
