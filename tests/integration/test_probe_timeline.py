"""The probe over time (--duration/--rate): pacing, records, timeline, schema (its pure parts
and bad input: tests/unit/test_probe_timeline_records.py).

Real servers: three ``grpclab.apps.server`` replicas on 127.0.31.101-103 behind a real Envoy on
127.0.32.11 (L4 tcp_proxy) and 127.0.32.12 (L7 HTTP/2 round robin), admin 127.0.32.13; and small
in-process servers on 127.0.0.1 that stall or fail on purpose. None of these are the lab's
addresses: no lab lock needed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import jsonschema
import pytest
from probe_helpers import OddGreeter, envoy_over_replicas, greeter_servers

from grpclab import report
from grpclab.probe import cli as probe
from grpclab.probe.options import ProbeOptions
from grpclab.probe.table import render_table

REPLICAS = [(f"replica-{i}", f"127.0.31.{100 + i}", 50051) for i in (1, 2, 3)]
L4, L7, ADMIN = ("127.0.32.11", 50051), ("127.0.32.12", 50051), ("127.0.32.13", 9901)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    folder = tmp_path_factory.mktemp("timeline")
    with envoy_over_replicas(REPLICAS, L4, L7, ADMIN, folder) as targets:
        yield targets


@pytest.fixture(scope="module")
def l7_run(proxy) -> dict:
    """One paced run through the L7 proxy, shared by the assertions below."""
    return probe.probe(
        ProbeOptions(target=proxy["l7"], duration=3.0, rate=200.0, expect="spread", replicas=3)
    )


def test_pacing_achieves_the_asked_rate(l7_run):
    tl = l7_run["timeline"]
    assert l7_run["schema"] == "grpclab.probe/v2"
    assert (tl["rate"], tl["duration_s"]) == (200.0, 3.0)
    assert tl["achieved_rate"] == pytest.approx(200.0, rel=0.1)  # the bench holds it to 2 %
    assert l7_run["totals"]["calls"] == len(tl["calls"]) == 600
    sends = [call[0] for call in tl["calls"]]
    assert sends == sorted(sends) and sends[-1] < 3.0 + 1.0
    # call i is due at i/200 s: the sends cover the run evenly, about 200 in every second (a
    # busy machine can delay a few sends past a second's edge)
    per_second = [b["calls"] for b in tl["per_second"]]
    assert sum(per_second) == 600 and len(per_second) <= 4
    assert all(abs(n - 200) <= 40 for n in per_second[:3])


def test_records_are_complete_and_agree_with_the_tallies(l7_run):
    tl = l7_run["timeline"]
    assert l7_run["passed"], l7_run["summary"]
    assert all(
        code == "OK" and replica and latency is not None and latency >= 0
        for _, _, replica, code, latency in tl["calls"]
    )
    for connection in l7_run["connections"]:
        index = connection["index"]
        mine = [c for c in tl["calls"] if c[1] == index]
        assert len(mine) == connection["calls"] == 150  # round robin over 4 connections
        counted: dict[str, int] = {}
        for _, _, replica, _, _ in mine:
            counted[replica] = counted.get(replica, 0) + 1
        assert counted == connection["replicas"]
        segments = tl["connections"][index]["segments"]
        assert sum(s["calls"] for s in segments) == 150
        assert all(s["from_s"] <= s["to_s"] for s in segments)
        assert sorted(tl["connections"][index]["replicas"]) == sorted(counted)
    per_replica: dict[str, int] = {}
    for bucket in tl["per_second"]:
        assert sum(bucket["replicas"].values()) + bucket["failed"] == bucket["calls"]
        for name, count in bucket["replicas"].items():
            per_replica[name] = per_replica.get(name, 0) + count
    assert per_replica == {r["name"]: r["calls"] for r in l7_run["replicas"]}


def test_the_v2_document_validates_and_v1_rules_still_hold(l7_run):
    schema = report.load_schema("probe-result")
    jsonschema.validate(json.loads(json.dumps(l7_run)), schema)
    broken = json.loads(json.dumps(l7_run))
    del broken["timeline"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)  # v2 without its timeline
    broken["schema"], broken["timeline"] = "grpclab.probe/v1", l7_run["timeline"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)  # a timeline in a v1 document
    bad_call = json.loads(json.dumps(l7_run))
    bad_call["timeline"]["calls"][0] = [0.0, 0, "replica-1", "OK"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad_call, schema)


def test_the_table_shows_a_compact_timeline(l7_run):
    text = render_table(l7_run)
    assert "timeline     asked 200 calls/s for 3 s, achieved" in text
    assert "second  calls  failed  replica-1  replica-2  replica-3" in text
    assert "segments over 3 replicas" in text
    assert text.splitlines()[-1] == "verdict      PASS: expected spread, observed spread"


def test_l4_keeps_one_segment_per_connection(proxy, capsys):
    status = probe.main(
        [
            "--target",
            proxy["l4"],
            "--duration",
            "2",
            "--rate",
            "100",
            "--expect",
            "pinned",
            "--replicas",
            "3",
            "--json",
        ]
    )
    result = json.loads(capsys.readouterr().out)
    assert status == 0, result["summary"]
    for connection in result["timeline"]["connections"]:
        [segment] = connection["segments"]
        assert segment["calls"] == 50 and segment["from_s"] < 0.1 and segment["to_s"] > 1.8


# ---------------------------------------------------------------------------- open loop


@pytest.fixture
def serve() -> Iterator:
    with greeter_servers(max_workers=128) as start:
        yield start


def test_calls_are_sent_on_schedule_while_answers_are_slow(serve, capsys):
    """A closed loop of one call in flight would make 4 calls here; the pacer sends 200."""
    target = serve(OddGreeter("stalling", fail_every=1, stall=0.5))  # every call 0.5 s
    status = probe.main(
        ["--target", target, "--connections", "1", "--duration", "2", "--rate", "100", "--json"]
    )
    result = json.loads(capsys.readouterr().out)
    assert status == 0
    tl = result["timeline"]
    assert result["totals"] == {"calls": 200, "ok": 200, "failed": 0}
    assert tl["achieved_rate"] == pytest.approx(100.0, rel=0.1)
    assert tl["max_in_flight"] >= 30  # about rate x delay = 50 overlap
    assert min(call[4] for call in tl["calls"]) >= 500.0


def test_failures_are_recorded_per_call_and_per_second(serve, capsys):
    target = serve(OddGreeter("stalling", fail_every=10))  # UNAVAILABLE
    status = probe.main(
        [
            "--target",
            target,
            "--connections",
            "2",
            "--duration",
            "2",
            "--rate",
            "100",
            "--expect",
            "pinned",
            "--json",
        ]
    )
    result = json.loads(capsys.readouterr().out)
    assert status == 1  # 10 % failed, above --max-error-rate 0
    tl = result["timeline"]
    failed = [c for c in tl["calls"] if c[3] != "OK"]
    assert len(failed) == 20 == result["failures"]["UNAVAILABLE"]
    assert all(c[2] is None and c[3] == "UNAVAILABLE" and c[4] is None for c in failed)
    assert sum(b["failed"] for b in tl["per_second"]) == 20
    assert sum(b["failures"].get("UNAVAILABLE", 0) for b in tl["per_second"]) == 20
    # a failed call neither ends nor extends a segment: one segment per connection
    assert [len(c["segments"]) for c in tl["connections"]] == [1, 1]
    assert sum(c["segments"][0]["calls"] for c in tl["connections"]) == 180
