"""The kubelet part of the lab node: one pod = one process, supervised by one thread.

The thread starts the container's process (own session, ``pods/<name>.log``, ``pods/<name>.pid``),
waits on its pidfd (an exit is seen at once, no polling), runs the gRPC readiness and liveness
probes, restarts the process when it exits (restartPolicy Always, short back-off, restart
count), and terminates it on request: SIGTERM, the grace period, SIGKILL.

Readiness: until a container is Ready the node probes every ``FAST_PROBE`` seconds (after
initialDelaySeconds), so a started or restarted pod is Ready within a probe of its server
answering; once Ready it probes every periodSeconds, and failureThreshold failures in a row
make it not Ready.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from grpclab.lab.errors import LabError
from grpclab.lab.manifests import Deployment, Probe
from grpclab.lab.pidfiles import ProcessRecord, is_running, pid_path, read_record, stop
from grpclab.lab.processes import launch

FAST_PROBE = 0.1
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
BACKOFF_RESET = 10.0  # seconds of running after which the back-off starts again from the first
PROBE_CHANNEL_OPTIONS = [
    ("grpc.enable_http_proxy", 0),
    # retry a refused connection soon: a starting server is probed every FAST_PROBE seconds
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 200),
]


def find_program(program: str) -> str:
    """A container's program: first the node's own Python's bin folder (the venv), then PATH."""
    if "/" in program:
        return program
    beside = Path(sys.executable).parent / program
    if beside.exists():
        return str(beside)
    return shutil.which(program) or program


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion in command, args and env values (``$$`` escapes)."""
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
        lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
        text,
    )


def pod_env(deployment: Deployment, name: str, ip: str) -> dict[str, str]:
    """The container's environment: its ``env`` with the downward API resolved."""
    fields = {"metadata.name": name, "metadata.namespace": deployment.namespace, "status.podIP": ip}
    env: dict[str, str] = {}
    for var in deployment.env:
        env[var.name] = fields[var.field_path] if var.field_path else expand(var.value, env)
    return env


def probe_once(channel: object, probe: Probe) -> bool:
    from grpc import RpcError
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=probe.service), timeout=probe.timeout
        )
    except RpcError:
        return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


