"""The probe's command line: unreachable targets, failing servers, real connections (what it
refuses before connecting: tests/unit/test_probe_arguments.py).

The servers here are small real gRPC servers started in the test (on 127.0.0.1, ephemeral ports)
that fail, stall or answer oddly on purpose; the Greeter itself never does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import grpc
import pytest
from probe_helpers import OddGreeter, greeter_servers

from grpclab.probe import calls
from grpclab.probe import cli as probe
from grpclab.probe.model import PINNED, UNIDENTIFIED


@pytest.fixture
def serve() -> Iterator[Callable[[OddGreeter], str]]:
    """Start a real grpc server for a servicer on 127.0.0.1 (ephemeral port); its target."""
    with greeter_servers(max_workers=16) as start:
        yield start


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = probe.main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


# ---------------------------------------------------------------------------- bad input
# (refused before connecting: tests/unit/test_probe_arguments.py)


def test_unreachable_target_is_one_line_exit_2_and_bounded(run_probe_cli):
    done = run_probe_cli(
        "--target", "127.0.9.9:50051", "--connect-timeout", "1", "--json", timeout=60
    )  # a hang fails here, not a timing assertion
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(
        "grpclab-probe: error: cannot connect to 127.0.9.9:50051 within 1 s: UNAVAILABLE"
    )
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_bad_arguments_through_the_real_command(run_probe_cli):
    done = run_probe_cli("--target", "127.0.0.1:50051", "--calls", "0")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "grpclab-probe: error: --calls must be at least 1, not 0\n"


def test_help_exits_0(run_probe_cli):
    done = run_probe_cli("--help")
    assert done.returncode == 0
    for option in (
        "--target",
        "--calls",
        "--connections",
        "--concurrency",
        "--expect",
        "--replicas",
        "--min-share",
        "--max-error-rate",
        "--timeout",
        "--connect-timeout",
        "--json",
        "--lb",
    ):
        assert option in done.stdout


# ---------------------------------------------------------------------------- failing calls


def test_failed_calls_are_counted_by_status_code(serve, capsys):
    target = serve(OddGreeter("flaky", fail_every=10, code=grpc.StatusCode.UNAVAILABLE))
    status, out, err = run_main(
        capsys,
        "--target",
        target,
        "--calls",
        "100",
        "--connections",
        "2",
        "--expect",
        "pinned",
        "--json",
    )
    result = json.loads(out)
    assert status == 1 and err == ""
    assert result["failures"] == {"UNAVAILABLE": 10}
    assert result["totals"] == {"calls": 100, "ok": 90, "failed": 10}
    assert result["observed"] == PINNED
    assert sum(c["failed"] for c in result["connections"]) == 10
    assert result["reasons"] == ["error rate 0.100 (10 of 100 calls) above --max-error-rate 0"]
    assert "10 of 100 calls failed (UNAVAILABLE 10)" in result["summary"]


def test_failures_within_max_error_rate_pass(serve, capsys):
    target = serve(OddGreeter("flaky", fail_every=10, code=grpc.StatusCode.RESOURCE_EXHAUSTED))
    status, out, _ = run_main(
        capsys,
        "--target",
        target,
        "--calls",
        "100",
        "--connections",
        "2",
        "--expect",
        "pinned",
        "--max-error-rate",
        "0.1",
    )
    assert status == 0
    assert "failures     10 of 100: RESOURCE_EXHAUSTED 10" in out
    assert "verdict      PASS" in out


def test_a_call_past_its_deadline_is_deadline_exceeded(serve, capsys):
    target = serve(OddGreeter("slow", fail_every=5, stall=1.0))
    status, out, _ = run_main(
        capsys,
        "--target",
        target,
        "--calls",
        "20",
        "--connections",
        "2",
        "--concurrency",
        "4",
        "--timeout",
        "0.2",
        "--json",
    )
    result = json.loads(out)
    assert status == 0  # --expect none: reported, not judged
    assert result["failures"] == {"DEADLINE_EXCEEDED": 4}
    assert result["totals"]["ok"] == 16


def test_every_call_failing_is_observed_failed_not_an_error(serve, capsys):
    target = serve(OddGreeter("down", fail_every=1, code=grpc.StatusCode.INTERNAL))
    status, out, _ = run_main(
        capsys, "--target", target, "--calls", "8", "--expect", "spread", "--json"
    )
    result = json.loads(out)
    assert status == 1
    assert result["observed"] == "failed" and result["failures"] == {"INTERNAL": 8}
    assert result["jain_index"] is None and result["latency_ms"]["p50"] is None


# ---------------------------------------------------------------------------- identification


def test_replica_named_by_the_reply_when_metadata_is_missing(serve, capsys):
    target = serve(OddGreeter("text-only", metadata=False))
    _, out, _ = run_main(capsys, "--target", target, "--calls", "8", "--json")
    assert json.loads(out)["replicas"][0]["name"] == "text-only"


def test_metadata_wins_over_the_reply(serve, capsys):
    target = serve(OddGreeter("by-metadata", message="Hello from by-reply"))
    _, out, _ = run_main(capsys, "--target", target, "--calls", "8", "--json")
    assert json.loads(out)["replicas"][0]["name"] == "by-metadata"


def test_unattributable_replies_are_failures(serve, capsys):
    target = serve(OddGreeter("anon", metadata=False, message="hi"))
    status, out, _ = run_main(
        capsys, "--target", target, "--calls", "8", "--expect", "pinned", "--json"
    )
    result = json.loads(out)
    assert status == 1
    assert result["failures"] == {UNIDENTIFIED: 8} and result["observed"] == "failed"
    assert any("8 replies named no replica" in w for w in result["warnings"])
    # the verdict's line: the specs tried and the first reply, so the user can write a spec
    assert "tried header:hostname, field:message~" in result["summary"]
    assert '"message": "hi"' in result["summary"]


# ---------------------------------------------------------------------------- connections


@pytest.mark.parametrize("connections", [1, 4, 7])
def test_each_connection_is_its_own_peer_at_the_server(serve, capsys, connections):
    greeter = OddGreeter("peers")
    target = serve(greeter)
    status, out, _ = run_main(
        capsys,
        "--target",
        target,
        "--calls",
        str(connections * 10),
        "--connections",
        str(connections),
        "--concurrency",
        "3",
        "--json",
    )
    assert status == 0
    assert len(greeter.peers) == connections  # distinct client ports: distinct TCP connections
    assert sorted(greeter.peers.values()) == [10] * connections
    assert [c["calls"] for c in json.loads(out)["connections"]] == [10] * connections


def test_concurrency_bounds_calls_in_flight_per_connection(serve, capsys):
    class Counting(OddGreeter):
        def __init__(self) -> None:
            super().__init__("counting")
            self.in_flight: dict[str, int] = {}
            self.most: dict[str, int] = {}

        def SayHello(self, request, context):
            peer = context.peer()
            with self._lock:
                self.in_flight[peer] = self.in_flight.get(peer, 0) + 1
                self.most[peer] = max(self.most.get(peer, 0), self.in_flight[peer])
            time.sleep(0.02)
            with self._lock:
                self.in_flight[peer] -= 1
            return super().SayHello(request, context)

    greeter = Counting()
    target = serve(greeter)
    status, _, _ = run_main(
        capsys, "--target", target, "--calls", "60", "--connections", "2", "--concurrency", "3"
    )
    assert status == 0
    assert len(greeter.most) == 2
    assert max(greeter.most.values()) <= 3
    assert max(greeter.most.values()) >= 2  # the calls really overlap


def test_a_bug_is_not_swallowed(serve, monkeypatch):
    """Only ProbeError becomes a one-line exit 2; a programming error keeps its traceback."""
    target = serve(OddGreeter())

    def broken(*args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(calls, "_call_loop", broken)
    with pytest.raises(ZeroDivisionError):
        probe.main(["--target", target, "--calls", "4"])
