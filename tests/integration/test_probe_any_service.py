"""The probe on a service that is not the Greeter: ``shop.Orders`` (tests/support/shop.py).

Real gRPC servers with reflection, behind the real Envoy (L4 tcp_proxy and L7 HTTP/2 round
robin), on this helper's own loopback /24 (127.0.61.0/24, ephemeral ports; tests/support/
shop_lab.py): no lab address, so no lab lock. The probe runs in-process through its ``main``
(the command's code path, printing to captured stdout/stderr). Identity specs, where the types
come from, streams; TLS, headers and bad input are test_probe_transport.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import shop
from shop_lab import NET, REPLICAS, shop_lab
from shop_lab import run_probe as probe


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    with shop_lab(tmp_path_factory.mktemp("shop")) as targets:
        yield targets


# 4 connections over 3 replicas: Envoy's round robin cannot fall into step with the connections
# (with 3 and calls sent in turn, connection i would meet replica i every time)
SPREAD_ARGS = ("--calls", "160", "--connections", "4", "--expect", "spread", "--replicas", "3")


# ---------------------------------------------------------------------------- identity specs


@pytest.mark.parametrize(
    "spec",
    ["field:servedBy.pod", "trailer:x-replica", "header:x-pod~^pod=(.+)$", r"field:note~by (\S+)"],
)
def test_l7_spreads_the_calls_of_another_service_by_each_identity_spec(lab, capsys, spec):
    status, result, err = probe(
        capsys,
        "--target",
        lab["l7"],
        "--call",
        "shop.Orders/Get",
        "--identity",
        spec,
        "-d",
        '{"orderId": "o-1", "quantity": 2}',
        *SPREAD_ARGS,
    )
    assert status == 0, (err, result and result["summary"])
    assert {r["name"] for r in result["replicas"]} == set(REPLICAS)
    assert result["call"]["types"] == "reflection (grpc.reflection.v1alpha)"  # v1 tried first
    assert result["call"]["kind"] == "unary" and result["call"]["identity"] == [spec]


def test_l4_pins_each_connection_of_another_service(lab, capsys):
    status, result, err = probe(
        capsys,
        "--target",
        lab["l4"],
        "--call",
        "shop.Orders.Get",
        "--identity",
        "trailer:x-replica",
        "--calls",
        "60",
        "--connections",
        "3",
        "--expect",
        "pinned",
        "--replicas",
        "3",
    )
    assert status == 0, (err, result and result["summary"])
    assert all(len(c["replicas"]) == 1 for c in result["connections"])


def test_specs_are_tried_in_order(lab, capsys):
    # hostname is not sent by shop.Orders: the second spec names the replica
    status, result, _ = probe(
        capsys,
        "--target",
        lab["replicas"][1],
        "--call",
        "shop.Orders/Get",
        "--identity",
        "header:hostname",
        "--identity",
        "field:servedBy.pod",
        "--calls",
        "4",
    )
    assert status == 0 and [r["name"] for r in result["replicas"]] == ["shop-2"]


def test_a_reply_naming_no_replica_shows_what_it_carried(lab, capsys):
    status, result, _ = probe(
        capsys,
        "--target",
        lab["replicas"][0],
        "--call",
        "shop.Orders/Get",
        "--identity",
        "field:servedBy.zone~^pod-(.+)",
        "--calls",
        "4",
        "--expect",
        "pinned",
    )
    assert status == 1 and result["failures"] == {"UNIDENTIFIED": 4}
    summary = result["summary"]
    assert "tried field:servedBy.zone~^pod-(.+)" in summary
    assert '"x-pod":"pod=shop-1"' in summary and '"x-replica":"shop-1"' in summary
    assert '"note": "served by shop-1 in zone-a"' in summary


def test_peer_identity_with_an_ipv4_list_and_round_robin(lab, capsys):
    target = "ipv4:" + ",".join(lab["replicas"])
    status, result, err = probe(
        capsys,
        "--target",
        target,
        "--lb",
        "round_robin",
        "--call",
        "shop.Orders/Get",
        "--identity",
        "peer",
        *SPREAD_ARGS,
    )
    assert status == 0, (err, result and result["summary"])
    assert {r["name"] for r in result["replicas"]} == set(lab["replicas"])  # the addresses
    assert result["totals"]["ok"] == 160
    # the same with pick_first stays on one address per connection; ~REGEX picks the host
    status, result, _ = probe(
        capsys,
        "--target",
        target,
        "--call",
        "shop.Orders/Get",
        "--identity",
        r"peer~^(127\.0\.61\.\d+):",
        "--calls",
        "30",
        "--connections",
        "3",
        "--expect",
        "pinned",
    )
    assert status == 0 and all(r["name"].startswith(f"{NET}.") for r in result["replicas"])
    # a target without a scheme (channelz names it dns:///...): its one address
    status, result, err = probe(
        capsys,
        "--target",
        lab["replicas"][0],
        "--call",
        "shop.Orders/Get",
        "--identity",
        "peer",
        "--calls",
        "8",
    )
    assert status == 0, err
    assert [r["name"] for r in result["replicas"]] == [lab["replicas"][0]]


# ---------------------------------------------------------------------------- types


def test_protoset_and_proto_without_reflection(lab, capsys):
    base = ("--target", lab["plain"], "--call", "shop.Orders/Get", "--calls", "4")
    status, result, err = probe(
        capsys, *base, "--protoset", lab["protoset"], "--identity", "field:servedBy.pod"
    )
    assert status == 0, err
    assert result["call"]["types"].startswith("protoset ") and result["replicas"][0]["name"] == (
        "bare"
    )
    status, result, err = probe(
        capsys, *base, "--proto", str(shop.PROTO), "--identity", "trailer:x-replica"
    )
    assert status == 0, err
    assert result["call"]["types"].startswith("proto ") and result["replicas"][0]["name"] == "bare"


def test_a_generic_method_in_the_paced_mode(lab, capsys):
    status, result, err = probe(
        capsys,
        "--target",
        lab["l7"],
        "--call",
        "shop.Orders/Get",
        "--identity",
        "field:servedBy.pod",
        "--duration",
        "1",
        "--rate",
        "120",
        "--connections",
        "4",
        "--expect",
        "spread",
        "--replicas",
        "3",
    )
    assert status == 0, (err, result and result["summary"])
    assert result["schema"] == "grpclab.probe/v2"


# ---------------------------------------------------------------------------- streams


def test_l7_spreads_streams_and_each_stream_stays_on_one_replica(lab, capsys):
    status, result, err = probe(
        capsys,
        "--target",
        lab["l7"],
        "--call",
        "shop.Orders/Watch",
        "-d",
        '{"events": 4}',
        "--identity",
        "field:servedBy.pod",
        *SPREAD_ARGS,
    )
    assert status == 0, (err, result and result["summary"])
    streams = result["streams"]
    assert streams["kind"] == "server_streaming" and streams["split_streams"] == 0
    assert streams["streams"] == 160 and streams["messages"] == 640
    assert all(c["messages"] == 4 * c["streams"] for c in streams["per_replica"].values())
    assert "never the messages of one stream" in result["summary"]


def test_l4_pins_streams(lab, capsys):
    status, result, err = probe(
        capsys,
        "--target",
        lab["l4"],
        "--call",
        "shop.Orders/Chat",
        "--messages",
        "5",
        "--identity",
        "header:x-pod~pod=(.+)",
        "--calls",
        "30",
        "--connections",
        "3",
        "--expect",
        "pinned",
    )
    assert status == 0, (err, result and result["summary"])
    assert result["streams"]["kind"] == "bidi_streaming"
    assert result["streams"]["messages"] == 150  # the server echoes each of 5 messages


def test_bidi_streams_through_l7_spread(lab, capsys):
    status, result, err = probe(
        capsys,
        "--target",
        lab["l7"],
        "--call",
        "shop.Orders/Chat",
        "--messages",
        "3",
        "--identity",
        "field:servedBy.pod",
        *SPREAD_ARGS,
    )
    assert status == 0, (err, result and result["summary"])
    assert result["streams"]["messages"] == 480 and result["streams"]["split_streams"] == 0


def test_client_streams_through_l7_spread(lab, capsys):
    status, result, err = probe(
        capsys,
        "--target",
        lab["l7"],
        "--call",
        "shop.Orders/Place",
        "-d",
        '{"orderId": "o"}',
        "--messages",
        "4",
        "--identity",
        r"field:note~placed by (\S+)",
        *SPREAD_ARGS,
    )
    assert status == 0, (err, result and result["summary"])
    streams = result["streams"]
    assert streams["kind"] == "client_streaming" and streams["messages_sent"] == 4
    assert streams["streams"] == 160 and streams["messages"] == 160  # one reply per stream


def test_a_stream_whose_messages_name_two_replicas_is_reported(lab, capsys):
    status, result, _ = probe(
        capsys,
        "--target",
        lab["liar"],
        "--call",
        "shop.Orders/Watch",
        "-d",
        '{"events": 2}',
        "--identity",
        "field:servedBy.pod",
        "--calls",
        "4",
    )
    assert status == 0
    assert result["streams"]["split_streams"] == 4
    assert result["streams"]["per_replica"]["liar-twin"] == {"streams": 0, "messages": 4}
    assert "4 streams had messages from more than one replica" in result["summary"]


def test_the_paced_mode_also_shows_what_a_reply_naming_no_replica_carried(lab, capsys):
    status, result, _ = probe(
        capsys,
        "--target",
        lab["replicas"][0],
        "--call",
        "shop.Orders/Get",
        "--duration",
        "0.5",
        "--rate",
        "20",
    )
    assert status == 0 and result["failures"] == {"UNIDENTIFIED": 10}
    assert 'tried header:hostname; headers {"x-pod":"pod=shop-1"}' in result["summary"]
