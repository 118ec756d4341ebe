"""The committed helloworld and hellostreamingworld stubs are what the protos beside them
compile to, and the services are the gRPC examples' own."""

from __future__ import annotations

from pathlib import Path

from grpclab.apps.protos import generate, hellostreamingworld_pb2, helloworld_pb2


def test_generated_modules_match_the_proto(tmp_path: Path):
    fresh = generate.generate(tmp_path)
    committed = generate.PROTO.parent
    stale = [
        path.name for path in fresh if path.read_bytes() != (committed / path.name).read_bytes()
    ]
    assert not stale, (
        f"stale generated modules {stale}: run `python -m grpclab.apps.protos.generate` and commit"
    )


def test_the_service_is_the_standard_greeter():
    service = helloworld_pb2.DESCRIPTOR.services_by_name["Greeter"]
    assert service.full_name == "helloworld.Greeter"
    assert [method.name for method in service.methods] == ["SayHello"]


def test_the_streaming_service_is_the_standard_multigreeter():
    service = hellostreamingworld_pb2.DESCRIPTOR.services_by_name["MultiGreeter"]
    assert service.full_name == "hellostreamingworld.MultiGreeter"
    (method,) = service.methods
    assert method.name == "sayHello"
    assert method.server_streaming and not method.client_streaming
    request = method.input_type
    assert [(f.name, f.number) for f in request.fields] == [("name", 1), ("num_greetings", 2)]
