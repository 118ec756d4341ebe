"""The committed helloworld stubs are what the proto beside them compiles to."""

from __future__ import annotations

from pathlib import Path

from grpclab.apps.protos import generate, helloworld_pb2


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
