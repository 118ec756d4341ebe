"""The probe's command line: bad input, unreachable targets, failing servers, real connections.

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

from grpclab import calls, probe, targets
from grpclab.status import ExitStatus
from grpclab.verdict import PINNED, UNIDENTIFIED


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

# each one-line error, and the arguments (after --target) that must get it
REFUSALS = {
    "--calls must be at least 1, not 0": ["--calls 0"],
    "--connections 4 is more than --calls 3": ["--calls 3"],
    "--connections must be at least 1": ["--connections 0"],
    "--concurrency must be at least 1": ["--concurrency 0"],
    "--connections x --concurrency must be at most 4096": [
        "--connections 100 --concurrency 100 --calls 1000"],
    "--min-share must be between 0 and 1, not 1.5": ["--min-share 1.5"],
    "--min-share must be between 0 and 1": ["--min-share -0.1", "--min-share nan"],
    "--max-error-rate must be between 0 and 1": ["--max-error-rate 2"],
    "--timeout must be a positive number of seconds": ["--timeout 0", "--timeout inf"],
    "--timeout must be a positive number of seconds, at most 86400": ["--timeout 1e10"],
    "--connect-timeout must be a positive number of seconds": ["--connect-timeout 1e10"],
    "--connect-timeout must be a positive number": ["--connect-timeout -1"],
    "--replicas must be at least 1": ["--replicas 0"],
    "argument --calls: invalid int value: 'many'": ["--calls many"],
    "argument --expect: invalid choice: 'sideways'": ["--expect sideways"],
    "argument --lb: invalid choice: 'ring_hash'": ["--lb ring_hash"],
    "unrecognized arguments: --bogus": ["--bogus"],
}
BAD_ARGUMENTS = [pytest.param(extra.split(), message, id=extra)
                 for message, extras in REFUSALS.items() for extra in extras]


@pytest.mark.parametrize(("extra", "message"), BAD_ARGUMENTS)
def test_bad_arguments_are_one_line_and_exit_2(capsys, extra, message):
    status, out, err = run_main(capsys, "--target", "127.0.0.1:50051", *extra)
    assert status == 2
    assert out == ""
    assert err.startswith("grpclab-probe: error: ") and err.count("\n") == 1
    assert message in err


def test_missing_target_is_one_line(capsys):
    status, out, err = run_main(capsys, "--calls", "10")
    assert (status, out) == (2, "")
    assert err == "grpclab-probe: error: the following arguments are required: --target\n"


MALFORMED_TARGETS = [
    ("", "expected host:port"),
    ("localhost", "expected host:port"),
    ("localhost:", "'' is not a port"),
    ("localhost:0", "'0' is not a port"),
    ("localhost:99999", "'99999' is not a port"),
    ("127.0.0.999:50051", "'127.0.0.999' is not an IPv4 address"),
    ("http://grpc-server:50051", "unsupported scheme 'http'"),
    ("ipv4:127.0.0.1", "is not ipv4-address:port"),
    ("ipv4:127.0.0.1:50051,", "'' is not ipv4-address:port"),
    ("ipv4:grpc-server:50051", "is not ipv4-address:port"),
    ("ipv6:::1:50051", "ipv6: addresses are written [addr]:port"),
    ("ipv6:[1.2.3.4]:50051", "is not an IPv6 address"),
    ("::1:50051", "an IPv6 address needs brackets"),
    ("[::1", "expected [ipv6-address]:port"),
    ("dns:///", "expected host:port"),
    ("dns://8.8.8.8", "expected dns:///host:port"),
    ("grpc server:50051", "malformed target"),
    ("grpc_server!:50051", "is not a host name"),
    ("unix:", "unix: needs a path"),
]


@pytest.mark.parametrize(("target", "message"), MALFORMED_TARGETS)
def test_malformed_targets_are_refused_before_connecting(capsys, target, message):
    status, out, err = run_main(capsys, "--target", target, "--connect-timeout", "30")
    assert status == 2 and out == ""
    assert err.startswith("grpclab-probe: error: malformed target") and err.count("\n") == 1
    assert message in err


@pytest.mark.parametrize("target", [
    "localhost:50051", "127.0.0.1:50051", "[::1]:50051", "grpc-server:50051",
    "grpc-server.grpc-server.svc.cluster.local:50051",
    "dns:///grpc-server.grpc-server.svc.cluster.local:50051", "dns://8.8.8.8/grpc-server:50051",
    "ipv4:127.0.1.1:50051,127.0.1.2:50051,127.0.1.3:50051", "ipv6:[::1]:50051,[::2]:50052",
    "unix:/run/greeter.sock", "unix-abstract:greeter",
])
def test_well_formed_targets_pass_the_check(target):
    targets.check_target(target)


@pytest.mark.parametrize(("target", "message"), MALFORMED_TARGETS[:5])
def test_the_target_check_is_a_pure_function(target, message):
    with pytest.raises(targets.MalformedTarget, match="malformed target") as raised:
        targets.check_target(target)
    assert message in str(raised.value)


def test_exit_statuses_are_named():
    assert [int(s) for s in ExitStatus] == [0, 1, 2]
    assert ExitStatus.CANNOT_JUDGE is ExitStatus.ERROR  # an alias: one status, two reasons


def test_unreachable_target_is_one_line_exit_2_and_bounded(run_probe_cli):
    done = run_probe_cli("--target", "127.0.9.9:50051", "--connect-timeout", "1", "--json",
                         timeout=60)  # a hang fails here, not a timing assertion
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("grpclab-probe: error: cannot connect to 127.0.9.9:50051 "
                                  "within 1 s: UNAVAILABLE")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_bad_arguments_through_the_real_command(run_probe_cli):
    done = run_probe_cli("--target", "127.0.0.1:50051", "--calls", "0")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "grpclab-probe: error: --calls must be at least 1, not 0\n"


def test_help_exits_0(run_probe_cli):
    done = run_probe_cli("--help")
    assert done.returncode == 0
    for option in ("--target", "--calls", "--connections", "--concurrency", "--expect",
                   "--replicas", "--min-share", "--max-error-rate", "--timeout",
                   "--connect-timeout", "--json", "--lb"):
        assert option in done.stdout


# ---------------------------------------------------------------------------- failing calls

def test_failed_calls_are_counted_by_status_code(serve, capsys):
    target = serve(OddGreeter("flaky", fail_every=10, code=grpc.StatusCode.UNAVAILABLE))
    status, out, err = run_main(capsys, "--target", target, "--calls", "100", "--connections",
                                "2", "--expect", "pinned", "--json")
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
    status, out, _ = run_main(capsys, "--target", target, "--calls", "100", "--connections",
                              "2", "--expect", "pinned", "--max-error-rate", "0.1")
    assert status == 0
    assert "failures     10 of 100: RESOURCE_EXHAUSTED 10" in out
    assert "verdict      PASS" in out


def test_a_call_past_its_deadline_is_deadline_exceeded(serve, capsys):
    target = serve(OddGreeter("slow", fail_every=5, stall=1.0))
    status, out, _ = run_main(capsys, "--target", target, "--calls", "20", "--connections",
                              "2", "--concurrency", "4", "--timeout", "0.2", "--json")
    result = json.loads(out)
    assert status == 0  # --expect none: reported, not judged
    assert result["failures"] == {"DEADLINE_EXCEEDED": 4}
    assert result["totals"]["ok"] == 16


def test_every_call_failing_is_observed_failed_not_an_error(serve, capsys):
    target = serve(OddGreeter("down", fail_every=1, code=grpc.StatusCode.INTERNAL))
    status, out, _ = run_main(capsys, "--target", target, "--calls", "8", "--expect", "spread",
                              "--json")
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
    status, out, _ = run_main(capsys, "--target", target, "--calls", "8", "--expect", "pinned",
                              "--json")
    result = json.loads(out)
    assert status == 1
    assert result["failures"] == {UNIDENTIFIED: 8} and result["observed"] == "failed"
    assert any("neither 'hostname' metadata" in w for w in result["warnings"])


# ---------------------------------------------------------------------------- connections

@pytest.mark.parametrize("connections", [1, 4, 7])
def test_each_connection_is_its_own_peer_at_the_server(serve, capsys, connections):
    greeter = OddGreeter("peers")
    target = serve(greeter)
    status, out, _ = run_main(capsys, "--target", target, "--calls", str(connections * 10),
                              "--connections", str(connections), "--concurrency", "3",
                              "--json")
    assert status == 0
    assert len(greeter.peers) == connections  # distinct client ports: distinct TCP connections
    assert sorted(greeter.peers.values()) == [10] * connections
    assert [c["calls"] for c in json.loads(out)["connections"]] == [10] * connections


def test_calls_are_split_as_evenly_as_possible():
    assert probe.split_calls(10, 4) == [3, 3, 2, 2]
    assert probe.split_calls(4, 4) == [1, 1, 1, 1]
    assert sum(probe.split_calls(401, 7)) == 401


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
    status, _, _ = run_main(capsys, "--target", target, "--calls", "60", "--connections", "2",
                            "--concurrency", "3")
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
