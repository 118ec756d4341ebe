# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""The lab node of a cluster as the kind_cluster role sees it: cluster.yaml, the node process,
and what a node killed with SIGKILL left behind. Runs on the controller (the lab host), on the
grpclab package; the grpclab.lab.node action is its Ansible face."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from grpclab import lab
from grpclab.lab import cluster as clusterdir

NODE = "node"
CONFIG = "cluster.yaml"
ORPHAN_GRACE = 2.0
HEADER = (
    '# The lab\'s "kind config" of cluster {name}, written by the kind_cluster role\n'
    "# and read by its lab node (grpclab-lab node); a change restarts the node.\n"
)


@dataclass
class NodeOutcome(lab.Outcome):
    """A process outcome, plus what a dead node left behind and this run stopped."""

    recovered: list[str] = field(default_factory=list)


def config_text(config: dict) -> str:
    return HEADER.format(name=config.get("name", "?")) + yaml.safe_dump(config, sort_keys=False)


def node_argv(python: str, state_dir: Path) -> list[str]:
    return [python, "-m", "grpclab.lab", "--state-dir", str(state_dir), NODE]


def node_addresses(config: dict) -> list[str]:
    return [str(config["dnsAddress"])]


def stop_leftovers(state_dir: Path) -> list[str]:
    """Stop every live process recorded under ``state_dir`` but the node (Envoy, pods): what a
    node killed with SIGKILL leaves. In parallel, SIGTERM then SIGKILL after a short grace."""
    records = []
    for directory in (state_dir, state_dir / "pods"):
        for name, record in lab.live_records(directory).items():
            if not (directory == state_dir and name == NODE):
                records.append((name, record))
    threads = [
        threading.Thread(target=lab.stop, args=(record, ORPHAN_GRACE)) for _, record in records
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(name for name, _ in records)


def wait_status(state_dir: Path, record: lab.ProcessRecord, timeout: float) -> str | None:
    """Wait until the node answers (its status.json, as ``grpclab-lab get pods`` reads it);
    None when it does, else why not in one line."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            clusterdir.read_status(state_dir, state_dir.name)
            return None
        except lab.LabError as error:
            problem = str(error)
        if not lab.is_running(record):
            return last_error(state_dir) or "it exited"
        if time.monotonic() >= deadline:
            return f"{problem} after {timeout:g} s"
        time.sleep(0.05)


def last_error(state_dir: Path) -> str:
    """The node's own one-line error, the last line of its log ("grpclab-lab: ...")."""
    tail = lab.log_tail(lab.log_path(state_dir, NODE), 5).splitlines()
    lines = [line for line in tail if line.startswith("grpclab-lab: ")]
    return lines[-1].removeprefix("grpclab-lab: ") if lines else (tail[-1] if tail else "")


def remove_tree(state_dir: Path, empty_parents: Sequence[str]) -> None:
    shutil.rmtree(state_dir, ignore_errors=True)
    for parent in empty_parents:
        with contextlib.suppress(OSError):  # not empty, or not there
            os.rmdir(parent)


class LabNodeError(Exception):
    """One line for the task's msg; ``detail`` (the node's log tail) goes beside it."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def ensure_present(
    state_dir: Path,
    config: dict,
    python: str,
    *,
    addresses: Sequence[str],
    binaries: Sequence[Sequence[str]],
    ready_timeout: float,
    stop_timeout: float,
    empty_parents: Sequence[str],
    check_mode: bool = False,
) -> NodeOutcome:
    """The node runs for ``config``: started if absent (after stopping what a dead node left
    and a preflight), restarted if cluster.yaml or its command changed, else left alone."""
    path = state_dir / CONFIG
    text = config_text(config)
    argv = node_argv(python, state_dir)
    log = str(lab.log_path(state_dir, NODE))
    record = lab.live_record(state_dir, NODE, prune=False)
    try:
        old_text = path.read_text()
    except OSError:
        old_text = None
    if record is not None and record.argv == argv and old_text == text:
        problem = wait_status(state_dir, record, ready_timeout) if not check_mode else None
        if problem:
            raise LabNodeError(
                f"the lab node of {state_dir.name} (pid {record.pid}) does not answer: {problem}",
                lab.log_tail(log),
            )
        return NodeOutcome(False, "running", record.pid, log=log)
    reasons = (
        ["it was not running"]
        if record is None
        else ["cluster.yaml changed"]
        if old_text != text
        else ["its command changed"]
    )
    action = "started" if record is None else "restarted"
    if check_mode:
        return NodeOutcome(True, action, record.pid if record else None, reasons, log=log)
    fresh = old_text is None
    recovered = stop_leftovers(state_dir) if record is None else []
    # a running node holds its own addresses; the pods' and Services' are checked when it starts
    report = lab.preflight(state_dir, node_addresses(config) if record else addresses, binaries)
    if report.problems:
        if fresh:
            remove_tree(state_dir, empty_parents)
        raise LabNodeError("preflight: " + "; ".join(report.problems))
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # the node keeps it 0700
    tmp = path.with_name(f".{CONFIG}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    try:
        outcome = lab.ensure_started(
            state_dir,
            NODE,
            argv,
            listen=node_addresses(config),
            watch=[str(path)],
            stop_timeout=stop_timeout,
        )
        started = lab.live_record(state_dir, NODE, prune=False)
        problem = (
            wait_status(state_dir, started, ready_timeout)
            if started
            else last_error(state_dir) or "it exited at once"
        )
    except lab.LabError as error:
        problem = str(error)
    if problem:
        detail = lab.log_tail(log)
        node = lab.live_record(state_dir, NODE, prune=True)
        if node is not None:
            lab.stop(node, stop_timeout)
        stop_leftovers(state_dir)
        if fresh:
            remove_tree(state_dir, empty_parents)
        raise LabNodeError(f"the lab node of {state_dir.name} did not start: {problem}", detail)
    return NodeOutcome(True, outcome.action, outcome.pid, reasons, log, recovered=recovered)


def ensure_absent(
    state_dir: Path, *, stop_timeout: float, empty_parents: Sequence[str], check_mode: bool = False
) -> NodeOutcome:
    """No node, no pod, no Envoy, no state directory (and the given parents, once empty)."""
    if not state_dir.exists():
        if not check_mode:
            remove_tree(state_dir, empty_parents)
        return NodeOutcome(False, "absent")
    record = lab.live_record(state_dir, NODE, prune=False)
    if check_mode:
        return NodeOutcome(True, "stopped" if record else "absent", record.pid if record else None)
    # the node terminates its pods (each with its grace period), Envoy and the DNS
    outcome = lab.ensure_absent(state_dir, NODE, stop_timeout=stop_timeout)
    recovered = stop_leftovers(state_dir)
    remove_tree(state_dir, empty_parents)
    return NodeOutcome(
        True,
        outcome.action if record else "absent",
        outcome.pid,
        outcome.reasons,
        recovered=recovered,
    )
