#!/usr/bin/python
# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Ansible module grpclab.lab.process: a thin wrapper over grpclab.lab."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from grpclab import lab
except ImportError:
    lab = None
    LAB_IMPORT_ERROR = traceback.format_exc()
else:
    LAB_IMPORT_ERROR = None

DOCUMENTATION = r"""
---
module: process
short_description: A detached process of a lab cluster, tracked by a pid file
version_added: 1.0.0
description:
  - Runs O(argv) detached (its own session) with stdout and stderr appended to
    C(<state_dir>/<name>.log), and records it in C(<state_dir>/<name>.pid) (pid, argv,
    environment, listen addresses and the checksums of the watched files).
  - A pid file is trusted only while its pid is alive and C(/proc/<pid>/cmdline) is the
    recorded argv; otherwise it is stale and removed. Nothing is ever found or killed by name.
  - A running process is restarted only when its argv, its environment or the content of a
    watched file changed, so a second run reports no change.
  - Stopping sends SIGTERM to the recorded pid, waits up to O(stop_timeout) seconds, then
    sends SIGKILL.
  - The logic lives in the grpclab Python package (C(grpclab.lab)), which the interpreter
    running this module must be able to import.
options:
  name:
    description: Name of the process; names its pid and log files.
    type: str
    required: true
  state_dir:
    description: Directory of the pid and log files (created when needed).
    type: path
    required: true
  state:
    description: V(started) runs the process (and waits until it is ready); V(absent) stops it.
    type: str
    choices: [started, absent]
    default: started
  argv:
    description: Command line, program first; no shell. Required when O(state=started).
    type: list
    elements: str
  env:
    description:
      - Environment variables added to the module's environment.
      - A change restarts the process.
    type: dict
    default: {}
  listen:
    description:
      - Addresses (V(host:port)) the process binds, recorded in its pid file so that
        M(grpclab.lab.preflight) knows they are held by this cluster.
    type: list
    elements: str
    default: []
  watch:
    description: Files whose content the process reads at start; a changed checksum restarts it.
    type: list
    elements: path
    default: []
  ready_grpc:
    description: V(host:port) of a gRPC server whose health (service V("")) must be SERVING.
    type: str
  ready_http:
    description: URL that must answer HTTP 200 (for example Envoy's admin C(/ready)).
    type: str
  ready_timeout:
    description: Seconds to wait for readiness; on time-out the task fails with the log's tail.
    type: float
    default: 20
  stop_timeout:
    description: Seconds between SIGTERM and SIGKILL.
    type: float
    default: 15
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Run a server pod
  grpclab.lab.process:
    name: grpc-server-5f2c9a0b1d-7c3e1
    state_dir: /srv/grpclab/.grpclab/lab/grpclab-cilium
    argv: [/venv/bin/python, -m, grpclab.server, --name, grpc-server-5f2c9a0b1d-7c3e1,
           --address, 127.0.1.1, --port, "50051"]
    listen: ["127.0.1.1:50051"]
    ready_grpc: 127.0.1.1:50051

- name: Run Envoy, restarted when its config changes
  grpclab.lab.process:
    name: cilium-envoy
    state_dir: /srv/grpclab/.grpclab/lab/grpclab-cilium
    argv: [/venv/bin/envoy, -c, /srv/grpclab/.grpclab/lab/grpclab-cilium/envoy.yaml]
    watch: [/srv/grpclab/.grpclab/lab/grpclab-cilium/envoy.yaml]
    ready_http: http://127.0.2.254:9901/ready

- name: Stop it
  grpclab.lab.process:
    name: cilium-envoy
    state_dir: /srv/grpclab/.grpclab/lab/grpclab-cilium
    state: absent
"""

RETURN = r"""
action:
  description: What was done (or would be, in check mode).
  returned: always
  type: str
  sample: restarted
  choices: [started, restarted, running, stopped, absent]
pid:
  description: Pid of the process (the stopped one for O(state=absent)), when there is one.
  returned: always
  type: int
  sample: 12345
reasons:
  description: Why it was (re)started, or how it was stopped.
  returned: always
  type: list
  elements: str
  sample: ["/srv/grpclab/.grpclab/lab/grpclab-cilium/envoy.yaml changed"]
log:
  description: Path of the process's log file.
  returned: always
  type: str
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state_dir": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["started", "absent"], "default": "started"},
            "argv": {"type": "list", "elements": "str"},
            "env": {"type": "dict", "default": {}},
            "listen": {"type": "list", "elements": "str", "default": []},
            "watch": {"type": "list", "elements": "path", "default": []},
            "ready_grpc": {"type": "str"},
            "ready_http": {"type": "str"},
            "ready_timeout": {"type": "float", "default": 20.0},
            "stop_timeout": {"type": "float", "default": 15.0},
        },
        required_if=[("state", "started", ("argv",))],
        mutually_exclusive=[("ready_grpc", "ready_http")],
        supports_check_mode=True,
    )
    if lab is None:
        module.fail_json(msg=missing_required_lib("grpclab (pip install -e . in this project)"),
                         exception=LAB_IMPORT_ERROR)
    params = module.params
    if "/" in params["name"] or params["name"].startswith("."):
        module.fail_json(msg=f"name {params['name']!r} must be a plain file name")
    try:
        if params["state"] == "absent":
            outcome = lab.ensure_absent(params["state_dir"], params["name"],
                                        stop_timeout=params["stop_timeout"],
                                        check_mode=module.check_mode)
        else:
            if not params["argv"]:
                module.fail_json(msg="argv must not be empty")
            readiness = None
            if params["ready_grpc"] or params["ready_http"]:
                readiness = lab.Readiness(grpc=params["ready_grpc"], http=params["ready_http"],
                                          timeout=params["ready_timeout"])
            outcome = lab.ensure_started(
                params["state_dir"], params["name"], params["argv"],
                env={str(k): str(v) for k, v in params["env"].items()},
                listen=params["listen"], watch=params["watch"], readiness=readiness,
                stop_timeout=params["stop_timeout"], check_mode=module.check_mode)
    except lab.LabError as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=outcome.changed, action=outcome.action, pid=outcome.pid,
                     reasons=outcome.reasons, log=outcome.log)


if __name__ == "__main__":
    main()
