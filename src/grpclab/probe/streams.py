"""Streams as probe calls: one stream is one call, attributed to one replica.

A server-streaming stream sends the request once; a bidi or client-streaming stream sends it
``--messages`` times. The stream's replica is the first identity spec that names one, read from
the stream's headers, its first message (``field:``) or its trailers. Every message is then
checked by the ``field:`` specs: a message naming another replica makes the stream *split*
(L7 balancing acts per stream, so that is never expected; it is reported). The tally counts
streams per replica (what the verdict judges) and messages per replica.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import grpc

from grpclab.probe.calls import Caller
from grpclab.probe.descriptors import BIDI, CLIENT_STREAMING, SERVER_STREAMING, Method
from grpclab.probe.model import UNIDENTIFIED, Tally


def invoker(channel: grpc.Channel, method: Method) -> Callable:
    """The channel's callable for ``method``: bytes in, bytes out (no serializers)."""
    if method.kind == SERVER_STREAMING:
        return channel.unary_stream(method.path)
    if method.kind == BIDI:
        return channel.stream_stream(method.path)
    if method.kind == CLIENT_STREAMING:
        return channel.stream_unary(method.path).with_call
    return channel.unary_unary(method.path).with_call


def _one_stream(invoke: Callable, caller: Caller, timeout: float) -> tuple[object, list[bytes]]:
    """Run one stream to its end: the call object and the messages received."""
    kind = caller.method.kind
    request = caller.method.request
    metadata = caller.metadata
    if kind == SERVER_STREAMING:
        call = invoke(request, timeout=timeout, metadata=metadata)
        return call, list(call)
    requests = iter([request] * caller.messages)
    if kind == CLIENT_STREAMING:
        reply, call = invoke(requests, timeout=timeout, metadata=metadata)
        return call, [reply]
    call = invoke(requests, timeout=timeout, metadata=metadata)
    return call, list(call)


def stream_loop(
    invoke: Callable, budget: Iterator[int], timeout: float, tally: Tally, caller: Caller
) -> None:
    """Run streams until the connection's shared budget is spent; one per thread in flight."""
    identify = caller.identify
    by_message = bool(identify.field_steps)
    replicas, messages, failures = tally.replicas, tally.messages, tally.failures
    clock = time.perf_counter
    for _ in budget:
        start = clock()
        try:
            call, replies = _one_stream(invoke, caller, timeout)
        except grpc.RpcError as err:
            code = err.code()  # type: ignore[attr-defined]
            name = code.name if code is not None else "UNKNOWN"
            failures[name] = failures.get(name, 0) + 1
            continue
        tally.latencies_s.append(clock() - start)
        first = replies[0] if replies else None
        replica = identify(call, first)
        if replica is None:
            failures[UNIDENTIFIED] = failures.get(UNIDENTIFIED, 0) + 1
            if tally.unidentified is None:
                tally.unidentified = identify.describe(call, first)
            continue
        replicas[replica] = replicas.get(replica, 0) + 1
        if not by_message:
            messages[replica] = messages.get(replica, 0) + len(replies)
            continue
        split = False
        for raw in replies:
            named = identify.of_message(raw) or replica
            messages[named] = messages.get(named, 0) + 1
            split = split or named != replica
        if split:
            tally.split_streams += 1
