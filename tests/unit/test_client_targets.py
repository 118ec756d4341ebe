"""What the walk-through's client makes of its target and GRPCLAB_DNS, as pure functions (the
client as a real process: tests/integration/test_client.py)."""

from __future__ import annotations

import pytest

from grpclab.apps.client import channel_target, dns_server_problem, has_scheme

# ---------------------------------------------------------------------------- GRPCLAB_DNS


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("grpc-server.grpc-server:50051", "dns://127.0.2.253:10053/grpc-server.grpc-server:50051"),
        ("localhost:50051", "dns://127.0.2.253:10053/localhost:50051"),
        ("10.96.0.10:50051", "dns://127.0.2.253:10053/10.96.0.10:50051"),
        ("[::1]:50051", "dns://127.0.2.253:10053/[::1]:50051"),
        ("dns:///grpc-server.grpc-server:50051", "dns:///grpc-server.grpc-server:50051"),
        ("dns://8.8.8.8/grpc-server:50051", "dns://8.8.8.8/grpc-server:50051"),
        ("DNS:///a:1", "DNS:///a:1"),
        ("ipv4:127.0.0.1:50051,127.0.0.2:50051", "ipv4:127.0.0.1:50051,127.0.0.2:50051"),
        ("ipv6:[::1]:50051", "ipv6:[::1]:50051"),
        ("unix:/tmp/greeter.sock", "unix:/tmp/greeter.sock"),
        ("xds:///greeter", "xds:///greeter"),
    ],
)
def test_a_target_without_a_scheme_goes_to_the_lab_dns(target, expected):
    assert channel_target(target, "127.0.2.253:10053") == expected
    assert channel_target(target, "") == target  # no GRPCLAB_DNS: as given
    assert has_scheme(target) == (expected == target)


@pytest.mark.parametrize(
    "value",
    [
        "127.0.2.253",
        "127.0.2.253:0",
        "127.0.2.253:65536",
        ":10053",
        "a b:53",
        "dns://127.0.2.253:53",
        "h:53/x",
    ],
)
def test_a_malformed_dns_server_is_named(value):
    assert (
        dns_server_problem(value) == f"GRPCLAB_DNS must be host:port of a DNS server, not {value!r}"
    )


@pytest.mark.parametrize("value", ["127.0.2.253:10053", "dns.local:53", "[::1]:53"])
def test_a_dns_server_host_port_is_accepted(value):
    assert dns_server_problem(value) is None
