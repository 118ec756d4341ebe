"""The lab platform: a lab node that plays a small Kubernetes cluster on loopback addresses.

Modules: ``pidfiles`` (pid files, live processes, stopping one), ``processes`` (starting
detached processes, readiness), ``preflight`` (binaries and addresses), ``names`` (pod names),
``manifests``, ``manifestfields`` and ``objects`` (the desired state),
``cluster`` (the state directory: cluster.yaml, status.json, requests), ``controllers`` (rollout
plan, endpoints, L4 or L7), ``pods`` (the kubelet part), ``envoyconfig`` and ``xds`` (the node
proxy), ``dns`` (cluster DNS), ``nodestartup`` (the node's start-up, recovery, lock and
shutdown), ``node`` (the reconcile loop), ``cli`` (``grpclab-lab``).
The names the Ansible collection ``grpclab.lab`` uses are re-exported here.
"""

from __future__ import annotations

from grpclab.lab.errors import LabError
from grpclab.lab.names import NAME_ALPHABET, pod_names
from grpclab.lab.pidfiles import (
    ProcessRecord,
    cmdline_matches,
    is_running,
    live_record,
    live_records,
    log_path,
    log_tail,
    pid_path,
    proc_cmdline,
    read_record,
    recorded_names,
    stop,
    write_record,
)
from grpclab.lab.preflight import (
    PreflightReport,
    address_problem,
    binary_version,
    preflight,
    split_address,
)
from grpclab.lab.processes import (
    Outcome,
    Readiness,
    ensure_absent,
    ensure_started,
    file_checksum,
    grpc_health_status,
    http_status,
    restart_reasons,
    start,
    wait_ready,
    watch_checksums,
)

__all__ = [
    "NAME_ALPHABET",
    "LabError",
    "Outcome",
    "PreflightReport",
    "ProcessRecord",
    "Readiness",
    "address_problem",
    "binary_version",
    "cmdline_matches",
    "ensure_absent",
    "ensure_started",
    "file_checksum",
    "grpc_health_status",
    "http_status",
    "is_running",
    "live_record",
    "live_records",
    "log_path",
    "log_tail",
    "pid_path",
    "pod_names",
    "preflight",
    "proc_cmdline",
    "read_record",
    "recorded_names",
    "restart_reasons",
    "split_address",
    "start",
    "stop",
    "wait_ready",
    "watch_checksums",
    "write_record",
]
