"""The probe's transport and its bad input, on ``shop.Orders`` servers (tests/support/
shop_lab.py, 127.0.61.0/24, no Envoy needed): TLS and mutual TLS with a CA the test makes,
``--server-name`` and ``--authority``, request headers (sent, never printed), and every bad
input as one line with exit status 2, in-process and as the real command.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import tls_ca
from shop_lab import run_probe as probe
from shop_lab import shop_lab

from grpclab.probe import cli


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    with shop_lab(tmp_path_factory.mktemp("shop"), envoy=False) as targets:
        yield targets


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
    # the certificate is for orders.shop.test, not the address: a name mismatch, one line, and
    # at once (no wait mends it), however long --connect-timeout is
    status, result, err = probe(capsys, *base, "--connect-timeout", "60")
    assert status == 2 and result is None and err.count("\n") == 1
    assert err.startswith(f"grpclab-probe: error: cannot connect to {lab['tls']}: ")  # no "within"
    assert "TLS name mismatch: the server's certificate is not for 127.0.61.5" in err
    status, _, err = probe(
        capsys, *base, "--server-name", "other.shop.test", "--connect-timeout", "60"
    )
    assert status == 2 and "not for other.shop.test" in err and err.count("\n") == 1
    status, _, err = probe(capsys, *base[:-2], "--tls", "--connect-timeout", "60")
    assert status == 2 and "not signed by a CA of the system roots" in err
    plain = ("--target", lab["plain"], *base[2:], "--protoset", lab["protoset"])
    status, _, err = probe(capsys, *plain, "--connect-timeout", "60")
    assert status == 2 and "the server does not speak TLS" in err
    # a closed connection may be a server going away: waited for, then explained
    status, _, err = probe(capsys, *base[:-2], "--connect-timeout", "1")  # plaintext to TLS
    assert status == 2 and "within 1 s: " in err
    assert "a TLS server? give --tls or --cacert" in err


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
        "60",
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
