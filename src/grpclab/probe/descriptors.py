"""The method to call and its message types: from server reflection, a protoset, or a .proto.

:func:`parse_call` reads ``--call`` (``pkg.Service/Method`` or ``pkg.Service.Method``);
:func:`resolve` finds the method's descriptor in one of three places, in this order of choice:

- ``--protoset FILE``: a FileDescriptorSet (``protoc --include_imports --descriptor_set_out``);
- ``--proto FILE`` with ``--import-path DIR``: compiled when the probe runs, with grpcio-tools'
  protoc (the ``proto`` extra: ``pip install 'grpclab[proto]'``);
- else server reflection, ``grpc.reflection.v1`` then ``v1alpha`` (the request and response
  messages of both are the same on the wire, so one set of classes serves both).

The Greeter's own methods (``helloworld.proto`` of this package) need none of the three: they
come from the compiled module, so a Greeter without reflection is probed as before.

:class:`Method` carries what the call loop needs, prepared once: the path, the request already
serialized to bytes (the loop sends bytes: no per-call serialization), and the reply class,
parsed only when an identity spec reads a reply field. Errors are :class:`DescriptorError`, one
line each.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor

from grpclab.apps.protos import helloworld_pb2

GREETER_CALL = "helloworld.Greeter/SayHello"
UNARY, SERVER_STREAMING, CLIENT_STREAMING, BIDI = (
    "unary",
    "server_streaming",
    "client_streaming",
    "bidi_streaming",
)
_REFLECTION = ("grpc.reflection.v1", "grpc.reflection.v1alpha")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_CALL_RE = re.compile(rf"^/?((?:{_NAME}\.)*{_NAME})[/.]({_NAME})$")


class DescriptorError(Exception):
    """The method or its types cannot be found or used: the message is one line."""


@dataclass(frozen=True)
class Method:
    service: str  # full name, e.g. shop.Orders
    name: str  # e.g. Get
    kind: str  # UNARY, SERVER_STREAMING, CLIENT_STREAMING or BIDI
    request: bytes  # the request message, serialized once
    reply_class: type  # a protobuf message class
    source: str  # compiled | reflection (v1 / v1alpha) | protoset FILE | proto FILE

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.name}"

    @property
    def streaming(self) -> bool:
        return self.kind != UNARY

    @property
    def reply_descriptor(self):
        return self.reply_class.DESCRIPTOR


def parse_call(text: str) -> tuple[str, str]:
    """``pkg.Service/Method`` or ``pkg.Service.Method`` -> (service, method)."""
    match = _CALL_RE.match(text.strip())
    if match is None:
        raise DescriptorError(
            f"--call {text!r} is not SERVICE/METHOD (as helloworld.Greeter/SayHello) "
            "nor pkg.Service.Method"
        )
    return match.group(1), match.group(2)


def _kind(method: MethodDescriptor) -> str:
    if method.client_streaming and method.server_streaming:
        return BIDI
    if method.server_streaming:
        return SERVER_STREAMING
    return CLIENT_STREAMING if method.client_streaming else UNARY


def _request_bytes(method: MethodDescriptor, data: str | None, greeter_name: str) -> bytes:
    request_class = message_factory.GetMessageClass(method.input_type)
    if data is None:
        request = request_class()
        if method.input_type.full_name == "helloworld.HelloRequest":
            request.name = greeter_name
        return request.SerializeToString()
    try:
        return json_format.Parse(data, request_class()).SerializeToString()
    except json_format.ParseError as err:
        # protobuf names the field: 'Message type "shop.GetRequest" has no field named "x"'
        first = str(err).strip().splitlines()[0] if str(err).strip() else "not protobuf JSON"
        raise DescriptorError(
            f"--data does not fit {method.input_type.full_name}: {first[:300]}"
        ) from None


def _pool_of(files: descriptor_pb2.FileDescriptorSet | list) -> descriptor_pool.DescriptorPool:
    """A fresh pool with ``files`` added, dependencies first (in any order they came)."""
    pool = descriptor_pool.DescriptorPool()
    pending = {f.name: f for f in (files.file if hasattr(files, "file") else files)}
    added: set[str] = set()

    def add(name: str, trail: tuple[str, ...] = ()) -> None:
        if name in added:
            return
        proto = pending.get(name)
        if proto is None:
            try:  # a well-known type the server did not send: the runtime has it
                if name.startswith("google/protobuf/"):  # loaded into the pool on import
                    stem = name.rpartition("/")[2].removesuffix(".proto")
                    importlib.import_module(f"google.protobuf.{stem}_pb2")
                proto = descriptor_pb2.FileDescriptorProto()
                descriptor_pool.Default().FindFileByName(name).CopyToProto(proto)
            except (KeyError, ImportError):
                raise DescriptorError(
                    f"the descriptors lack {name} (imported by {trail[-1] if trail else '?'})"
                ) from None
        for dependency in proto.dependency:
            add(dependency, (*trail, name))
        pool.Add(proto)
        added.add(name)

    for name in list(pending):
        add(name)
    return pool


def _find(pool: descriptor_pool.DescriptorPool, service: str, name: str, where: str):
    try:
        found = pool.FindServiceByName(service)
    except KeyError:
        raise DescriptorError(f"{where} has no service {service}") from None
    method = found.methods_by_name.get(name)
    if method is None:
        methods = ", ".join(sorted(found.methods_by_name)) or "none"
        raise DescriptorError(f"service {service} has no method {name} (it has: {methods})")
    return method


def _read_protoset(path: str) -> descriptor_pb2.FileDescriptorSet:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as err:
        raise DescriptorError(f"--protoset {path}: {err.strerror or err}") from None
    files = descriptor_pb2.FileDescriptorSet()
    try:
        files.ParseFromString(raw)
    except Exception:  # protobuf's DecodeError, or worse on garbage
        raise DescriptorError(f"--protoset {path} is not a FileDescriptorSet") from None
    if not files.file:
        raise DescriptorError(f"--protoset {path} holds no file descriptors")
    return files


def compile_proto(path: str, import_paths: tuple[str, ...]) -> descriptor_pb2.FileDescriptorSet:
    """``path`` compiled with grpcio-tools' protoc into a FileDescriptorSet (with imports)."""
    try:
        import grpc_tools  # noqa: F401  (only to tell whether protoc is here)
    except ImportError:
        raise DescriptorError(
            "--proto is compiled with grpcio-tools, which is not installed: pip install "
            "'grpclab[proto]', or give --protoset FILE (protoc --include_imports "
            "--descriptor_set_out=FILE)"
        ) from None
    if not os.path.isfile(path):
        raise DescriptorError(f"--proto {path}: no such file")
    for folder in import_paths:
        if not os.path.isdir(folder):
            raise DescriptorError(f"--import-path {folder}: no such directory")
    includes = list(import_paths) or [os.path.dirname(os.path.abspath(path))]
    with tempfile.TemporaryDirectory(prefix="grpclab-probe-") as tmp:
        out = os.path.join(tmp, "set.pb")
        argv = [sys.executable, "-m", "grpc_tools.protoc", *(f"-I{i}" for i in includes)]
        argv += [f"--descriptor_set_out={out}", "--include_imports", path]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            why = (done.stderr.strip() or done.stdout.strip() or "protoc failed").splitlines()
            raise DescriptorError(f"--proto {path} does not compile: {why[0][:300]}")
        return _read_protoset(out)


