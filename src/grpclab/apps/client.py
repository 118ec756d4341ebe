"""The walk-through's client: one channel, one call every ``--interval`` seconds, the reply logged.

Like the client of the reference walk-through, it keeps a single channel (one HTTP/2 connection)
for its whole life, which is exactly what makes per-connection balancing pin it to one replica.
An error is logged with its status code and the loop goes on, so a server restart does not end it.

On the lab node, ``$GRPCLAB_DNS`` (``host:port`` of the node's cluster DNS, set in every pod's
environment) is the lab node's stand-in for resolv.conf: a target without a scheme, such as
``grpc-server.grpc-server:50051``, is resolved by gRPC's dns resolver at that server
(``dns://$GRPCLAB_DNS/grpc-server.grpc-server:50051``), which answers ``<svc>.<ns>`` as a pod's
resolver does. A target with a scheme (``dns:///...``, ``ipv4:...``, ``unix:...``) is used as
given, and without ``$GRPCLAB_DNS`` every target is.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading

import grpc

from grpclab import MAX_SECONDS
from grpclab.apps.protos import helloworld_pb2, helloworld_pb2_grpc
from grpclab.status import ExitStatus

log = logging.getLogger("grpclab.apps.client")

DNS_ENV = "GRPCLAB_DNS"
# gRPC's resolver schemes: "host:port" also reads as "scheme:rest", so it is a URI only for one
# of these or when the rest starts with "//"
_SCHEMES = frozenset({"dns", "ipv4", "ipv6", "unix", "unix-abstract", "vsock", "xds", "google-c2p"})
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(.*)\Z", re.DOTALL)
_HOST_PORT_RE = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})\Z")


def has_scheme(target: str) -> bool:
    """Whether gRPC reads ``target`` as a URI with a resolver scheme."""
    match = _SCHEME_RE.match(target)
    return match is not None and (
        match.group(1).lower() in _SCHEMES or match.group(2).startswith("//")
    )


def dns_server_problem(dns_server: str) -> str | None:
    """Why ``dns_server`` is not ``host:port`` with a port of 1-65535, or None."""
    match = _HOST_PORT_RE.match(dns_server)
    if match is None or not 1 <= int(match.group(2)) <= 65535:
        return f"{DNS_ENV} must be host:port of a DNS server, not {dns_server!r}"
    return None


def channel_target(target: str, dns_server: str) -> str:
    """The target the channel is made for: ``dns://DNS_SERVER/TARGET`` when a DNS server is
    given and ``target`` has no scheme, else ``target`` unchanged."""
    if not dns_server or has_scheme(target):
        return target
    return f"dns://{dns_server}/{target}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grpclab-client",
        description="Call /helloworld.Greeter/SayHello every --interval seconds "
        "and log who answered.",
    )
    parser.add_argument(
        "--target",
        default=os.environ.get("SERVER_URL"),
        help="server address, e.g. grpc-server.grpc-server:50051 (default: $SERVER_URL)",
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between calls (default: %(default)s)"
    )
    parser.add_argument(
        "--count", type=int, default=0, help="number of calls, 0 for forever (default: %(default)s)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help="deadline of each call in seconds (default: %(default)s)",
    )
    parser.add_argument("--name", default="grpclab-client", help="name sent in each request")
    return parser


def run(
    target: str, *, interval: float, count: int, timeout: float, name: str, stop: threading.Event
) -> int:
    """Make the calls; return how many failed."""
    failed = 0
    with grpc.insecure_channel(target) as channel:
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        call = 0
        while not stop.is_set() and (count == 0 or call < count):
            call += 1
            log.info("call: %d", call)
            try:
                reply = stub.SayHello(helloworld_pb2.HelloRequest(name=name), timeout=timeout)
                log.info("Greeter client received: %s", reply.message)
            except grpc.RpcError as error:
                failed += 1
                log.warning("call %d failed: %s %s", call, error.code().name, error.details())
            if count == 0 or call < count:
                stop.wait(interval)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.target:
        parser.error("no target: give --target or set SERVER_URL")
    # the comparisons are also false for nan
    if (
        not (0 <= args.interval <= MAX_SECONDS and 0 < args.timeout <= MAX_SECONDS)
        or args.count < 0
    ):
        parser.error(
            f"--interval must be 0 to {MAX_SECONDS:g} seconds, --timeout above 0 and "
            f"at most {MAX_SECONDS:g}, --count >= 0"
        )
    dns_server = os.environ.get(DNS_ENV, "")
    problem = dns_server and dns_server_problem(dns_server)
    if problem:
        parser.error(problem)
    target = channel_target(args.target, dns_server)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("client calling %s every %ss", target, args.interval)
    try:
        failed = run(
            target,
            interval=args.interval,
            count=args.count,
            timeout=args.timeout,
            name=args.name,
            stop=stop,
        )
    except ValueError as error:  # grpc rejects a malformed target when the channel is made
        print(f"grpclab-client: error: bad target {args.target!r}: {error}", file=sys.stderr)
        return ExitStatus.ERROR
    # a bounded run reports failure; a run stopped by a signal is a normal end
    return ExitStatus.NOT_MET if failed and args.count else ExitStatus.SUCCESS


if __name__ == "__main__":
    sys.exit(main())
