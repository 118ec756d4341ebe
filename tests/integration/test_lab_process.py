"""grpclab.lab, the lab's plumbing, on real processes (no Ansible, no lab addresses; its pure
functions: tests/unit/test_lab_names.py).

Processes here are small Python sleepers in a temporary state directory; the preflight binds
an ephemeral port on 127.0.0.1, so none of this needs the lab lock.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from grpclab import lab

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
# ignores SIGTERM: only SIGKILL ends it
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('sig' + 'term ignored', flush=True); time.sleep(60)",
]


@pytest.fixture
def state_dir(tmp_path: Path):
    directory = tmp_path / "state"
    yield directory
    # whatever a test left running is stopped by pid, like teardown does
    for name in lab.recorded_names(directory):
        lab.ensure_absent(directory, name, stop_timeout=2)


def test_started_process_is_recorded_and_detached(state_dir: Path) -> None:
    outcome = lab.ensure_started(state_dir, "sleeper", SLEEPER, env={"GRPCLAB_TEST": "1"})
    assert outcome.changed and outcome.action == "started"
    record = json.loads((state_dir / "sleeper.pid").read_text())
    assert record["pid"] == outcome.pid and record["argv"] == SLEEPER
    assert record["env"] == {"GRPCLAB_TEST": "1"}
    assert lab.proc_cmdline(outcome.pid) == SLEEPER
    # its own session: a Ctrl-C or hang-up of the shell that ran Ansible does not reach it
    assert os.getsid(outcome.pid) == outcome.pid
    assert (state_dir / "sleeper.log").read_text().startswith("--- ")


def test_launch_gives_the_child_and_its_environment(state_dir: Path) -> None:
    """The node's way in: the Popen to wait on, and exactly ``base_env`` plus ``env``."""
    printer = [sys.executable, "-c", "import os; print(sorted(os.environ))"]
    child, record = lab.processes.launch(
        state_dir, "printer", printer, env={"B": "2"}, base_env={"A": "1"}
    )
    assert child.wait(timeout=20) == 0 and record.pid == child.pid and record.env == {"B": "2"}
    assert "['A', 'B'" in (state_dir / "printer.log").read_text()


def test_second_ensure_changes_nothing(state_dir: Path) -> None:
    first = lab.ensure_started(state_dir, "sleeper", SLEEPER)
    again = lab.ensure_started(state_dir, "sleeper", SLEEPER)
    assert not again.changed and again.action == "running" and again.pid == first.pid


def test_changed_argv_or_env_restarts(state_dir: Path) -> None:
    first = lab.ensure_started(state_dir, "sleeper", SLEEPER)
    other_argv = [*SLEEPER[:-1], "import time; time.sleep(61)"]
    second = lab.ensure_started(state_dir, "sleeper", other_argv)
    assert second.action == "restarted" and second.reasons == ["its command line changed"]
    assert second.pid != first.pid and lab.proc_cmdline(first.pid) is None
    third = lab.ensure_started(state_dir, "sleeper", other_argv, env={"A": "b"})
    assert third.action == "restarted" and third.reasons == ["its environment changed"]