# ---------------------------------------------------------------------------- reflection


def _reflection_messages():
    try:
        from grpc_reflection.v1alpha import reflection_pb2
    except ImportError:  # grpcio-reflection is a base dependency; a broken install still says so
        raise DescriptorError(
            "server reflection needs grpcio-reflection (pip install grpcio-reflection), "
            "or give --protoset / --proto"
        ) from None
    return reflection_pb2


class _Reflection:
    """A reflection client over ``channel``: v1 first, v1alpha when v1 is not served."""

    def __init__(self, channel: grpc.Channel, timeout: float, metadata: tuple) -> None:
        self._pb = _reflection_messages()
        self._channel = channel
        self._timeout = timeout
        self._metadata = metadata
        self.version: str | None = None

    def _ask(self, **request) -> object:
        versions = [self.version] if self.version else list(_REFLECTION)
        last: grpc.RpcError | None = None
        for version in versions:
            call = self._channel.stream_stream(
                f"/{version}.ServerReflection/ServerReflectionInfo",
                request_serializer=self._pb.ServerReflectionRequest.SerializeToString,
                response_deserializer=self._pb.ServerReflectionResponse.FromString,
            )
            try:
                replies = list(
                    call(
                        iter([self._pb.ServerReflectionRequest(**request)]),
                        timeout=self._timeout,
                        metadata=self._metadata or None,
                    )
                )
            except grpc.RpcError as err:
                if err.code() == grpc.StatusCode.UNIMPLEMENTED:  # type: ignore[attr-defined]
                    last = err
                    continue
                raise
            self.version = version
            if not replies:
                raise DescriptorError("server reflection answered nothing")
            reply = replies[0]
            if reply.HasField("error_response"):
                raise KeyError(reply.error_response.error_message)
            return reply
        raise last  # type: ignore[misc]

    def services(self) -> list[str]:
        reply = self._ask(list_services="")
        return sorted(s.name for s in reply.list_services_response.service)  # type: ignore[attr-defined]

    def files_of(self, symbol: str) -> list[descriptor_pb2.FileDescriptorProto]:
        files: dict[str, descriptor_pb2.FileDescriptorProto] = {}

        def keep(reply) -> None:
            for raw in reply.file_descriptor_response.file_descriptor_proto:
                proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
                files.setdefault(proto.name, proto)

        keep(self._ask(file_containing_symbol=symbol))
        queue = [d for f in list(files.values()) for d in f.dependency if d not in files]
        while queue:  # a server may send only the file itself: fetch its imports by name
            name = queue.pop()
            if name in files:
                continue
            try:
                keep(self._ask(file_by_filename=name))
            except KeyError:
                continue  # a well-known type: _pool_of takes it from the runtime
            queue += [d for d in files[name].dependency if d not in files]
        return list(files.values())


