"""The Greeter server: one replica of the service the probe measures.

It answers ``/helloworld.Greeter/SayHello`` with ``Hello from <name>`` and sends the same name as
the initial-metadata key ``hostname`` (the convention of gRPC's interop servers), so a client can
tell which replica served each call. It also serves the gRPC examples' server-streaming
``/hellostreamingworld.MultiGreeter/sayHello`` (``num_greetings`` replies ``Hello from <name>``,
10 when unset, after the same ``hostname`` metadata), server reflection (grpcio-reflection, so
grpcurl, ghz, k6 and the probe find the methods without a .proto) and the standard
``grpc.health.v1.Health`` service, and drains on SIGTERM: health turns NOT_SERVING at once, new
calls are still served for ``--drain-delay`` seconds (so that whoever routes to this replica -
kube-proxy, Envoy, a client's balancer watching its health - learns it is leaving before it
refuses anything), then the server stops: GOAWAY, calls in flight get ``--grace`` seconds to
finish, and the process exits 0.

Why the delay: once gRPC's server shutdown has begun, a call that reaches the server - one the
client sent before it read the GOAWAY - is cancelled (the client sees CANCELLED), as are calls
still in flight when the grace ends. Stopping at SIGTERM therefore costs every call on its way at
that moment. The delay lets the path stop sending first; it helps where the path learns of the
drain (endpoints removed, health watched), not a client that learns of it only from the GOAWAY.
A second SIGTERM or SIGINT cuts the delay short.

Connection management is gRPC's own (proposal A9, server-side connection management): after
``--max-connection-age`` the server sends GOAWAY and lets calls in flight finish for
``--max-connection-age-grace``; ``--max-connection-idle`` closes a connection without calls;
``--keepalive-time``/``--keepalive-timeout`` ping the client and close a connection that does not
answer. A client whose connection is closed connects again, and so may reach another replica.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from grpclab import MAX_SECONDS
from grpclab.apps.protos import (
    hellostreamingworld_pb2,
    hellostreamingworld_pb2_grpc,
    helloworld_pb2,
    helloworld_pb2_grpc,
)
from grpclab.sockets import bind_error
from grpclab.status import ExitStatus

log = logging.getLogger("grpclab.apps.server")

SERVICE_NAME = "helloworld.Greeter"
STREAMING_SERVICE_NAME = "hellostreamingworld.MultiGreeter"
# replies of one MultiGreeter stream: when num_greetings is empty, and at most
DEFAULT_GREETINGS = 10
MAX_GREETINGS = 10_000

# what server reflection lists (grpcurl list): the apps, health, reflection itself
REFLECTED_SERVICES = (
    SERVICE_NAME,
    STREAMING_SERVICE_NAME,
    health.SERVICE_NAME,
    reflection.SERVICE_NAME,
)

# command-line option (seconds, 0 = off) -> gRPC server option (int milliseconds)
CONNECTION_OPTIONS: dict[str, str] = {
    "max_connection_age": "grpc.max_connection_age_ms",
    "max_connection_age_grace": "grpc.max_connection_age_grace_ms",
    "max_connection_idle": "grpc.max_connection_idle_ms",
    "keepalive_time": "grpc.keepalive_time_ms",
    "keepalive_timeout": "grpc.keepalive_timeout_ms",
}


def connection_options(seconds: Mapping[str, float]) -> list[tuple[str, int]]:
    """gRPC server options for the connection settings given in seconds; 0 (off) sets nothing.

    gRPC takes whole milliseconds, so a value is rounded and never below 1 ms.
    """
    return [
        (CONNECTION_OPTIONS[key], max(1, round(value * 1000)))
        for key, value in seconds.items()
        if value > 0
    ]


def default_address() -> str:
    """The address to bind: ``POD_IP`` (the downward API's status.podIP) when set, else all."""
    return os.environ.get("POD_IP") or "0.0.0.0"


def replica_name(explicit: str | None = None) -> str:
    """The name a replica reports: ``--name``, else ``POD_NAME``, else the hostname."""
    return explicit or os.environ.get("POD_NAME") or socket.gethostname()


class Greeter(helloworld_pb2_grpc.GreeterServicer):
    def __init__(self, name: str, delay: float = 0.0) -> None:
        self._name = name
        self._delay = delay

    def SayHello(self, request, context):
        context.send_initial_metadata((("hostname", self._name),))
        if self._delay:
            time.sleep(self._delay)
        return helloworld_pb2.HelloReply(message=f"Hello from {self._name}")


def greetings_asked(num_greetings: str) -> int | None:
    """The replies a MultiGreeter request asks for (its num_greetings is a string in the
    example's proto): empty is DEFAULT_GREETINGS; None when it is not 0 to MAX_GREETINGS."""
    text = num_greetings.strip()
    if not text:
        return DEFAULT_GREETINGS
    if not text.isdigit() or int(text) > MAX_GREETINGS:
        return None
    return int(text)


class MultiGreeter(hellostreamingworld_pb2_grpc.MultiGreeterServicer):
    """The server-streaming example: every reply of a stream comes from this one replica."""

    def __init__(self, name: str, delay: float = 0.0) -> None:
        self._name = name
        self._delay = delay

    def sayHello(self, request, context):
        count = greetings_asked(request.num_greetings)
        if count is None:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"num_greetings must be a whole number 0 to {MAX_GREETINGS}, "
                f"not {request.num_greetings!r}",
            )
        context.send_initial_metadata((("hostname", self._name),))
        for _ in range(count):
            if self._delay:
                time.sleep(self._delay)
            yield hellostreamingworld_pb2.HelloReply(message=f"Hello from {self._name}")