@dataclass
class Pod:
    name: str
    deployment: Deployment
    ip: str
    pods_dir: Path
    on_change: Callable[[], None]
    base_env: Mapping[str, str]
    created: float = field(default_factory=time.time)
    ready: bool = False
    running: bool = False
    terminating: bool = False
    finished: bool = False  # terminated and its process gone: the node forgets it
    restarts: int = 0
    pid: int | None = None
    last_error: str = ""
    ready_at: float = 0.0  # time.time() of the last turn to Ready
    drain_s: float | None = None  # drain(): terminating sends no SIGTERM, SIGKILL after this

    def __post_init__(self) -> None:
        self.template_hash = self.deployment.template_hash
        self._wake_r, self._wake_w = os.pipe()
        self._pipe_lock = threading.Lock()
        self._pipe_closed = False
        self._thread = threading.Thread(target=self._run, name=f"pod {self.name}", daemon=True)

    # --- called by the node --------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def terminate(self) -> None:
        """Leave the endpoints now (the caller republishes them), then SIGTERM, grace, SIGKILL."""
        self.terminating = True
        self.ready = False
        self._wake()

    def drain(self, seconds: float) -> None:
        """Terminate a process another one shuts down (a hot-restarted Envoy's parent): no
        SIGTERM, no restart, SIGKILL only if it still runs ``seconds`` from now."""
        self.drain_s = seconds
        self.terminate()

    @property
    def phase(self) -> str:
        if self.terminating:
            return "Terminating"
        return "Running" if self.running else "Pending"

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    # --- the pod's own thread ------------------------------------------------------------

    def _wake(self) -> None:
        with self._pipe_lock:  # never a write to a closed (maybe reused) descriptor
            if not self._pipe_closed:
                os.write(self._wake_w, b"x")

    def _set(self, **changes: object) -> None:
        changed = any(getattr(self, key) != value for key, value in changes.items())
        for key, value in changes.items():
            setattr(self, key, value)
        if changed:
            self.on_change()

    def _argv_env(self) -> tuple[list[str], dict[str, str]]:
        env = pod_env(self.deployment, self.name, self.ip)
        argv = [expand(part, env) for part in self.deployment.command]
        return [find_program(argv[0]), *argv[1:]], env

    def _run(self) -> None:
        backoff = BACKOFF_FIRST
        try:
            while not self.terminating:
                started = time.monotonic()
                self._run_container()
                if self.terminating:
                    break
                if time.monotonic() - started > BACKOFF_RESET:
                    backoff = BACKOFF_FIRST
                self._set(restarts=self.restarts + 1)
                if self._sleep(backoff):
                    break
                backoff = min(backoff * 2, BACKOFF_MAX)
        finally:
            pid_path(self.pods_dir, self.name).unlink(missing_ok=True)
            with self._pipe_lock:
                self._pipe_closed = True
                os.close(self._wake_r)
                os.close(self._wake_w)
            self._set(finished=True, running=False, ready=False, pid=None)

    def _sleep(self, seconds: float) -> bool:
        """Sleep, woken early by terminate(); True when the pod is terminating."""
        select.select([self._wake_r], [], [], seconds)
        return self.terminating

    def _run_container(self) -> None:
        argv, env = self._argv_env()
        try:
            process, _record = launch(
                self.pods_dir, self.name, argv, env=env, listen=[], base_env=self.base_env
            )
        except LabError as error:
            self.last_error = str(error)
            return
        pidfd = os.pidfd_open(process.pid)
        self._set(pid=process.pid, running=True, last_error="")
        try:
            self._supervise(process, pidfd)
        finally:
            os.close(pidfd)
            # a container's end ends every process in it: the rest of its process group goes
            # too (safe by pgid now: the unreaped leader still holds its pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            self._set(running=False, ready=False)

    def _supervise(self, process: subprocess.Popen, pidfd: int) -> None:
        import grpc

        deployment = self.deployment
        readiness, liveness = deployment.readiness, deployment.liveness
        began = time.monotonic()
        if readiness is None and not self.terminating:
            self._set(ready=True, ready_at=time.time())
        next_ready = began + (readiness.initial_delay if readiness else 0)
        next_live = began + (liveness.initial_delay if liveness else 0)
        ready_failures = live_failures = 0
        term_deadline: float | None = None
        with (
            grpc.insecure_channel(
                f"{self.ip}:{readiness.port if readiness else 0}", options=PROBE_CHANNEL_OPTIONS
            ) as ready_channel,
            grpc.insecure_channel(
                f"{self.ip}:{liveness.port if liveness else 0}", options=PROBE_CHANNEL_OPTIONS
            ) as live_channel,
        ):
            while True:
                now = time.monotonic()
                if self.terminating and term_deadline is None:
                    if self.drain_s is None:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(process.pid, signal.SIGTERM)
                    term_deadline = now + (
                        deployment.grace if self.drain_s is None else self.drain_s
                    )
                if term_deadline is not None:
                    if now >= term_deadline:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(process.pid, signal.SIGKILL)
                        term_deadline = now + 3600
                    wait = term_deadline - now
                else:
                    due = [t for t, p in ((next_ready, readiness), (next_live, liveness)) if p]
                    wait = max(0.0, min(due) - now) if due else None
                readable, _, _ = select.select([pidfd, self._wake_r], [], [], wait)
                if pidfd in readable:
                    return
                if self._wake_r in readable:
                    os.read(self._wake_r, 64)
                if self.terminating:
                    continue
                now = time.monotonic()
                if readiness and now >= next_ready:
                    if probe_once(ready_channel, readiness):
                        ready_failures = 0
                        if not self.ready and not self.terminating:
                            self._set(ready=True, ready_at=time.time())
                    else:
                        ready_failures += 1
                        if not self.ready or ready_failures >= readiness.failure_threshold:
                            self._set(ready=False)
                    period = readiness.period if self.ready else FAST_PROBE
                    next_ready = time.monotonic() + period
                if liveness and now >= next_live:
                    if probe_once(live_channel, liveness):
                        live_failures = 0
                    else:
                        live_failures += 1
                        if live_failures >= liveness.failure_threshold:
                            self.last_error = "liveness probe failed"
                            self._set(ready=False)
                            self._restart(process, pidfd)
                            return
                    next_live = time.monotonic() + liveness.period

    def _restart(self, process: subprocess.Popen, pidfd: int) -> None:
        """kubelet's restart of an unhealthy container: SIGTERM, grace, SIGKILL."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        readable, _, _ = select.select([pidfd], [], [], self.deployment.grace)
        if not readable:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)


def clean_orphans(pods_dir: Path, grace: float = 2.0) -> list[str]:
    """Stop the pods a node killed with SIGKILL left running (their pid files), in parallel."""
    found = []
    for pid_file in sorted(pods_dir.glob("*.pid")):
        record = read_record(pid_file)
        if record is not None and is_running(record):
            found.append((pid_file, record))
        else:
            pid_file.unlink(missing_ok=True)

    def end(record: ProcessRecord) -> None:
        stop(record, grace)
        # and what it started: the pod's session (pids are not reused while it has members)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(record.pid, signal.SIGKILL)

    threads = [threading.Thread(target=end, args=(record,)) for _, record in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for pid_file, _ in found:
        pid_file.unlink(missing_ok=True)
    return [pid_file.stem for pid_file, _ in found]
