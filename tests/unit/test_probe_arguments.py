"""The probe's command line, refused before it connects: bad arguments and malformed targets,
each one line and exit 2; the exit statuses; the split of the calls over the connections."""

from __future__ import annotations

import pytest

from grpclab.probe import cli as probe
from grpclab.probe import targets
from grpclab.status import ExitStatus


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
        "--connections 100 --concurrency 100 --calls 1000"
    ],
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
BAD_ARGUMENTS = [
    pytest.param(extra.split(), message, id=extra)
    for message, extras in REFUSALS.items()
    for extra in extras
]


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


@pytest.mark.parametrize(
    "target",
    [
        "localhost:50051",
        "127.0.0.1:50051",
        "[::1]:50051",
        "grpc-server:50051",
        "grpc-server.grpc-server.svc.cluster.local:50051",
        "dns:///grpc-server.grpc-server.svc.cluster.local:50051",
        "dns://8.8.8.8/grpc-server:50051",
        "ipv4:127.0.1.1:50051,127.0.1.2:50051,127.0.1.3:50051",
        "ipv6:[::1]:50051,[::2]:50052",
        "unix:/run/greeter.sock",
        "unix-abstract:greeter",
    ],
)
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


def test_calls_are_split_as_evenly_as_possible():
    assert probe.split_calls(10, 4) == [3, 3, 2, 2]
    assert probe.split_calls(4, 4) == [1, 1, 1, 1]
    assert sum(probe.split_calls(401, 7)) == 401
