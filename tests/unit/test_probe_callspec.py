"""The probe's call flags without a server: --call, identity specs, headers, TLS pairs, the
types of the Greeter, reading a reply's fields, peers' tallies, the table's call and stream
lines."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from grpclab.apps.protos import helloworld_pb2
from grpclab.probe import peers
from grpclab.probe.callspec import CallSpec, CallSpecError
from grpclab.probe.descriptors import (
    GREETER_CALL,
    UNARY,
    DescriptorError,
    parse_call,
    resolve,
)
from grpclab.probe.identity import (
    FIELD,
    HEADER,
    PEER,
    TRAILER,
    Identifier,
    SpecError,
    default_specs,
    parse_spec,
)
from grpclab.probe.model import UNIDENTIFIED, Tally
from grpclab.probe.options import ProbeError, parse_options
from grpclab.probe.table import render_table
from grpclab.probe.transport import Transport, TransportError, parse_header


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("helloworld.Greeter/SayHello", ("helloworld.Greeter", "SayHello")),
        ("/shop.v1.Orders/Get", ("shop.v1.Orders", "Get")),
        ("shop.v1.Orders.Get", ("shop.v1.Orders", "Get")),
        ("Orders/Get", ("Orders", "Get")),
    ],
)
def test_call_names(text, expected):
    assert parse_call(text) == expected


@pytest.mark.parametrize(
    "text", ["Get", "shop.Orders/", "shop Orders/Get", "shop.Orders/Get/x", ""]
)
def test_bad_call_names(text):
    with pytest.raises(DescriptorError, match="is not SERVICE/METHOD"):
        parse_call(text)


def test_identity_specs_parse():
    header = parse_spec("header:X-Pod~^pod=(.+)$")
    assert (header.kind, header.name) == (HEADER, "x-pod")
    assert header.pick("pod=shop-1") == "shop-1" and header.pick("node=a") is None
    assert parse_spec("trailer:x-replica").kind == TRAILER
    field = parse_spec("field:servedBy.pod")
    assert (field.kind, field.name, field.regex) == (FIELD, "servedBy.pod", None)
    peer = parse_spec(r"peer~:(\d+)$")
    assert peer.kind == PEER and peer.pick("127.0.0.1:50051") == "50051"
    assert parse_spec("field:note~served").pick("served by x") == "served"  # no group: the match


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("hostname", "is not header:NAME"),
        ("cookie:x", "is not header:NAME"),
        ("header:", "is not a text metadata name"),
        ("header:x-bin", "is not a text metadata name"),
        ("field:a..b", "is not a dotted field path"),
        ("field:x~(", "bad regular expression"),
        ("header:x~", "empty regular expression"),
        ("peer:x", "is not header:NAME"),
    ],
)
def test_bad_identity_specs(text, why):
    with pytest.raises(SpecError, match=why.replace("(", r"\(")):
        parse_spec(text)


def test_default_specs_are_the_greeters():
    specs = default_specs(helloworld_pb2.HelloReply.DESCRIPTOR)
    assert [s.text for s in specs] == ["header:hostname", r"field:message~^Hello from\s*(.+?)\s*$"]
    assert specs[1].pick("Hello from replica-1 ") == "replica-1"
    assert [s.text for s in default_specs(helloworld_pb2.HelloRequest.DESCRIPTOR)] == [
        "header:hostname"
    ]


def _nested_reply_class() -> type:
    """shop-like types built in memory: Order{servedBy: Backend{pod}, tags[], size enum}."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="unit_shop.proto", package="unit", syntax="proto3"
    )
    backend = proto.message_type.add(name="Backend")
    backend.field.add(name="pod", number=1, type=9, label=1, json_name="pod")
    size = proto.enum_type.add(name="Size")
    size.value.add(name="SMALL", number=0)
    size.value.add(name="LARGE", number=1)
    order = proto.message_type.add(name="Order")
    order.field.add(
        name="served_by",
        number=1,
        type=11,
        label=1,
        type_name=".unit.Backend",
        json_name="servedBy",
    )
    order.field.add(name="tags", number=2, type=9, label=3, json_name="tags")
    order.field.add(
        name="size", number=3, type=14, label=1, type_name=".unit.Size", json_name="size"
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("unit.Order"))


