"""The probe on a service that is not the Greeter: ``shop.Orders`` (tests/support/shop.py).

Real gRPC servers with reflection, behind the real Envoy (L4 tcp_proxy and L7 HTTP/2 round
robin), on this helper's own loopback /24 (127.0.61.0/24, ephemeral ports): no lab address, so
no lab lock. The probe runs in-process through its ``main`` (the command's code path, printing
to captured stdout/stderr); the bad-input tests also run it as a real process.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import shop
import tls_ca
from servers import envoy_config, start_envoy, stop, write_envoy_config

from grpclab.probe import cli

NET = "127.0.61"
REPLICAS = ("shop-1", "shop-2", "shop-3")


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Three Orders replicas with reflection behind Envoy (L4 and L7); one without reflection;
    one with TLS, one with mutual TLS, one that splits its streams; the protoset and the CA."""
    folder = tmp_path_factory.mktemp("shop")
    types = shop.Types(shop.compile_protoset(folder))
    ca = tls_ca.make_ca(folder / "ca")
    key, cert = ca["server_key"].read_bytes(), ca["server_cert"].read_bytes()
    with shop.shop_servers(types) as start:
        replicas = [start(name, f"{NET}.{i}") for i, name in enumerate(REPLICAS, start=1)]
        targets = {
            "replicas": replicas,
            "plain": start("bare", f"{NET}.4", reflection=False),
            "tls": start("tls", f"{NET}.5", credentials=grpc.ssl_server_credentials([(key, cert)])),
            "mtls": start(
                "mtls",
                f"{NET}.6",
                credentials=grpc.ssl_server_credentials(
                    [(key, cert)], root_certificates=ca["ca"].read_bytes(), require_client_auth=True
                ),
            ),
            "liar": start("liar", f"{NET}.7", liar=True),
            "protoset": str(folder / "shop.protoset"),
            "ca": ca,
            "orders": start.orders,  # type: ignore[attr-defined]
        }
        host = f"{NET}.10"
        l4, l7, admin = ((host, free_port(host)) for _ in range(3))
        upstreams = [(t.rpartition(":")[0], int(t.rpartition(":")[2])) for t in replicas]
        config = write_envoy_config(folder / "envoy.yaml", envoy_config(upstreams, l4, l7, admin))
        envoy = start_envoy(config, admin, folder / "envoy.log", listeners=[l4, l7])
        try:
            yield {**targets, "l4": f"{l4[0]}:{l4[1]}", "l7": f"{l7[0]}:{l7[1]}"}
        finally:
            stop(envoy)


def probe(capsys, *argv: str) -> tuple[int, dict | None, str]:
    """Run the probe's main; (exit status, the JSON document or None, stderr)."""
    status = cli.main([*argv, "--json"])
    out, err = capsys.readouterr()
    return status, (json.loads(out) if out.strip() else None), err


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


# ---------------------------------------------------------------------------- transport


def test_tls_with_the_test_ca_and_its_names(lab, capsys):
    ca = lab["ca"]
    base = (
        "--target",
        lab["tls"],
        "--call",
        "shop.Orders/Get",
        "--identity",
        "trailer:x-replica",
        "--calls",
        "4",
        "--cacert",
        str(ca["ca"]),
    )
    for name in (("--server-name", tls_ca.SERVER_NAME), ("--authority", tls_ca.SERVER_NAME)):
        status, result, err = probe(capsys, *base, *name)
        assert status == 0, err
        assert result["call"]["tls"] and result["replicas"][0]["name"] == "tls"
    # the certificate is for orders.shop.test, not the address: a name mismatch, one line
    status, result, err = probe(capsys, *base, "--connect-timeout", "1")
    assert status == 2 and result is None and err.count("\n") == 1
    assert err.startswith(f"grpclab-probe: error: cannot connect to {lab['tls']} within 1 s: ")
    assert "TLS name mismatch: the server's certificate is not for 127.0.61.5" in err
    status, _, err = probe(
        capsys, *base, "--server-name", "other.shop.test", "--connect-timeout", "1"
    )
    assert status == 2 and "not for other.shop.test" in err and err.count("\n") == 1
    status, _, err = probe(capsys, *base[:-2], "--tls", "--connect-timeout", "1")
    assert status == 2 and "not signed by a CA of the system roots" in err
    status, _, err = probe(capsys, *base[:-2], "--connect-timeout", "1")  # plaintext to TLS
    assert status == 2 and "a TLS server? give --tls or --cacert" in err
    status, _, err = probe(
        capsys,
        "--target",
        lab["plain"],
        *base[2:],
        "--protoset",
        lab["protoset"],
        "--connect-timeout",
        "1",
    )
    assert status == 2 and "the server does not speak TLS" in err


