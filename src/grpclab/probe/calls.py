"""The probe's calls: distinct connections to a target, and closed-loop calls over them.

Each connection is its own gRPC channel with its own ``grpc.channel_id`` (gRPC shares one
subchannel, one TCP connection, between channels with equal arguments). Every reply is
attributed to the replica that sent it by the :class:`Caller`'s identity specs
(:mod:`grpclab.probe.identity`; by default initial metadata ``hostname``, else the reply text
``Hello from <name>``). A call sends the request's bytes, serialized once
(:mod:`grpclab.probe.descriptors`), and gets the reply's bytes: parsed only when a spec reads
a reply field. Streaming methods are :mod:`grpclab.probe.streams`.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import grpc

from grpclab.apps.protos import helloworld_pb2, helloworld_pb2_grpc
from grpclab.probe import descriptors
from grpclab.probe.identity import Identifier, default_specs
from grpclab.probe.model import UNIDENTIFIED, Tally
from grpclab.probe.transport import Transport, certain, explain

PROG = "grpclab-probe"
_REPLY_PREFIX = "Hello from "

# a process-wide counter gives every channel, even across probes in one process, its own id
_channel_ids = itertools.count(1)


class ConnectError(Exception):
    """A connection was not ready in time: the message is one line."""


def channel_options(lb: str = "pick_first") -> list[tuple[str, object]]:
    """Options of one probe channel; every call returns a distinct ``grpc.channel_id``."""
    return [
        ("grpc.channel_id", next(_channel_ids)),
        ("grpc.service_config", json.dumps({"loadBalancingConfig": [{lb: {}}]})),
        # the policy asked for is the policy used: no service config from DNS TXT records
        ("grpc.service_config_disable_resolution", 1),
        # probe the target itself, never through an HTTP CONNECT proxy from the environment
        ("grpc.enable_http_proxy", 0),
    ]


def _connect_error(channel: grpc.Channel, wait: float) -> str:
    """What gRPC says when a call is tried on a channel that did not connect."""
    stub = helloworld_pb2_grpc.GreeterStub(channel)
    try:
        stub.SayHello(helloworld_pb2.HelloRequest(name=PROG), timeout=wait)
    except grpc.RpcError as err:
        detail = (err.details() or "").strip().splitlines()  # type: ignore[attr-defined]
        code = err.code().name  # type: ignore[attr-defined]
        return f"{code}: {detail[0][:300]}" if detail else code
    return "connected late"


def open_channels(
    target: str,
    count: int,
    lb: str,
    connect_timeout: float,
    transport: Transport | None = None,
) -> list[grpc.Channel]:
    """``count`` channels to ``target``, each on its own TCP connection, all READY.

    Raises ConnectError when one is not ready within ``connect_timeout`` seconds (all connect at
    once, so that is the whole wait), or as soon as a connection fails in a way waiting cannot
    mend (a TLS name mismatch, an untrusted certificate, a server that does not speak TLS).
    A refused connection is waited for: the target may be starting.
    """
    transport = transport or Transport()
    # the clock starts before the first channel connects: a connection ready after the deadline
    # is late, however soon it is looked at
    deadline = time.monotonic() + connect_timeout
    channels = [transport.channel(target, channel_options(lb)) for _ in range(count)]
    ready = [grpc.channel_ready_future(channel) for channel in channels]
    failing: set[int] = set()  # channels seen in TRANSIENT_FAILURE, cleared once looked at
    ready_at: dict[int, float] = {}  # when each channel was seen READY
    watchers = []
    for index, channel in enumerate(channels):

        def watch(state: grpc.ChannelConnectivity, index: int = index) -> None:
            if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                failing.add(index)
            elif state == grpc.ChannelConnectivity.READY:
                ready_at.setdefault(index, time.monotonic())

        channel.subscribe(watch)
        watchers.append(watch)
    try:
        for index, future in enumerate(ready):
            _wait_ready(
                future,
                channels[index],
                index,
                failing,
                ready_at,
                deadline,
                connect_timeout,
                transport,
                target,
            )
    except ConnectError as err:
        for other in ready:
            other.cancel()
        for channel in channels:
            channel.close()
        why, index, at_once = err.args
        where = f" (connection {index} of {count})" if index else ""
        within = "" if at_once else f" within {connect_timeout:g} s"
        raise ConnectError(f"cannot connect to {target}{within}{where}: {why}") from None
    finally:
        for channel, watch in zip(channels, watchers, strict=True):
            channel.unsubscribe(watch)
    return channels


def _wait_ready(
    future: grpc.Future,
    channel: grpc.Channel,
    index: int,
    failing: set[int],
    ready_at: dict[int, float],
    deadline: float,
    connect_timeout: float,
    transport: Transport,
    target: str,
) -> None:
    """Wait for one channel; ConnectError(why, index, at once) when it cannot be ready."""
    while True:
        left = deadline - time.monotonic()
        try:
            future.result(timeout=max(0.0, min(0.1, left)))
        except grpc.FutureTimeoutError:
            pass
        else:
            # READY is reported on gRPC's own thread, maybe after the future: then it is now
            if ready_at.get(index, time.monotonic()) <= deadline:
                return
            raise ConnectError("connected late", index, False)
        if index in failing or left <= 0:
            failing.discard(index)
            # in TRANSIENT_FAILURE a call fails at once with the last error; before the
            # deadline it never waits past it
            wait = min(1.0, connect_timeout) if left <= 0 else min(1.0, max(0.05, left))
            why = _connect_error(channel, wait)
            hint = explain(why, transport, target)
            at_once = left > 0 and certain(why)
            if hint is not None and (left <= 0 or at_once):
                # what it means first, then gRPC's own words, shortened
                short = why.rpartition("last error: ")[2][:120]
                raise ConnectError(f"{hint} ({short})", index, at_once)
            if left <= 0:
                raise ConnectError(why, index, False)


# ---------------------------------------------------------------------------- calls


def replica_of(metadata: Sequence[tuple[str, str | bytes]] | None, message: str) -> str | None:
    """The replica that answered: metadata ``hostname``, else ``Hello from <name>``."""
    for key, value in metadata or ():
        if key == "hostname":
            return value.decode() if isinstance(value, bytes) else value
    if message.startswith(_REPLY_PREFIX):
        return message[len(_REPLY_PREFIX) :].strip() or None
    return None


@dataclass(frozen=True)
class Caller:
    """What every call of a probe sends and how its reply is attributed."""

    method: descriptors.Method
    identify: Identifier
    metadata: tuple[tuple[str, str], ...] | None = None  # the -H headers
    messages: int = 1  # per stream of a bidi or client-streaming method


def greeter_caller() -> Caller:
    """The Greeter's SayHello with the default identity: the probe as it always was."""
    method = descriptors.resolve(descriptors.GREETER_CALL, None, channel=None, target="")
    return Caller(method, Identifier(default_specs(method.reply_descriptor), method.reply_class))