def test_fields_are_read_by_json_or_proto_name_only_when_a_field_spec_is_reached():
    order_class = _nested_reply_class()
    reply = order_class()
    reply.served_by.pod = "shop-2"
    reply.tags.append("first-tag")
    reply.size = 1
    raw = reply.SerializeToString()
    for path, expected in (
        ("servedBy.pod", "shop-2"),
        ("served_by.pod", "shop-2"),
        ("tags", "first-tag"),
        ("size", "LARGE"),
        ("servedBy", '{"pod": "shop-2"}'),
    ):
        identify = Identifier([parse_spec(f"field:{path}")], order_class)
        assert identify(None, raw) == expected, path
    with pytest.raises(SpecError, match=r"unit\.Order has no field pod"):
        Identifier([parse_spec("field:pod")], order_class)
    with pytest.raises(SpecError, match="tags is not a message"):
        Identifier([parse_spec("field:tags.x")], order_class)
    # an unset field names nobody; a stream with no message skips the field specs
    assert Identifier([parse_spec("field:servedBy.pod")], order_class)(None, b"") is None
    assert Identifier([parse_spec("field:servedBy")], order_class)(None, b"") is None
    assert Identifier([parse_spec("field:servedBy.pod")], order_class)(None, None) is None


def test_headers():
    assert parse_header("X-Token: a: b ") == ("x-token", "a: b")
    for text, why in (
        ("x-token", "is not 'name: value'"),
        (": v", "is not 'name: value'"),
        ("grpc-timeout: 1", "is not a header name"),
        ("content-type: x", "is not a header name"),
        ("x-data-bin: AA", "binary"),
        ("x-t: caf\u00e9", "printable ASCII"),
    ):
        with pytest.raises(TransportError, match=why) as caught:
            parse_header(text)
        assert "café" not in str(caught.value)  # a value is never repeated


def test_transport_pairs_and_names():
    with pytest.raises(TransportError, match="--cert needs its pair"):
        Transport(cert="c.pem").check()
    with pytest.raises(TransportError, match="--key needs its pair"):
        Transport(key="k.pem").check()
    with pytest.raises(TransportError, match="it needs --tls or --cacert"):
        Transport(server_name="a.example").check()
    assert Transport(cacert="ca.pem").secure and not Transport().secure
    options = dict(Transport(tls=True, server_name="a", authority="b").options())
    assert options == {"grpc.ssl_target_name_override": "a", "grpc.default_authority": "b"}
    described = Transport(headers=(("x-token", "secret"),)).describe()
    assert described["headers"] == ["x-token"] and "secret" not in str(described)


def test_call_spec_rules():
    for spec, why in (
        (CallSpec(identity=("peer", "header:hostname")), "--identity peer stands alone"),
        (CallSpec(protoset="a", proto="b"), "give one"),
        (CallSpec(import_paths=("d",)), "it needs --proto"),
        (CallSpec(messages=0), "--messages must be 1 to"),
    ):
        with pytest.raises(CallSpecError, match=why):
            spec.validate()


def test_flags_fill_the_call_spec():
    options = parse_options(
        [
            "--target",
            "127.0.0.1:1",
            "--call",
            "shop.Orders.Get",
            "-d",
            "{}",
            "--identity",
            "trailer:x",
            "--identity",
            "field:a",
            "-H",
            "x-a: 1",
            "--header",
            "x-b: 2",
            "--messages",
            "3",
            "--import-path",
            "p",
            "--proto",
            "f.proto",
        ]
    )
    spec = options.spec
    assert spec.call == "shop.Orders.Get" and spec.identity == ("trailer:x", "field:a")
    assert spec.transport.headers == (("x-a", "1"), ("x-b", "2")) and spec.messages == 3
    assert spec.import_paths == ("p",) and spec.proto == "f.proto"
    with pytest.raises(ProbeError, match="peer counts calls per connection"):
        parse_options(
            ["--target", "127.0.0.1:1", "--identity", "peer", "--duration", "1", "--rate", "10"]
        )