def test_a_failed_handshake_is_one_line_from_the_real_command(lab, run_probe_cli):
    """gRPC's core logs each failed handshake on stderr at INFO: the command keeps it quiet."""
    done = run_probe_cli(
        "--target",
        lab["tls"],
        "--call",
        "shop.Orders/Get",
        "--cacert",
        str(lab["ca"]["ca"]),
        "--connect-timeout",
        "1",
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "TLS name mismatch" in done.stderr, done.stderr


def test_mutual_tls(lab, capsys):
    ca = lab["ca"]
    base = (
        "--target",
        lab["mtls"],
        "--call",
        "shop.Orders/Get",
        "--identity",
        "trailer:x-replica",
        "--calls",
        "4",
        "--cacert",
        str(ca["ca"]),
        "--server-name",
        tls_ca.SERVER_NAME,
    )
    status, result, err = probe(
        capsys, *base, "--cert", str(ca["client_cert"]), "--key", str(ca["client_key"])
    )
    assert status == 0, err
    assert result["call"]["mutual_tls"] and result["replicas"][0]["name"] == "mtls"
    status, _, err = probe(capsys, *base, "--connect-timeout", "1")  # no client certificate
    assert status == 2 and err.count("\n") == 1
    assert "does it want a client --cert and --key?" in err


def test_header_values_reach_the_server_and_are_never_printed(lab, capsys):
    target = lab["replicas"][2]
    argv = [
        "--target",
        target,
        "--call",
        "shop.Orders/Get",
        "--identity",
        "trailer:x-replica",
        "--calls",
        "4",
        "-H",
        "x-api-token: s3cr3t-v4lue",
        "--header",
        "x-tenant:blue",
    ]
    status, result, _ = probe(capsys, *argv)
    assert status == 0
    seen = lab["orders"]["shop-3"].headers
    assert seen["x-api-token"] == "s3cr3t-v4lue" and seen["x-tenant"] == "blue"
    assert result["call"]["headers"] == ["x-api-token", "x-tenant"]
    assert "s3cr3t" not in json.dumps(result)
    assert cli.main(argv) == 0  # the table
    out, err = capsys.readouterr()
    assert "x-api-token" in out and "s3cr3t" not in out + err


# ---------------------------------------------------------------------------- bad input


def bad_inputs(lab: dict) -> list[tuple[list[str], str]]:
    replica, plain, ca = lab["replicas"][0], lab["plain"], lab["ca"]
    get = ["--target", replica, "--call", "shop.Orders/Get"]
    return [
        (
            ["--target", replica, "--call", "shop.Carts/Get"],
            "no service shop.Carts (it has: shop.Orders)",
        ),
        (
            ["--target", replica, "--call", "shop.Orders/Cancel"],
            "no method Cancel (it has: Chat, Get, Place, Watch)",
        ),
        (["--target", plain, "--call", "shop.Orders/Get"], "does not serve reflection"),
        (
            [*get, "-d", '{"quantity": "many"}'],
            "does not fit shop.GetRequest: Failed to parse quantity",
        ),
        ([*get, "-d", '{"colour": 1}'], 'no field named "colour"'),
        ([*get, "--identity", "cookie:x"], "--identity 'cookie:x' is not header:NAME"),
        (
            [*get, "--identity", "field:servedBy.pid"],
            "shop.Backend has no field pid (fields: pod, zone)",
        ),
        ([*get, "--identity", "header:x~(unclosed"], "bad regular expression"),
        ([*get, "--messages", "3"], "--messages is the messages per stream of a bidi"),
        ([*get, "--cacert", str(ca["ca"].parent / "missing.pem")], "--cacert"),
        ([*get, "--cert", str(ca["client_cert"])], "--cert needs its pair"),
        ([*get, "--cacert", str(ca["client_key"])], "not a PEM file with a CERTIFICATE"),
        ([*get, "-H", "no colon here"], "is not 'name: value'"),
        ([*get, "--protoset", str(ca["ca"])], "is not a FileDescriptorSet"),
        (["--target", replica, "--call", "Get"], "is not SERVICE/METHOD"),
    ]


def test_every_bad_input_is_one_line_and_exit_2(lab, capsys):
    for argv, expected in bad_inputs(lab):
        status = cli.main([*argv, "--calls", "4"])
        out, err = capsys.readouterr()
        assert status == 2, (argv, err)
        assert out == "" and err.count("\n") == 1, (argv, err)
        assert err.startswith("grpclab-probe: error: ") and expected in err, (argv, err)


def test_bad_input_as_a_real_process(lab, run_probe_cli):
    for argv, expected in bad_inputs(lab)[:3]:
        done = run_probe_cli(*argv, "--calls", "4", timeout=60)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_a_missing_proto_is_one_line(lab, capsys, tmp_path: Path):
    status, _, err = probe(
        capsys,
        "--target",
        lab["plain"],
        "--call",
        "shop.Orders/Get",
        "--proto",
        str(tmp_path / "none.proto"),
    )
    assert status == 2 and "no such file" in err and err.count("\n") == 1
    broken = tmp_path / "broken.proto"
    broken.write_text('syntax = "proto3"; message {')
    status, _, err = probe(
        capsys, "--target", lab["plain"], "--call", "shop.Orders/Get", "--proto", str(broken)
    )
    assert status == 2 and "does not compile" in err and err.count("\n") == 1


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
