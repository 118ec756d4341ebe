"""``shop.Orders``: a real gRPC service that is not the Greeter, for the probe's tests.

``tests/support/protos/shop.proto`` is compiled at test time with grpcio-tools' protoc into a
FileDescriptorSet (the file ``--protoset`` reads); the servers use dynamic message classes from
it and generic handlers, so no generated code is checked in. Each replica names itself in the
reply field ``servedBy.pod``, the text ``note`` ("served by <name> in zone-a"), the trailer
``x-replica`` and the header ``x-pod: pod=<name>``; reflection (v1alpha, grpcio-reflection's
server) is optional.
"""

from __future__ import annotations

import importlib.resources
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PROTO = Path(__file__).resolve().parent / "protos" / "shop.proto"
SERVICE = "shop.Orders"


def compile_protoset(folder: Path) -> Path:
    """shop.proto (with its imports) as a FileDescriptorSet in ``folder``."""
    from grpc_tools import protoc

    out = folder / "shop.protoset"
    wkt = importlib.resources.files("grpc_tools") / "_proto"
    status = protoc.main(
        [
            "protoc",
            f"-I{PROTO.parent}",
            f"-I{wkt}",
            f"--descriptor_set_out={out}",
            "--include_imports",
            str(PROTO),
        ]
    )
    if status != 0:
        raise RuntimeError(f"protoc failed on {PROTO}: {status}")
    return out


class Types:
    """The message classes and the pool of a shop protoset."""

    def __init__(self, protoset: Path) -> None:
        files = descriptor_pb2.FileDescriptorSet.FromString(protoset.read_bytes())
        self.pool = descriptor_pool.DescriptorPool()
        for proto in files.file:  # --include_imports lists dependencies first
            self.pool.Add(proto)

        def cls(name: str) -> type:
            return message_factory.GetMessageClass(self.pool.FindMessageTypeByName(f"shop.{name}"))

        self.GetRequest = cls("GetRequest")
        self.Order = cls("Order")
        self.WatchRequest = cls("WatchRequest")
        self.OrderEvent = cls("OrderEvent")
        self.ChatMessage = cls("ChatMessage")
        self.Backend = cls("Backend")


class Orders:
    """One replica's behaviour. ``liar`` names another pod in every second stream message (a
    stream split over replicas, which no real balancer does: it shows the probe notices)."""

    def __init__(self, types: Types, name: str, *, liar: bool = False) -> None:
        self.types = types
        self.name = name
        self.liar = liar
        self.calls = 0
        self.headers: dict[str, str] = {}  # the request headers of the last call
        self._lock = threading.Lock()

    def _served(self, context: grpc.ServicerContext, seq: int = 0):
        with self._lock:
            self.calls += 1
        pod = f"{self.name}-twin" if self.liar and seq % 2 == 1 else self.name
        return self.types.Backend(pod=pod, zone="zone-a")

    def _metadata(self, context: grpc.ServicerContext) -> None:
        self.headers = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        context.send_initial_metadata((("x-pod", f"pod={self.name}"),))
        context.set_trailing_metadata((("x-replica", self.name),))

    def get(self, request, context):
        self._metadata(context)
        return self.types.Order(
            order_id=request.order_id,
            served_by=self._served(context),
            note=f"served by {self.name} in zone-a",
        )

    def watch(self, request, context):
        self._metadata(context)
        for seq in range(request.events or 3):
            yield self.types.OrderEvent(seq=seq, served_by=self._served(context, seq))

    def chat(self, requests, context):
        self._metadata(context)
        for seq, message in enumerate(requests):
            yield self.types.ChatMessage(text=message.text, served_by=self._served(context, seq))

    def place(self, requests, context):
        self._metadata(context)
        lines = list(requests)
        return self.types.Order(
            order_id=",".join(r.order_id for r in lines),
            served_by=self._served(context),
            note=f"{len(lines)} lines placed by {self.name}",
        )

    def handler(self) -> grpc.GenericRpcHandler:
        t = self.types
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Get": grpc.unary_unary_rpc_method_handler(
                    self.get, t.GetRequest.FromString, t.Order.SerializeToString
                ),
                "Watch": grpc.unary_stream_rpc_method_handler(
                    self.watch, t.WatchRequest.FromString, t.OrderEvent.SerializeToString
                ),
                "Chat": grpc.stream_stream_rpc_method_handler(
                    self.chat, t.ChatMessage.FromString, t.ChatMessage.SerializeToString
                ),
                "Place": grpc.stream_unary_rpc_method_handler(
                    self.place, t.GetRequest.FromString, t.Order.SerializeToString
                ),
            },
        )


@contextmanager
def shop_servers(types: Types) -> Iterator[Callable[..., str]]:
    """``start(name, address, reflection=True, credentials=None, liar=False)`` starts a real
    Orders server on ``address`` (ephemeral port) and returns its ``host:port``;
    ``start.orders[name]`` is its :class:`Orders`. All stop on exit."""
    started: list[grpc.Server] = []
    orders: dict[str, Orders] = {}

    def start(
        name: str,
        address: str,
        *,
        reflection: bool = True,
        credentials: grpc.ServerCredentials | None = None,
        liar: bool = False,
    ) -> str:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        orders[name] = Orders(types, name, liar=liar)
        server.add_generic_rpc_handlers((orders[name].handler(),))
        if reflection:
            from grpc_reflection.v1alpha import reflection as served

            served.enable_server_reflection((SERVICE, served.SERVICE_NAME), server, pool=types.pool)
        bind = f"{address}:0"
        port = (
            server.add_secure_port(bind, credentials)
            if credentials is not None
            else server.add_insecure_port(bind)
        )
        server.start()
        started.append(server)
        return f"{address}:{port}"

    start.orders = orders  # type: ignore[attr-defined]  (each replica's Orders, by name)
    try:
        yield start
    finally:
        for server in started:
            server.stop(0).wait()