def test_watched_file_change_restarts(state_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "envoy.yaml"
    config.write_text("one\n")
    first = lab.ensure_started(state_dir, "proxy", SLEEPER, watch=[str(config)])
    assert not lab.ensure_started(state_dir, "proxy", SLEEPER, watch=[str(config)]).changed
    config.write_text("two\n")
    second = lab.ensure_started(state_dir, "proxy", SLEEPER, watch=[str(config)])
    assert second.action == "restarted" and second.reasons == [f"{config} changed"]
    assert second.pid != first.pid


def test_dead_pid_is_stale_and_restarted(state_dir: Path) -> None:
    first = lab.ensure_started(state_dir, "sleeper", SLEEPER)
    os.kill(first.pid, signal.SIGKILL)
    assert lab.wait_ready(
        lambda: "gone" if lab.proc_cmdline(first.pid) is None else "alive",
        "gone",
        timeout=5,
        alive=lambda: True,
    )[0]
    again = lab.ensure_started(state_dir, "sleeper", SLEEPER)
    assert again.action == "started" and again.reasons == ["it was not running"]


def test_reused_pid_is_stale_and_never_signalled(state_dir: Path) -> None:
    """A pid file whose pid now belongs to another program (pid reuse) is stale: the other
    program is left alone and the pid file removed."""
    other = subprocess.Popen(SLEEPER)
    try:
        state_dir.mkdir(parents=True)
        lab.write_record(
            state_dir / "sleeper.pid",
            lab.ProcessRecord(pid=other.pid, argv=[sys.executable, "-m", "nope"]),
        )
        outcome = lab.ensure_absent(state_dir, "sleeper", stop_timeout=1)
        assert outcome.action == "absent" and outcome.reasons == ["stale pid file"]
        assert not (state_dir / "sleeper.pid").exists()
        assert other.poll() is None, "a process that merely reuses the pid was signalled"
    finally:
        other.kill()
        other.wait()


def test_absent_stops_by_pid_and_is_idempotent(state_dir: Path) -> None:
    first = lab.ensure_started(state_dir, "sleeper", SLEEPER)
    stopped = lab.ensure_absent(state_dir, "sleeper")
    assert stopped.changed and stopped.action == "stopped" and stopped.reasons == ["terminated"]
    assert lab.proc_cmdline(first.pid) is None
    assert not lab.ensure_absent(state_dir, "sleeper").changed


def test_sigkill_after_the_bound(state_dir: Path) -> None:
    first = lab.ensure_started(state_dir, "stubborn", STUBBORN)
    log = state_dir / "stubborn.log"
    armed = lambda: "armed" if "sigterm ignored" in log.read_text().splitlines() else "starting"  # noqa: E731
    assert lab.wait_ready(armed, "armed", timeout=10, alive=lambda: True)[0]
    stopped = lab.ensure_absent(state_dir, "stubborn", stop_timeout=0.5)
    assert stopped.reasons == ["killed"] and lab.proc_cmdline(first.pid) is None


def test_check_mode_changes_nothing(state_dir: Path) -> None:
    would = lab.ensure_started(state_dir, "sleeper", SLEEPER, check_mode=True)
    assert would.changed and would.action == "started" and not state_dir.exists()
    first = lab.ensure_started(state_dir, "sleeper", SLEEPER)
    would_stop = lab.ensure_absent(state_dir, "sleeper", check_mode=True)
    assert would_stop.changed and lab.proc_cmdline(first.pid) == SLEEPER


def test_readiness_failure_shows_the_log_tail(state_dir: Path) -> None:
    crashing = [sys.executable, "-c", "import sys; print('boom: no config'); sys.exit(3)"]
    with pytest.raises(lab.LabError) as raised:
        lab.ensure_started(
            state_dir,
            "crasher",
            crashing,
            readiness=lab.Readiness(http="http://127.0.0.1:9/ready", timeout=5),
        )
    message = str(raised.value)
    assert "did not get ready" in message and "the process exited" in message
    assert "boom: no config" in message


def test_grpc_readiness_of_a_real_server(state_dir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [
        sys.executable,
        "-m",
        "grpclab.apps.server",
        "--name",
        "unit-1",
        "--address",
        "127.0.0.1",
        "--port",
        str(port),
        "--grace",
        "1",
    ]
    # not ready within the readiness timeout raises LabError: no clock in the test
    outcome = lab.ensure_started(
        state_dir,
        "unit-1",
        argv,
        listen=[f"127.0.0.1:{port}"],
        readiness=lab.Readiness(grpc=f"127.0.0.1:{port}", timeout=20),
    )
    assert outcome.action == "started"
    assert lab.grpc_health_status(f"127.0.0.1:{port}") == "SERVING"
    # the preflight lets this cluster's own process keep its address, and names a foreign one
    report = lab.preflight(state_dir, [f"127.0.0.1:{port}"])
    assert report.held == [f"127.0.0.1:{port}"] and not report.problems
    foreign = lab.preflight(state_dir / "other-cluster", [f"127.0.0.1:{port}"])
    assert foreign.problems == [f"127.0.0.1:{port} is already in use (Address already in use)"]


def test_preflight_names_each_problem(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        broken = [sys.executable, "-c", "import sys; sys.exit('bad build')"]
        report = lab.preflight(
            tmp_path,
            [address, "127.0.0.1:notaport"],
            binaries=[[str(tmp_path / "no-envoy"), "--version"], broken],
        )
    assert report.problems == [
        f"{tmp_path / 'no-envoy'} not found",
        f"{sys.executable} -c import sys; sys.exit('bad build') failed: bad build",
        f"{address} is already in use (Address already in use)",
        "'127.0.0.1:notaport' is not host:port",
    ]


def test_preflight_runs_envoy() -> None:
    envoy = Path(sys.executable).parent / "envoy"
    report = lab.preflight("/nonexistent", [], binaries=[[str(envoy), "--version"]])
    assert not report.problems and "version" in report.versions[str(envoy)]
