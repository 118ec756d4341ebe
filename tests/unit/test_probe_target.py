"""grpclab.lab.probe_target: what the probe dials for grpc_probe_target on each platform."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections/ansible_collections/grpclab/lab/plugins/filter"))

from probe_target import probe_target  # noqa: E402


@pytest.mark.parametrize(
    "given",
    [
        "127.0.0.1:50051",
        "[::1]:443",
        "dns:///orders.shop:50051",
        "dns://10.0.0.10/a.b:1",
        "ipv4:127.0.1.1:50051,127.0.1.2:50051",
    ],
)
@pytest.mark.parametrize("platform", ["lab", "kind", "existing"])
def test_addresses_and_schemes_are_dialled_as_they_are(given, platform):
    result = probe_target(given, platform)
    assert result["target"] == given and result["error"] is None and result["service"] is None


def test_a_name_of_three_labels_is_a_host_to_resolve():
    result = probe_target("orders.example.com:443", "existing")
    assert result == {
        "target": "orders.example.com:443",
        "host": "orders.example.com",
        "service": None,
        "error": None,
    }


@pytest.mark.parametrize(
    "given", ["orders.shop:50051", "orders.shop.svc:50051", "orders.shop.svc.cluster.local:50051"]
)
def test_a_service_on_kubernetes_is_its_cluster_dns_name(given):
    result = probe_target(given, "kind", domain="cluster.local")
    assert result["target"] == "orders.shop.svc.cluster.local:50051"
    assert result["host"] == "orders.shop.svc.cluster.local"
    assert result["service"] == {"name": "orders", "namespace": "shop", "port": 50051}


def test_a_service_on_the_lab_is_named_for_the_role_to_look_up():
    result = probe_target("grpc-server.grpc-server:50051", "lab")
    assert result["target"] is None and result["error"] is None
    assert result["service"] == {"name": "grpc-server", "namespace": "grpc-server", "port": 50051}


@pytest.mark.parametrize("given", ["", "orders.shop", "host:0", "host:99999", "a b:1", None])
def test_a_target_that_does_not_parse_is_one_line(given):
    error = probe_target(given, "kind")["error"]
    assert error.startswith("grpc_probe_target") and "\n" not in error


def test_header_values_are_masked_in_the_line_the_play_stops_with():
    from probe_redact import probe_redact

    line = "grpclab-probe: error: unrecognized arguments: -H authorization: Bearer s3cret x-t: 7"
    masked = probe_redact(line, ["authorization: Bearer s3cret", "x-t: 7", "empty:"])
    assert masked == "grpclab-probe: error: unrecognized arguments: -H authorization: *** x-t: ***"
    assert probe_redact("no header", []) == "no header"