class GreeterServer:
    """A started Greeter with its health service; ``drain()`` is what SIGTERM does."""

    def __init__(
        self,
        name: str,
        address: str,
        port: int,
        *,
        delay: float = 0.0,
        max_workers: int = 32,
        connection: Mapping[str, float] | None = None,
    ) -> None:
        self.name = name
        self.endpoint = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        # grpcio sets SO_REUSEPORT by default: two replicas could then share one address unnoticed
        options = [("grpc.so_reuseport", 0), *connection_options(connection or {})]
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers), options=options
        )
        helloworld_pb2_grpc.add_GreeterServicer_to_server(Greeter(name, delay), self._server)
        hellostreamingworld_pb2_grpc.add_MultiGreeterServicer_to_server(
            MultiGreeter(name, delay), self._server
        )
        self._health = health.HealthServicer()
        self._hurry = threading.Event()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(REFLECTED_SERVICES, self._server)
        # add_insecure_port raises RuntimeError when the address cannot be bound
        self.port = self._server.add_insecure_port(self.endpoint)

    def start(self) -> None:
        self._server.start()
        for service in ("", SERVICE_NAME, STREAMING_SERVICE_NAME):
            self._health.set(service, health_pb2.HealthCheckResponse.SERVING)

    def drain(self, grace: float, delay: float = 0.0) -> None:
        """Report NOT_SERVING, keep serving for ``delay`` seconds (or until ``hurry()``), then
        stop: refuse new calls, give calls in flight ``grace`` seconds."""
        self._health.enter_graceful_shutdown()
        if delay > 0:
            self._hurry.wait(delay)
        log.info("%s stopping: GOAWAY, calls in flight get %.1fs", self.name, grace)
        self._server.stop(grace).wait()

    def hurry(self) -> None:
        """End the drain's delay now: stop at once (calls in flight keep their grace)."""
        self._hurry.set()

    def wait(self) -> None:
        self._server.wait_for_termination()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grpclab-server",
        description="Greeter server: replies 'Hello from <name>' (helloworld.Greeter/SayHello, "
        "and a stream of them from hellostreamingworld.MultiGreeter/sayHello) and tells its name "
        "in the 'hostname' response metadata; serves reflection and health.",
    )
    parser.add_argument("--name", help="replica name (default: $POD_NAME, else the hostname)")
    parser.add_argument(
        "--address",
        default=default_address(),
        help="address to bind (default: $POD_IP, else 0.0.0.0)",
    )
    parser.add_argument("--port", type=int, default=50051, help="port (default: %(default)s)")
    parser.add_argument(
        "--grace",
        type=float,
        default=10.0,
        help="seconds calls in flight get to finish once the server stops "
        "(SIGTERM, then --drain-delay) (default: %(default)s)",
    )
    parser.add_argument(
        "--drain-delay",
        type=float,
        default=0.0,
        metavar="S",
        help="seconds the server keeps serving new calls after SIGTERM, while its "
        "health says NOT_SERVING, before it stops and --grace begins "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--delay",
        type=float,
        default=0.0,
        help="seconds each call takes, to simulate work (default: %(default)s)",
    )
    parser.add_argument(
        "--max-workers", type=int, default=32, help="threads serving calls (default: %(default)s)"
    )
    manage = parser.add_argument_group(
        "connection management",
        "gRPC server options, in seconds; 0 (the default) leaves the option off",
    )
    manage.add_argument(
        "--max-connection-age",
        type=float,
        default=0.0,
        metavar="S",
        help="send GOAWAY to a connection this old, so its client reconnects "
        "(grpc.max_connection_age_ms)",
    )
    manage.add_argument(
        "--max-connection-age-grace",
        type=float,
        default=0.0,
        metavar="S",
        help="then let its calls in flight finish this long before closing it "
        "(grpc.max_connection_age_grace_ms)",
    )
    manage.add_argument(
        "--max-connection-idle",
        type=float,
        default=0.0,
        metavar="S",
        help="close a connection without calls for this long (grpc.max_connection_idle_ms)",
    )
    manage.add_argument(
        "--keepalive-time",
        type=float,
        default=0.0,
        metavar="S",
        help="ping the client after this long (grpc.keepalive_time_ms)",
    )
    manage.add_argument(
        "--keepalive-timeout",
        type=float,
        default=0.0,
        metavar="S",
        help="close the connection when a ping is not answered within this "
        "(grpc.keepalive_timeout_ms)",
    )
    return parser


