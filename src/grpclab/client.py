"""The walk-through's client: one channel, one call every ``--interval`` seconds, the reply logged.

Like the client of the reference walk-through, it keeps a single channel (one HTTP/2 connection)
for its whole life, which is exactly what makes per-connection balancing pin it to one replica.
An error is logged with its status code and the loop goes on, so a server restart does not end it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

import grpc

from grpclab import MAX_SECONDS
from grpclab.protos import helloworld_pb2, helloworld_pb2_grpc

log = logging.getLogger("grpclab.client")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grpclab-client",
        description="Call /helloworld.Greeter/SayHello every --interval seconds "
        "and log who answered.",
    )
    parser.add_argument("--target", default=os.environ.get("SERVER_URL"),
                        help="server address, e.g. grpc-server.grpc-server:50051 "
                        "(default: $SERVER_URL)")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between calls (default: %(default)s)")
    parser.add_argument("--count", type=int, default=0,
                        help="number of calls, 0 for forever (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="deadline of each call in seconds (default: %(default)s)")
    parser.add_argument("--name", default="grpclab-client", help="name sent in each request")
    return parser


def run(target: str, *, interval: float, count: int, timeout: float, name: str,
        stop: threading.Event) -> int:
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
    if not (0 <= args.interval <= MAX_SECONDS and 0 < args.timeout <= MAX_SECONDS) \
            or args.count < 0:
        parser.error(f"--interval must be 0 to {MAX_SECONDS:g} seconds, --timeout above 0 and "
                     f"at most {MAX_SECONDS:g}, --count >= 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("client calling %s every %ss", args.target, args.interval)
    try:
        failed = run(args.target, interval=args.interval, count=args.count, timeout=args.timeout,
                     name=args.name, stop=stop)
    except ValueError as error:  # grpc rejects a malformed target when the channel is made
        print(f"grpclab-client: error: bad target {args.target!r}: {error}", file=sys.stderr)
        return 2
    # a bounded run reports failure; a run stopped by a signal is a normal end
    return 1 if failed and args.count else 0


if __name__ == "__main__":
    sys.exit(main())
