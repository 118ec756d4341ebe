"""The probe sizes its calls, the command against a real gRPC server that answers as a random one
of N replicas per call (per-request balancing exactly as the sizing models it). The server binds
127.0.0.1 on an ephemeral port (tests/unit/test_sizing.py holds the rule and the verdict).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from grpclab.apps.protos import helloworld_pb2, helloworld_pb2_grpc
from grpclab.probe import cli as probe
from grpclab.status import ExitStatus

# ---------------------------------------------------------------------------- the command


class RandomReplica(helloworld_pb2_grpc.GreeterServicer):
    """Each call answered as one of ``replicas`` names at random: per-request balancing."""

    def __init__(self, replicas: int, seed: int = 7) -> None:
        self.names = [f"replica-{i:02d}" for i in range(replicas)]
        self.rng = random.Random(seed)

    def SayHello(self, request, context):
        name = self.rng.choice(self.names)
        context.send_initial_metadata((("hostname", name),))
        return helloworld_pb2.HelloReply(message=f"Hello from {name}")


@pytest.fixture
def random_target() -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    helloworld_pb2_grpc.add_GreeterServicer_to_server(RandomReplica(32), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(0).wait()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    status = probe.main([*args, "--json"])
    out, err = capsys.readouterr()
    return status, json.loads(out), err


def test_without_calls_the_probe_sizes_and_says_why(random_target, capsys):
    status, result, err = run(
        capsys, "--target", random_target, "--expect", "spread", "--replicas", "32"
    )
    assert status == ExitStatus.SUCCESS and err == "", result["summary"]
    assert result["calls"]["chosen"] == result["totals"]["calls"] == 2940
    assert result["calls"]["source"] == "sized" and result["calls"]["per_connection"] == 735
    assert result["parameters"]["calls"] == 2940
    assert result["parameters"]["concurrency"] == result["calls"]["concurrency"] == 8
    assert result["cannot_judge"] is False and result["spread_chance"] < 1e-6


def test_without_replicas_a_first_pass_then_a_top_up(random_target, capsys):
    status, result, _ = run(capsys, "--target", random_target, "--expect", "spread")
    assert status == ExitStatus.SUCCESS, result["summary"]
    assert result["calls"]["source"] == "first-pass"
    assert result["totals"]["calls"] == 2940 and len(result["replicas"]) == 32
    assert "saw 32 replicas; topped up to 735" in result["calls"]["why"]


def test_explicit_too_few_calls_cannot_judge_with_exit_2(random_target, capsys):
    status, result, err = run(
        capsys, "--target", random_target, "--calls", "64", "--expect", "spread", "--replicas", "32"
    )
    assert status == ExitStatus.CANNOT_JUDGE == 2
    assert result["cannot_judge"] is True and result["passed"] is False
    assert any("cannot be trusted" in w for w in result["warnings"])
    assert (
        err.startswith(
            "grpclab-probe: error: cannot judge spread: too few calls per "
            "connection (16) for 32 replicas"
        )
        and err.count("\n") == 1
    )


def test_too_few_calls_with_expect_none_or_pinned_keep_their_status(random_target, capsys):
    status, result, err = run(
        capsys, "--target", random_target, "--calls", "64", "--replicas", "32"
    )
    assert (status, result["cannot_judge"], err) == (0, False, "")
    assert any("by chance" in w for w in result["warnings"])
    status, result, _ = run(
        capsys, "--target", random_target, "--calls", "64", "--expect", "pinned", "--replicas", "32"
    )
    assert status == ExitStatus.NOT_MET and result["cannot_judge"] is False


def test_the_table_says_how_many_calls_and_why(random_target, capsys):
    status = probe.main(["--target", random_target, "--replicas", "32"])
    out = capsys.readouterr().out
    assert status == 0
    assert "calls        2940 (sized for 32 replicas over 4 connections: with 735 calls" in out
