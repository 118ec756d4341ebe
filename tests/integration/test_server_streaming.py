"""The Greeter's other faces, as real processes: the server-streaming MultiGreeter and server
reflection, straight and through a real Envoy (L7, per request, as cilium-envoy; L4, per
connection, as kube-proxy). Reflection through the L7 path is what cilium/cilium#31575 broke.

On 127.0.62.210-222, outside the lab's default address plan and above the few Service
addresses tests/playbooks/test_lab_playbooks.py takes from 127.0.62.0/24, so the module needs no
lab cluster and meets none.
"""

from __future__ import annotations

from collections import Counter

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from servers import envoy_config, start_envoy, start_replicas, stop, write_envoy_config

from grpclab.apps.protos import hellostreamingworld_pb2, hellostreamingworld_pb2_grpc

REPLICAS = [(f"s{n}", f"127.0.62.21{n}", 50051) for n in (1, 2, 3)]
L4 = ("127.0.62.221", 50051)
L7 = ("127.0.62.222", 50051)
ADMIN = ("127.0.62.220", 9901)
SERVICES = {
    "helloworld.Greeter",
    "hellostreamingworld.MultiGreeter",
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
}


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    started = start_replicas(REPLICAS, tmp_path_factory.mktemp("streaming-replicas"))
    yield started
    for replica in started:
        stop(replica.process)


@pytest.fixture(scope="module")
def envoy(replicas, tmp_path_factory):
    folder = tmp_path_factory.mktemp("streaming-envoy")
    config = envoy_config([(r.address, r.port) for r in replicas], L4, L7, ADMIN)
    path = write_envoy_config(folder / "envoy.yaml", config)
    process = start_envoy(path, ADMIN, folder / "envoy.log", listeners=[L4, L7])
    yield
    stop(process)


def stream(channel: grpc.Channel, count: str = "3") -> tuple[str, list[str]]:
    """One sayHello stream: the hostname of its headers and the text of each reply."""
    stub = hellostreamingworld_pb2_grpc.MultiGreeterStub(channel)
    call = stub.sayHello(
        hellostreamingworld_pb2.HelloRequest(name="probe", num_greetings=count), timeout=10
    )
    messages = [reply.message for reply in call]
    return dict(call.initial_metadata())["hostname"], messages


def listed_services(target: str) -> set[str]:
    with grpc.insecure_channel(target) as channel:
        return set(ProtoReflectionDescriptorDatabase(channel).get_services())


def test_a_stream_names_its_replica_in_headers_and_every_reply(replicas):
    with grpc.insecure_channel(replicas[0].target) as channel:
        hostname, messages = stream(channel, "4")
        assert hostname == "s1"
        assert messages == ["Hello from s1"] * 4
        _, default = stream(channel, "")
        assert len(default) == 10


@pytest.mark.parametrize("count", ["many", "-1", "10001"])
def test_a_bad_num_greetings_is_invalid_argument(replicas, count):
    with grpc.insecure_channel(replicas[0].target) as channel, pytest.raises(grpc.RpcError) as e:
        stream(channel, count)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "num_greetings" in e.value.details()


def test_reflection_lists_the_services_of_a_replica(replicas):
    assert listed_services(replicas[1].target) == SERVICES


def test_reflection_works_through_the_l7_path(envoy):
    target = f"{L7[0]}:{L7[1]}"
    assert listed_services(target) == SERVICES
    with grpc.insecure_channel(target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        # the file of a symbol, as grpcurl describe (and the probe's --call) ask for it
        found = database.FindFileContainingSymbol("hellostreamingworld.MultiGreeter")
        assert found.package == "hellostreamingworld"
        assert [m.name for m in found.service[0].method] == ["sayHello"]
        assert found.service[0].method[0].server_streaming


def test_l7_spreads_streams_and_keeps_each_stream_on_one_replica(envoy):
    with grpc.insecure_channel(f"{L7[0]}:{L7[1]}") as channel:
        streams = [stream(channel) for _ in range(9)]
    for hostname, messages in streams:
        assert messages == [f"Hello from {hostname}"] * 3
    # one connection, round robin per request (per stream): every replica gets streams
    assert Counter(hostname for hostname, _ in streams) == {"s1": 3, "s2": 3, "s3": 3}


def test_l4_pins_every_stream_of_a_connection(envoy):
    with grpc.insecure_channel(f"{L4[0]}:{L4[1]}") as channel:
        hostnames = {stream(channel)[0] for _ in range(6)}
    assert len(hostnames) == 1
