"""Helpers the probe's tests and benchmarks share: in-process Greeters, Envoy over replicas."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path

import grpc
from servers import envoy_config, start_envoy, start_replicas, stop, write_envoy_config

from grpclab.apps.protos import helloworld_pb2, helloworld_pb2_grpc

Endpoint = tuple[str, int]


class OddGreeter(helloworld_pb2_grpc.GreeterServicer):
    """Answers as ``name``; every ``fail_every``-th call ends with ``code`` (or stalls for
    ``stall`` seconds when a stall is set); records each call's peer address."""

    def __init__(
        self,
        name: str = "odd",
        *,
        fail_every: int = 0,
        code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
        stall: float = 0.0,
        metadata: bool = True,
        message: str | None = None,
    ) -> None:
        self.name = name
        self.fail_every = fail_every
        self.code = code
        self.stall = stall
        self.metadata = metadata
        self.message = f"Hello from {name}" if message is None else message
        self.peers: dict[str, int] = {}
        self._calls = 0
        self._lock = threading.Lock()

    def SayHello(self, request, context):
        with self._lock:
            self._calls += 1
            nth = self._calls
            self.peers[context.peer()] = self.peers.get(context.peer(), 0) + 1
        if self.fail_every and nth % self.fail_every == 0:
            if self.stall:
                time.sleep(self.stall)
            else:
                context.abort(self.code, f"call {nth} fails on purpose")
        if self.metadata:
            context.send_initial_metadata((("hostname", self.name),))
        return helloworld_pb2.HelloReply(message=self.message)


@contextmanager
def greeter_servers(
    max_workers: int,
) -> Iterator[Callable[[helloworld_pb2_grpc.GreeterServicer], str]]:
    """Start real grpc servers for servicers on 127.0.0.1 (ephemeral ports), each with
    ``max_workers`` threads; ``start(servicer)`` returns its target. All stop on exit."""
    servers: list[grpc.Server] = []

    def start(servicer: helloworld_pb2_grpc.GreeterServicer) -> str:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers))
        helloworld_pb2_grpc.add_GreeterServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    try:
        yield start
    finally:
        for server in servers:
            server.stop(0).wait()


@contextmanager
def envoy_over_replicas(
    replicas: Sequence[tuple[str, str, int]],
    l4: Endpoint,
    l7: Endpoint,
    admin: Endpoint,
    folder: Path,
    *,
    name: str = "envoy",
    extra_args: Sequence[str] = (),
) -> Iterator[dict[str, str]]:
    """``grpclab.apps.server`` replicas (name, address, port) behind a real Envoy: L4 tcp_proxy on
    ``l4``, L7 HTTP/2 round robin on ``l7``; yields their targets ``{"l4": ..., "l7": ...}``.
    Configs and logs go to ``folder`` (Envoy's as ``name``.yaml/.log); all stop on exit."""
    started = start_replicas(replicas, folder, extra_args=extra_args)
    try:
        config = write_envoy_config(
            folder / f"{name}.yaml",
            envoy_config([(r.address, r.port) for r in started], l4, l7, admin),
        )
        envoy = start_envoy(config, admin, folder / f"{name}.log", listeners=[l4, l7])
        try:
            yield {"l4": f"{l4[0]}:{l4[1]}", "l7": f"{l7[0]}:{l7[1]}"}
        finally:
            stop(envoy)
    finally:
        for replica in started:
            stop(replica.process)