def _call_loop(
    with_call: Callable, budget: Iterator[int], timeout: float, tally: Tally, caller: Caller
) -> None:
    """Make calls until the connection's shared budget is spent; one per thread in flight.

    Kept lean on purpose: this loop is the probe's per-call cost (bench/bench_probe.py).
    """
    request = caller.method.request
    identify = caller.identify
    metadata = caller.metadata
    replicas = tally.replicas
    failures = tally.failures
    latencies = tally.latencies_s.append
    clock = time.perf_counter
    for _ in budget:  # next() on a range iterator is atomic: the threads share it safely
        start = clock()
        try:
            reply, call = with_call(request, timeout=timeout, metadata=metadata)
        except grpc.RpcError as err:
            code = err.code()  # type: ignore[attr-defined]
            name = code.name if code is not None else "UNKNOWN"
            failures[name] = failures.get(name, 0) + 1
            continue
        latencies(clock() - start)
        replica = identify(call, reply)
        if replica is None:
            failures[UNIDENTIFIED] = failures.get(UNIDENTIFIED, 0) + 1
            if tally.unidentified is None:
                tally.unidentified = identify.describe(call, reply)
        else:
            replicas[replica] = replicas.get(replica, 0) + 1


def split_calls(calls: int, connections: int) -> list[int]:
    """Calls per connection: as even as can be, the first ones get the remainder."""
    base, extra = divmod(calls, connections)
    return [base + (1 if i < extra else 0) for i in range(connections)]


def run_calls(
    channels: Sequence[grpc.Channel],
    calls: int,
    concurrency: int,
    timeout: float,
    caller: Caller | None = None,
) -> tuple[list[Tally], float]:
    """Send ``calls`` calls (or streams) over ``channels``; one tally per channel, the seconds."""
    from grpclab.probe import streams  # streams imports this module

    caller = caller or greeter_caller()
    loop = streams.stream_loop if caller.method.streaming else _call_loop
    jobs: list[tuple[int, Tally, tuple]] = []
    for index, (channel, share) in enumerate(
        zip(channels, split_calls(calls, len(channels)), strict=True)
    ):
        invoke = streams.invoker(channel, caller.method)
        budget = iter(range(share))  # shared by the connection's workers
        for _ in range(min(concurrency, share)):
            tally = Tally()
            jobs.append((index, tally, (invoke, budget, timeout, tally, caller)))

    errors: list[BaseException] = []

    def guarded(*args: object) -> None:
        try:
            loop(*args)  # type: ignore[arg-type]
        except BaseException as err:  # a bug, not a failed call: re-raised in the caller
            errors.append(err)

    threads = [
        threading.Thread(target=guarded, args=args, name=f"probe-{index}", daemon=True)
        for index, _, args in jobs[1:]
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    # the calling thread is the first worker: with one connection and one call in flight the
    # probe is then a plain call loop, with no thread hand-off
    loop(*jobs[0][2])
    for thread in threads:
        thread.join()
    duration = time.perf_counter() - start
    if errors:
        raise errors[0]
    tallies = [Tally() for _ in channels]
    for index, tally, _ in jobs:
        tallies[index].merge(tally)
    return tallies, duration
