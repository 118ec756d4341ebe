"""Detached processes started with pid files, and how to tell that one is ready.

On the lab a pod is a server process on its own loopback address and a Service is a listener of
one real Envoy. A process is started detached, in its own session, with its pid file and log in
the cluster's state directory (``grpclab.lab.pidfiles``: the records, which are alive, how one
is stopped); ``ensure_started`` and ``ensure_absent`` are the declarative entry points.

The Ansible collection ``grpclab.lab`` wraps these functions; this module never imports Ansible.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grpclab.lab.errors import LabError
from grpclab.lab.pidfiles import (
    ProcessRecord,
    is_running,
    live_record,
    log_path,
    log_tail,
    pid_path,
    read_record,
    stop,
    write_record,
)


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


def http_get(url: str, timeout: float = 1.0) -> tuple[str, str]:
    """(``200`` and friends, the body) of an HTTP GET (proxies ignored), or (the error, "")."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return str(response.status), response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return str(error.code), ""
    except (urllib.error.URLError, OSError) as error:
        return f"unreachable ({getattr(error, 'reason', error)})", ""


def http_status(url: str, timeout: float = 1.0) -> str:
    """``200`` and friends for an HTTP GET (proxies ignored), or the error as text."""
    return http_get(url, timeout)[0]


def http_text(url: str, timeout: float = 1.0) -> str:
    """The body of a successful HTTP GET, else the status or the error as text."""
    status, body = http_get(url, timeout)
    return body if status == "200" else status


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