def connection_seconds(args: argparse.Namespace) -> dict[str, float]:
    """The connection-management options of parsed arguments, by their CONNECTION_OPTIONS key."""
    return {key: getattr(args, key) for key in CONNECTION_OPTIONS}


def connection_error(seconds: Mapping[str, float]) -> str | None:
    """Why the connection-management values are refused, or None when they are all valid."""
    for key, value in seconds.items():
        # written so that nan fails too: every comparison with nan is false
        if not (value == 0 or 0.001 <= value <= MAX_SECONDS):
            flag = "--" + key.replace("_", "-")
            return f"{flag} must be 0 (off) or 0.001 to {MAX_SECONDS:g} seconds, not {value:g}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not 0 < args.port < 65536:
        print(f"grpclab-server: error: --port {args.port} is not a TCP port", file=sys.stderr)
        return ExitStatus.ERROR
    if (
        not (0 <= args.grace <= MAX_SECONDS and 0 <= args.delay <= MAX_SECONDS)
        or args.max_workers < 1
    ):  # the comparisons are also false for nan
        print(
            f"grpclab-server: error: --grace and --delay must be 0 to {MAX_SECONDS:g} "
            "seconds, --max-workers >= 1",
            file=sys.stderr,
        )
        return ExitStatus.ERROR
    if not 0 <= args.drain_delay <= MAX_SECONDS:
        print(
            f"grpclab-server: error: --drain-delay must be 0 to {MAX_SECONDS:g} seconds, "
            f"not {args.drain_delay:g}",
            file=sys.stderr,
        )
        return ExitStatus.ERROR
    connection = connection_seconds(args)
    problem = connection_error(connection)
    if problem is not None:
        print(f"grpclab-server: error: {problem}", file=sys.stderr)
        return ExitStatus.ERROR
    name = replica_name(args.name)
    # asked first: gRPC's own bind failure comes with a C-core log line on stderr
    problem = bind_error(args.address, args.port)
    if problem is None:
        try:
            server = GreeterServer(
                name,
                args.address,
                args.port,
                delay=args.delay,
                max_workers=args.max_workers,
                connection=connection,
            )
        except RuntimeError as error:
            problem = str(error)
    if problem is not None:
        print(
            f"grpclab-server: error: cannot listen on {args.address}:{args.port}: {problem}",
            file=sys.stderr,
        )
        return ExitStatus.ERROR

    stopping = threading.Event()

    def on_sigterm(signum, _frame) -> None:
        if stopping.is_set():
            server.hurry()  # a second signal: stop now, without the rest of the delay
            return
        stopping.set()
        log.info(
            "%s draining (signal %d), drain delay %.1fs, grace %.1fs",
            name,
            signum,
            args.drain_delay,
            args.grace,
        )
        threading.Thread(
            target=server.drain, args=(args.grace, args.drain_delay), daemon=True
        ).start()

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, on_sigterm)
    server.start()
    log.info("server %s listening on %s", name, server.endpoint)
    managed = connection_options(connection)
    if managed:
        log.info(
            "server %s connection management: %s",
            name,
            ", ".join(f"{option}={ms}" for option, ms in managed),
        )
    server.wait()
    log.info("server %s stopped", name)
    return ExitStatus.SUCCESS


if __name__ == "__main__":
    sys.exit(main())
