"""The lab node's addresses: pods go round their range, and a cluster IP is never one something
else already listens on (a real socket on 127.0.29.1:50051, outside every lab address plan)."""

from __future__ import annotations

from pathlib import Path


def test_pod_addresses_go_round_the_range_and_cluster_ips_last(tmp_path: Path) -> None:
    import socket

    from grpclab.lab.ipam import Ipam

    ipam = Ipam("127.0.29", "127.0.29", tmp_path / "ipam.json")
    assert ipam.pod_ip(set()) == "127.0.29.1"
    # .1 is free again, but a new pod gets the next address
    assert ipam.pod_ip(set()) == "127.0.29.2"
    assert ipam.pod_ip({"127.0.29.3"}) == "127.0.29.4"
    with socket.socket() as foreign:  # something else listens on .1:50051
        foreign.bind(("127.0.29.1", 50051))
        foreign.listen()
        assert ipam.cluster_ip("ns/a", [50051]) == "127.0.29.2"
    assert ipam.cluster_ip("ns/b", [50051]) == "127.0.29.1"
    assert (
        Ipam("127.0.29", "127.0.29", tmp_path / "ipam.json").cluster_ip("ns/a", [1]) == "127.0.29.2"
    )  # kept across a node restart
    ipam.keep_only({"ns/b"})
    assert ipam.cluster_ips == {"ns/b": "127.0.29.1"}
