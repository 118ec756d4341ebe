"""The probe sizes its calls: the rule on numbers, the verdict on synthetic tallies, and the
command against a real gRPC server that answers as a random one of N replicas per call (per-request
balancing exactly as the sizing models it). The server binds 127.0.0.1 on an ephemeral port.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from grpclab import probe, sizing
from grpclab.protos import helloworld_pb2, helloworld_pb2_grpc
from grpclab.stats import miss_chance, pinned_chance, share_chance, spread_chance
from grpclab.status import ExitStatus
from grpclab.verdict import PINNED, SPREAD, Expectation, Tally, judge

# ---------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(("replicas", "connections"),
                         [(2, 4), (3, 4), (10, 4), (32, 4), (32, 1), (32, 16), (100, 4)])
def test_the_sized_count_is_the_fewest_below_one_in_a_million(replicas, connections):
    n = sizing.calls_per_connection(replicas, connections, min_share=0.5)
    assert spread_chance([n] * connections, replicas, 0.5) < 1e-6
    if n > sizing.MIN_PER_CONNECTION:
        assert spread_chance([n - 1] * connections, replicas, 0.5) >= 1e-6


def test_the_union_bound_counts_every_connection_and_every_replica():
    # connection c misses replica r with (1 - 1/R)^n; K x R pairs
    assert miss_chance(200, 32, connections=4) == pytest.approx(4 * 32 * (31 / 32) ** 200)
    assert miss_chance(100, 32, connections=4) == 1.0  # capped
    assert miss_chance(588, 32, connections=4) < 1e-6 < miss_chance(587, 32, connections=4)
    assert spread_chance([100] * 4, 32) == pytest.approx(miss_chance(100, 32, connections=4))
    # the share term: some replica below half its fair share of all calls, exact binomial tail
    assert share_chance(90, 3, 0.5) == pytest.approx(
        3 * sum(__import__("math").comb(90, k) * (1 / 3) ** k * (2 / 3) ** (90 - k)
                for k in range(15)))
    assert share_chance(1000, 3, 0.0) == 0.0 and share_chance(10, 1, 0.5) == 0.0


def test_known_sizes():
    """The figures the README quotes: 4 connections, min share 0.5."""
    sizes = {r: sizing.calls_per_connection(r, 4) for r in (3, 32, 100)}
    assert sizes == {3: 45, 32: 735, 100: 2537}
    assert sizing.calls_per_connection(1, 4) == sizing.MIN_PER_CONNECTION
    # the reach term alone, as the issue counts it: 588 per connection for 32 replicas
    assert sizing.calls_per_connection(32, 4, min_share=0.0) == 588


def test_plans():
    sized = sizing.plan_calls(None, 4, None, 32, 0.5, 4096)
    assert (sized.chosen, sized.per_connection, sized.source) == (2940, 735, sizing.SIZED)
    assert sized.concurrency == sizing.MAX_AUTO_CONCURRENCY
    assert "sized for 32 replicas over 4 connections" in sized.why
    assert sized.spread_chance is not None and sized.spread_chance < 1e-6

    small = sizing.plan_calls(None, 4, None, 3, 0.5, 4096)
    assert (small.chosen, small.concurrency) == (180, 1)
    assert sizing.plan_calls(None, 4, 2, 3, 0.5, 4096).concurrency == 2  # given wins

    given = sizing.plan_calls(400, 4, None, 32, 0.5, 4096)
    assert (given.chosen, given.per_connection, given.concurrency) == (400, 100, 1)
    assert given.source == sizing.GIVEN and "would fail spread by chance up to 1" in given.why

    first = sizing.plan_calls(None, 4, None, None, 0.5, 4096)
    assert (first.chosen, first.source) == (400, sizing.FIRST_PASS)
    final, more = sizing.top_up(first, 32, 4, 0.5, None, 4096)
    assert (final.chosen, final.per_connection, more) == (2940, 735, 635)
    assert "saw 32 replicas; topped up to 735 per connection" in final.why
    enough, none = sizing.top_up(first, 3, 4, 0.5, None, 4096)
    assert (enough.chosen, none) == (400, 0) and "enough for them" in enough.why


def test_auto_concurrency_rises_with_the_calls_within_a_bound():
    assert [sizing.auto_concurrency(n, 4, 4096) for n in (25, 100, 101, 450, 5000)] == \
        [1, 1, 2, 5, sizing.MAX_AUTO_CONCURRENCY]
    assert sizing.auto_concurrency(5000, 1000, 4096) == 4  # never past MAX_IN_FLIGHT in all


# ---------------------------------------------------------------------------- the verdict

def _uniform(replicas: int, calls: int, rng: random.Random) -> Tally:
    tally = Tally()
    for _ in range(calls):
        name = f"r{rng.randrange(replicas)}"
        tally.replicas[name] = tally.replicas.get(name, 0) + 1
    return tally


def test_too_few_calls_make_a_spread_not_met_cannot_judge():
    short = [Tally({f"r{i}": 3 for i in range(30)}) for _ in range(4)]  # 2 of 32 never reached
    verdict = judge(short, Expectation(expect=SPREAD, replicas=32))
    assert not verdict.passed and verdict.cannot_judge
    assert any("cannot be trusted" in w for w in verdict.warnings)
    assert "expected spread: cannot judge with so few calls" in verdict.summary


def test_pinned_connections_are_judged_even_with_few_calls():
    """Per-request balancing all but never keeps 100 calls on one replica: a real not met."""
    pinned = [Tally({f"r{i}": 100}) for i in range(4)]
    verdict = judge(pinned, Expectation(expect=SPREAD, replicas=32))
    assert verdict.observed == PINNED and not verdict.passed and not verdict.cannot_judge
    assert pinned_chance([100] * 4, 32) < 1e-100
    # ... but one call per connection on one replica is no evidence at all
    assert judge([Tally({f"r{i}": 1}) for i in range(4)],
                 Expectation(expect=SPREAD, replicas=32)).cannot_judge


def test_enough_calls_are_judged_and_a_miss_is_not_met():
    missing = [Tally({f"r{i}": 30 for i in range(31)}) for _ in range(4)]  # 31 of 32, 930 each
    verdict = judge(missing, Expectation(expect=SPREAD, replicas=32))
    assert not verdict.passed and not verdict.cannot_judge
    assert verdict.spread_chance is not None and verdict.spread_chance < 1e-6


def test_sized_tallies_pass_spread_in_simulation():
    """Uniform random per-request balancing with the sized count: 200 probes, all spread."""
    rng = random.Random(12)
    n = sizing.calls_per_connection(32, 4)
    for _ in range(200):
        verdict = judge([_uniform(32, n, rng) for _ in range(4)],
                        Expectation(expect=SPREAD, replicas=32))
        assert verdict.passed, verdict.summary


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
    status, result, err = run(capsys, "--target", random_target, "--expect", "spread",
                              "--replicas", "32")
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
    status, result, err = run(capsys, "--target", random_target, "--calls", "64", "--expect",
                              "spread", "--replicas", "32")
    assert status == ExitStatus.CANNOT_JUDGE == 2
    assert result["cannot_judge"] is True and result["passed"] is False
    assert any("cannot be trusted" in w for w in result["warnings"])
    assert err.startswith("grpclab-probe: error: cannot judge spread: too few calls per "
                          "connection (16) for 32 replicas") and err.count("\n") == 1


def test_too_few_calls_with_expect_none_or_pinned_keep_their_status(random_target, capsys):
    status, result, err = run(capsys, "--target", random_target, "--calls", "64",
                              "--replicas", "32")
    assert (status, result["cannot_judge"], err) == (0, False, "")
    assert any("by chance" in w for w in result["warnings"])
    status, result, _ = run(capsys, "--target", random_target, "--calls", "64", "--expect",
                            "pinned", "--replicas", "32")
    assert status == ExitStatus.NOT_MET and result["cannot_judge"] is False


def test_the_table_says_how_many_calls_and_why(random_target, capsys):
    status = probe.main(["--target", random_target, "--replicas", "32"])
    out = capsys.readouterr().out
    assert status == 0
    assert "calls        2940 (sized for 32 replicas over 4 connections: with 735 calls" in out
