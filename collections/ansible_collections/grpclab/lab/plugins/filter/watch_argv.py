# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.watch_argv: the monitor's command line (grpclab-probe --watch) from the
watch role's settings, with the probe's own flag names for any service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.grpclab.lab.plugins.filter.probe_argv import service_options

DOCUMENTATION = r"""
---
name: watch_argv
short_description: The monitor's argv (grpclab-probe --watch) for a target and the watch settings
version_added: 2.0.0
description:
  - C(grpclab-probe --watch --target TARGET), the window's options (C(--expect), C(--replicas),
    C(--rate), C(--window), C(--connections), C(--min-share), C(--max-error-rate),
    C(--timeout)), C(--metrics-address), then the options for any service as
    grpclab.lab.probe_argv writes them, each only when set - C(--call), C(-d) (a mapping is
    written as JSON), one C(--identity) per spec, C(--tls), C(--cacert), C(--cert), C(--key),
    C(--server-name), C(--authority).
  - Never C(-H) nor C(--messages) - header values would be readable in the Deployment's command,
    and C(--watch) refuses streams.
options:
  _input:
    description: The monitor's target (C(host:port), C(dns:///name:port), ...).
    type: str
    required: true
  settings:
    description: >-
      expect, replicas, rate, window, connections, min_share, max_error_rate, timeout,
      metrics_address; optional call, data, identity (list), tls, cacert, cert, key,
      server_name, authority.
    type: dict
    required: true
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: The monitor's command in its pod
  ansible.builtin.set_fact:
    argv: "{{ 'orders.shop.svc.cluster.local:50051' | grpclab.lab.watch_argv(settings) }}"
"""

RETURN = r"""
_value:
  description: The argv, every item a string.
  type: list
  elements: str
"""

WINDOW_OPTIONS = (
    ("expect", "--expect"),
    ("replicas", "--replicas"),
    ("rate", "--rate"),
    ("window", "--window"),
    ("connections", "--connections"),
    ("min_share", "--min-share"),
    ("max_error_rate", "--max-error-rate"),
    ("timeout", "--timeout"),
    ("metrics_address", "--metrics-address"),
)
# what the watch role never passes, whatever the settings hold (see the description)
LEFT_OUT = ("headers", "messages")


def watch_argv(target: str, settings: Mapping[str, Any]) -> list[str]:
    options: list[Any] = ["grpclab-probe", "--watch", "--target", target]
    for key, flag in WINDOW_OPTIONS:
        options += [flag, settings[key]]
    given = {key: value for key, value in settings.items() if key not in LEFT_OUT}
    options += service_options(given)
    return [item if isinstance(item, str) else str(item) for item in options]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"watch_argv": watch_argv}