def _from_reflection(channel, service, name, timeout, metadata, target):
    reflection = _Reflection(channel, timeout, metadata)
    try:
        files = reflection.files_of(service)
    except KeyError:
        try:
            have = ", ".join(s for s in reflection.services() if not s.startswith("grpc."))
        except (grpc.RpcError, KeyError):
            have = "?"
        raise DescriptorError(
            f"{target} has no service {service} (it has: {have or 'none but reflection'})"
        ) from None
    except grpc.RpcError as err:
        code = err.code()  # type: ignore[attr-defined]
        if code == grpc.StatusCode.UNIMPLEMENTED:
            raise DescriptorError(
                f"{target} does not serve reflection (grpc.reflection.v1 nor v1alpha): give "
                "--protoset FILE or --proto FILE (with --import-path DIR)"
            ) from None
        detail = (err.details() or "").strip().splitlines()  # type: ignore[attr-defined]
        raise DescriptorError(
            f"server reflection on {target} failed: {code.name}"
            + (f": {detail[0][:200]}" if detail else "")
        ) from None
    pool = _pool_of(files)
    return _find(pool, service, name, target), f"reflection ({reflection.version})"


def resolve(
    call: str,
    data: str | None,
    *,
    channel: grpc.Channel | None,
    target: str,
    protoset: str | None = None,
    proto: str | None = None,
    import_paths: tuple[str, ...] = (),
    timeout: float = 5.0,
    metadata: tuple = (),
    greeter_name: str = "grpclab-probe",
) -> Method:
    """The :class:`Method` of ``call``; ``channel`` is used only for reflection."""
    service, name = parse_call(call)
    if protoset is not None:
        method = _find(_pool_of(_read_protoset(protoset)), service, name, f"--protoset {protoset}")
        source = f"protoset {protoset}"
    elif proto is not None:
        files = compile_proto(proto, import_paths)
        method = _find(_pool_of(files), service, name, f"--proto {proto}")
        source = f"proto {proto}"
    elif service == "helloworld.Greeter":
        method = _find(descriptor_pool.Default(), service, name, "helloworld.proto")
        assert helloworld_pb2.DESCRIPTOR is not None  # the compiled module fills the pool
        source = "compiled"
    else:
        if channel is None:
            raise DescriptorError("server reflection needs a connection")
        method, source = _from_reflection(channel, service, name, timeout, metadata, target)
    return Method(
        service=service,
        name=name,
        kind=_kind(method),
        request=_request_bytes(method, data, greeter_name),
        reply_class=message_factory.GetMessageClass(method.output_type),
        source=source,
    )
