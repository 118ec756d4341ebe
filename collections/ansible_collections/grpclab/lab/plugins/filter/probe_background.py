# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.probe_background: the shell line that runs the probe in the background in
a pod, its output, stderr and exit code in files, the exit code's file appearing whole."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

DOCUMENTATION = r"""
---
name: probe_background
short_description: A shell line running a command in the background, its exit code atomic
version_added: 2.0.0
description:
  - Runs the argv detached, stdout into C(<base>.json), stderr into C(<base>.err). Its exit code
    goes to C(<base>.rc.tmp), then is renamed to C(<base>.rc), so a poll that finds the file
    always reads a whole exit code (never the empty file a redirection creates first).
  - Returns C(sh -c '...'), quoted for k8s_exec (which splits with shlex).
options:
  _input:
    description: The command to run.
    type: list
    elements: str
    required: true
  base:
    description: Path prefix of the files.
    type: str
    default: /tmp/churn
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Start the probe in the pod
  kubernetes.core.k8s_exec:
    pod: grpc-client-0
    namespace: grpclab-client
    command: "{{ argv | grpclab.lab.probe_background }}"
"""

RETURN = r"""
_value:
  description: The shell command line.
  type: str
"""


def background_script(argv: Sequence[Any], base: str = "/tmp/churn") -> str:
    """The shell script (what sh -c runs)."""
    command = " ".join(shlex.quote(str(item)) for item in argv)
    rc, tmp = shlex.quote(f"{base}.rc"), shlex.quote(f"{base}.rc.tmp")
    out, err = shlex.quote(f"{base}.json"), shlex.quote(f"{base}.err")
    return (
        f"rm -f {rc} {tmp}; ({command} > {out} 2> {err}; echo $? > {tmp}; mv -f {tmp} {rc})"
        " < /dev/null > /dev/null 2>&1 &"
    )


def probe_background(argv: Sequence[Any], base: str = "/tmp/churn") -> str:
    return "sh -c " + shlex.quote(background_script(argv, base))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"probe_background": probe_background}
