# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.probe_argv: the probe's command line from the grpc_probe role's settings,
the same on every platform (only the program and the target differ)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

DOCUMENTATION = r"""
---
name: probe_argv
short_description: The grpclab probe's argv for a target and the grpc_probe role's settings
version_added: 2.0.0
description:
  - Over time (O(settings.duration) above 0) C(--duration)/C(--rate); else C(--calls) and
    C(--concurrency) only when set (unset, the probe sizes its calls for the replicas).
  - C(--expect none) when the role judges the timeline itself (V(rotating)).
  - Any service (the probe's grpcurl/ghz flag names), each only when set - C(--call), C(-d)
    (a mapping or list is written as JSON), one C(--identity) per spec, C(--messages), C(--tls),
    C(--cacert), C(--cert), C(--key), C(--server-name), C(--authority), one C(-H) per header.
    Header values are secrets - every task that carries the argv sets C(no_log) when
    O(settings.headers) is not empty.
options:
  _input:
    description: The probe's target (C(host:port), C(dns:///name:port), ...).
    type: str
    required: true
  program:
    description: The command before the options (C(python -m grpclab.probe) or C(grpclab-probe)).
    type: list
    elements: str
    required: true
  settings:
    description: >-
      duration, rate, calls, concurrency, connections, expect, replicas, min_share,
      max_error_rate, timeout, lb; optional call, data, identity (list), messages, tls,
      cacert, cert, key, server_name, authority, headers (list of C(name: value)).
    type: dict
    required: true
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: The probe's command in the client pod
  ansible.builtin.set_fact:
    argv: >-
      {{ 'grpc-server.grpclab.svc.cluster.local:50051'
         | grpclab.lab.probe_argv(['grpclab-probe'], settings) }}
"""

RETURN = r"""
_value:
  description: The argv, every item a string.
  type: list
  elements: str
"""

# promises the role judges itself over the probe's timeline: the probe only reports
JUDGED_BY_THE_ROLE = frozenset({"rotating"})


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _set(value: Any) -> bool:
    return value is not None and value != ""


# (setting, flag) of the transport's options that take one value, given only when set
TRANSPORT_OPTIONS = (
    ("cacert", "--cacert"),
    ("cert", "--cert"),
    ("key", "--key"),
    ("server_name", "--server-name"),
    ("authority", "--authority"),
)


def _data(value: Any) -> str:
    """The request: JSON text as it is, a mapping or a list (YAML in a play) written as JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _true(value: Any) -> bool:
    return value is True or str(value).strip().lower() in {"true", "yes", "on", "1"}


def service_options(settings: Mapping[str, Any]) -> list[Any]:
    """The options that point the probe at any service: method, request, identity, streams,
    transport and metadata, each only when set (unset, the probe's own default holds)."""
    options: list[Any] = []
    if _set(settings.get("call")):
        options += ["--call", settings["call"]]
    data = settings.get("data")
    if _set(data) and data != {}:
        options += ["-d", _data(data)]
    for spec in settings.get("identity") or []:
        options += ["--identity", spec]
    if _set(settings.get("messages")):
        options += ["--messages", settings["messages"]]
    if _true(settings.get("tls")):
        options.append("--tls")
    for key, flag in TRANSPORT_OPTIONS:
        if _set(settings.get(key)):
            options += [flag, settings[key]]
    for header in settings.get("headers") or []:
        options += ["-H", header]
    return options


def probe_argv(target: str, program: Sequence[Any], settings: Mapping[str, Any]) -> list[str]:
    """``program --target TARGET OPTIONS``: the probe's options in a fixed order."""
    options: list[Any] = []
    if float(settings.get("duration") or 0) > 0:
        options += ["--duration", settings["duration"], "--rate", settings["rate"]]
    else:
        if _set(settings.get("calls")):
            options += ["--calls", settings["calls"]]
        if _set(settings.get("concurrency")):
            options += ["--concurrency", settings["concurrency"]]
    expect = settings["expect"]
    options += [
        "--connections",
        settings["connections"],
        "--expect",
        "none" if expect in JUDGED_BY_THE_ROLE else expect,
        "--replicas",
        settings["replicas"],
        "--min-share",
        settings["min_share"],
        "--max-error-rate",
        settings["max_error_rate"],
        "--timeout",
        settings["timeout"],
        "--connect-timeout",
        settings["timeout"],
        "--lb",
        settings["lb"],
        "--json",
        *service_options(settings),
    ]
    return [_text(item) for item in [*program, "--target", target, *options]]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"probe_argv": probe_argv}
