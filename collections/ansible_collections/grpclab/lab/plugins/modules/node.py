# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Documentation of the action grpclab.lab.node (the code is plugins/action/node.py)."""

DOCUMENTATION = r"""
---
module: node
short_description: The lab node of a lab cluster, present or absent
version_added: 1.1.0
description:
  - An action that runs on the controller, which is the lab host (C(ansible_connection=local)).
  - First takes the cluster's play lock (C(<state_dir>/play.lock), held by the ansible-playbook
    process until it ends); while another live play holds it, says so in one line and waits.
  - V(present) - leaves a running node alone when C(cluster.yaml) and its command are unchanged
    (and checks that it answers); otherwise stops what a node killed with SIGKILL left (Envoy,
    pods), runs the preflight (O(binaries) run, O(addresses) free), writes C(cluster.yaml) and
    starts C(python -m grpclab.lab --state-dir <state_dir> node) detached, tracked by
    C(node.pid), and waits until it answers. A changed C(cluster.yaml) restarts the node. If a new
    cluster fails to start, its state directory is removed again.
  - V(absent) - stops the node (SIGTERM; it terminates its pods, Envoy and DNS), stops anything
    a dead node left, removes the state directory and O(remove_empty_parents) once empty.
options:
  state_dir:
    description: The cluster's state directory.
    type: path
    required: true
  state:
    description: V(present) runs the node, V(absent) removes the cluster.
    type: str
    choices: [present, absent]
    default: present
  config:
    description: The content of C(cluster.yaml) (name, podNetwork, serviceNetwork, dnsAddress,
      envoyBinary, envoyConcurrency, envoyLogLevel). Envoy's admin is the unix socket
      C(envoy-admin.sock) in O(state_dir), mode 0600, never TCP.
    type: dict
  python:
    description: The Python that runs the node (grpclab importable). Default the controller's.
    type: path
  addresses:
    description: V(host:port) addresses the cluster will bind, checked free before a node starts.
    type: list
    elements: str
  binaries:
    description: Command lines that must run before a node starts (V([envoy, --version])).
    type: list
    elements: list
  ready_timeout:
    description: Seconds for a started node to answer.
    type: float
    default: 20
  stop_timeout:
    description: Seconds for a stopping node to exit before SIGKILL.
    type: float
    default: 30
  remove_empty_parents:
    description: With V(absent), directories removed afterwards when empty, in order.
    type: list
    elements: path
  lock_timeout:
    description: Seconds to wait for another play's lock.
    type: float
    default: 900
extends_documentation_fragment:
  - grpclab.lab.common
"""

EXAMPLES = r"""
- name: Run the lab node
  grpclab.lab.node:
    state_dir: /srv/grpclab/.grpclab/lab/grpclab-cilium
    config:
      name: grpclab-cilium
      podNetwork: "127.0.1"
      serviceNetwork: "127.0.2"
      dnsAddress: 127.0.2.253:10053
    addresses: ["127.0.2.253:10053", "127.0.1.1:50051"]
    binaries:
      - [/venv/bin/envoy, --version]
"""

RETURN = r"""
action:
  description: running, started, restarted, stopped or absent.
  returned: always
  type: str
pid:
  description: Pid of the node.
  returned: when there is one
  type: int
reasons:
  description: Why the node was (re)started.
  returned: always
  type: list
  elements: str
recovered:
  description: Processes a dead node had left running, now stopped.
  returned: always
  type: list
  elements: str
log_tail:
  description: The end of the node's log, when it did not start.
  returned: on failure
  type: str
"""