def test_the_greeter_needs_no_reflection():
    method = resolve(GREETER_CALL, None, channel=None, target="x")
    assert method.kind == UNARY and method.source == "compiled"
    assert helloworld_pb2.HelloRequest.FromString(method.request).name == "grpclab-probe"
    method = resolve("helloworld.Greeter.SayHello", '{"name": "me"}', channel=None, target="x")
    assert helloworld_pb2.HelloRequest.FromString(method.request).name == "me"
    with pytest.raises(DescriptorError, match='no field named "nme"'):
        resolve(GREETER_CALL, '{"nme": "me"}', channel=None, target="x")
    with pytest.raises(DescriptorError, match="has no method SayBye"):
        resolve("helloworld.Greeter/SayBye", None, channel=None, target="x")


def test_peer_tallies_put_the_answers_on_the_addresses_channelz_counted():
    loop = Tally(failures={UNIDENTIFIED: 10, "UNAVAILABLE": 1}, latencies_s=[0.1] * 10)
    before = [{"127.0.0.1:1": 3}]  # reflection's call, before the probe's
    after = [{"127.0.0.1:1": 9, "127.0.0.2:1": 4}]
    [tally] = peers.tallies_by_peer([loop], before, after, parse_spec("peer"))
    assert tally.replicas == {"127.0.0.1:1": 6, "127.0.0.2:1": 4}
    assert tally.failures == {"UNAVAILABLE": 1}
    [tally] = peers.tallies_by_peer([loop], before, after, parse_spec(r"peer~^127\.0\.0\.2"))
    assert tally.replicas == {"127.0.0.2": 4} and tally.failures[UNIDENTIFIED] == 6
    assert peers._address("ipv6:%5B::1%5D:50051") == "[::1]:50051"


def test_the_table_shows_the_call_and_its_streams_and_never_header_values():
    result = {
        "call": {
            "method": "shop.Orders/Watch",
            "kind": "server_streaming",
            "types": "protoset x",
            "identity": ["field:servedBy.pod"],
            "tls": True,
            "mutual_tls": True,
            "server_name": "orders.shop",
            "authority": None,
            "headers": ["x-token"],
        },
        "streams": {
            "kind": "server_streaming",
            "messages_sent": 1,
            "streams": 4,
            "messages": 12,
            "per_replica": {"a": {"streams": 2, "messages": 6}, "b": {"streams": 2, "messages": 6}},
            "split_streams": 0,
            "note": "every stream stayed on one replica",
        },
    }
    table = render_table(result)
    assert "method       shop.Orders/Watch (server-streaming, types: protoset x)" in table
    assert "transport    mutual TLS, server name orders.shop, headers x-token" in table
    assert "streams      4 server-streaming streams, 12 messages received" in table
    assert "every stream stayed on one replica" in table


def test_an_unquoted_header_value_is_never_printed():
    for argv in (
        ["--target", "127.0.0.1:1", "-H", "x-token:", "s3cret"],
        ["--target", "127.0.0.1:1", "--header=x-token:", "s3cret"],
        ["--target", "127.0.0.1:1", "-Hx-token:", "s3cret"],
    ):
        with pytest.raises(ProbeError, match="has no value: quote the whole header") as caught:
            parse_options(argv)
        assert "s3cret" not in str(caught.value)
    # an empty value at the end, or before another flag, is a header like any other
    assert parse_options(["--target", "127.0.0.1:1", "-H", "x-a:"]).spec.transport.headers == (
        ("x-a", ""),
    )
    assert parse_options(["--target", "127.0.0.1:1", "-H", "x-a:", "--json"]).json


def test_a_well_known_import_the_descriptors_lack_comes_from_the_runtime():
    from google.protobuf import descriptor_pb2 as d

    from grpclab.probe.descriptors import _pool_of

    proto = d.FileDescriptorProto(name="uses_duration.proto", package="u", syntax="proto3")
    proto.dependency.append("google/protobuf/duration.proto")
    message = proto.message_type.add(name="M")
    message.field.add(name="d", number=1, type=11, label=1, type_name=".google.protobuf.Duration")
    pool = _pool_of([proto])  # duration.proto itself not given, as a terse server would
    assert pool.FindMessageTypeByName("u.M").fields[0].message_type.full_name == (
        "google.protobuf.Duration"
    )
    proto.dependency.append("elsewhere/missing.proto")
    with pytest.raises(DescriptorError, match=r"lack elsewhere/missing\.proto"):
        _pool_of([proto])
