"""Benchmarks of the probe; prints figures, asserts nothing.

(a) Cost per call of the probe against one local Greeter versus a minimal raw grpcio loop
    making the same calls on the same kind of channel (same options, one connection, one call
    in flight). Runs alternate, medians are compared: target ratio <= 1.25.
(b) Throughput with --connections 4 --concurrency 16 through an L7 Envoy (ROUND_ROBIN) in front
    of three Greeters, as calls per second per CPU core the probe used (process CPU time of this
    process, which runs only the probe while measuring; servers and Envoy are other processes).
(c) The sized probe (no --calls, no --concurrency) through an L7 Envoy in front of 3, 10 and 32
    Greeters: the calls and concurrency it chose, its time, and its verdicts over several probes.
(d) Another service, ``shop.Orders/Get`` (tests/support/shop.py, a server process with
    reflection): cost per call of the probe with its types from reflection (the request sent as
    bytes serialized once, the reply parsed for ``--identity field:servedBy.pod``) versus a
    compiled stub (shop_pb2 made by protoc for this run) making the same calls and reading the
    same field, one connection, one call in flight, alternating runs: target ratio <= 1.1.
(e) Streams of shop.Orders: messages per second on one stream (server streaming ``Watch`` and
    bidi ``Chat``), the probe versus the compiled stub reading every message's field.

Everything binds 127.0.0.1 on free ephemeral ports, so it needs no lab lock and runs beside a
lab. Usage: ``python bench/bench_probe.py [--calls 2000] [--rounds 11]``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import grpc

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "support"))  # the tests' helpers: servers, Envoy

import servers  # noqa: E402
from probe_helpers import envoy_over_replicas  # noqa: E402

from grpclab.apps.protos import helloworld_pb2, helloworld_pb2_grpc  # noqa: E402
from grpclab.probe import cli as probe  # noqa: E402
from grpclab.probe.options import ProbeOptions  # noqa: E402

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextmanager
def l7_envoy(
    workdir: Path, names: Sequence[str], *, name: str = "envoy", extra_args: Sequence[str] = ()
) -> Iterator[str]:
    """Greeters called ``names`` on free ports behind a real Envoy; yields its L7 (ROUND_ROBIN)
    target. Everything stops on exit."""
    replicas = [(replica, HOST, free_port()) for replica in names]
    l4, l7, admin = (HOST, free_port()), (HOST, free_port()), (HOST, free_port())
    with envoy_over_replicas(
        replicas, l4, l7, admin, workdir, name=name, extra_args=extra_args
    ) as targets:
        yield targets["l7"]


def measure(run: Callable[[], None]) -> tuple[float, float]:
    """Wall and CPU seconds (this process, all threads) of one run."""
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def raw_loop(target: str, calls: int, timeout: float) -> None:
    """The baseline: one channel like the probe's, ready, then a plain blocking-call loop."""
    channel = grpc.insecure_channel(target, options=probe.channel_options("pick_first"))
    grpc.channel_ready_future(channel).result(timeout=10)
    say_hello = helloworld_pb2_grpc.GreeterStub(channel).SayHello
    request = helloworld_pb2.HelloRequest(name="raw")
    for _ in range(calls):
        say_hello(request, timeout=timeout)
    channel.close()


def probe_run(target: str, calls: int, connections: int = 1, concurrency: int = 1) -> dict:
    result = probe.probe(
        ProbeOptions(target=target, calls=calls, connections=connections, concurrency=concurrency)
    )
    assert result["totals"]["ok"] == calls, result["summary"]
    return result


def bench_cost_per_call(workdir: Path, calls: int, rounds: int) -> None:
    port = free_port()
    [server] = servers.start_replicas([("bench-1", HOST, port)], workdir)
    target = f"{HOST}:{port}"
    try:
        raw_loop(target, 200, 5.0)  # warm both paths up
        probe_run(target, 200)
        samples: dict[str, list[tuple[float, float]]] = {"raw": [], "probe": []}
        for i in range(rounds):
            order = ("raw", "probe") if i % 2 == 0 else ("probe", "raw")
            for which in order:
                if which == "raw":
                    samples["raw"].append(measure(lambda: raw_loop(target, calls, 5.0)))
                else:
                    samples["probe"].append(measure(lambda: probe_run(target, calls)))
    finally:
        servers.stop(server.process)

    def per_call_us(which: str, index: int) -> float:
        return statistics.median(s[index] for s in samples[which]) / calls * 1e6

    print(
        f"(a) cost per call, one local server, 1 connection x 1 in flight, {calls} calls, "
        f"median of {rounds} alternating runs"
    )
    for label, index in (("wall", 0), ("cpu", 1)):
        raw, mine = per_call_us("raw", index), per_call_us("probe", index)
        print(
            f"    {label:4s}  raw grpcio loop {raw:7.1f} us/call   probe {mine:7.1f} us/call   "
            f"ratio {mine / raw:.3f}"
        )
    print("    target: ratio <= 1.25")


def bench_throughput_l7(workdir: Path, calls: int, rounds: int) -> None:
    with l7_envoy(
        workdir, [f"bench-{i}" for i in (1, 2, 3)], extra_args=("--max-workers", "64")
    ) as target:
        probe_run(target, 400, connections=4, concurrency=16)  # warm up
        runs = []
        results: list[dict] = []
        for _ in range(rounds):
            wall, cpu = measure(
                lambda: results.append(probe_run(target, calls, connections=4, concurrency=16))
            )
            runs.append((calls / wall, calls / cpu, cpu / wall, results[-1]["observed"]))
    per_s = statistics.median(r[0] for r in runs)
    per_core = statistics.median(r[1] for r in runs)
    cores = statistics.median(r[2] for r in runs)
    print(
        f"(b) throughput through L7 Envoy (ROUND_ROBIN) to 3 servers, --connections 4 "
        f"--concurrency 16, {calls} calls, median of {rounds} runs "
        f"(observed: {', '.join(sorted({r[3] for r in runs}))})"
    )
    print(
        f"    {per_s:8.0f} calls/s   probe used {cores:.2f} CPU cores   "
        f"{per_core:8.0f} calls/s per CPU core"
    )
    print(f"    machine: {os.cpu_count()} cores, shared by the servers, Envoy and the probe")


def bench_sized(workdir: Path, counts: tuple[int, ...], rounds: int) -> None:
    print(
        f"(c) the sized probe through L7 Envoy (ROUND_ROBIN), --expect spread --replicas N, "
        f"{rounds} probes each"
    )
    for count in counts:
        with l7_envoy(
            workdir, [f"sized-{count}-{i}" for i in range(count)], name=f"envoy-{count}"
        ) as target:
            walls, results = [], []
            for _ in range(rounds):
                start = time.perf_counter()
                results.append(
                    probe.probe(ProbeOptions(target=target, expect="spread", replicas=count))
                )
                walls.append(time.perf_counter() - start)
        plan = results[0]["calls"]
        passed = sum(1 for r in results if r["passed"])
        wall = statistics.median(walls)
        print(
            f"    {count:3d} replicas: {plan['chosen']:5d} calls ({plan['per_connection']} per "
            f"connection, {plan['concurrency']} in flight)   median {wall:5.2f} s   "
            f"spread {passed}/{rounds}"
        )


_SHOP_SERVER = """
import pathlib, sys, time
sys.path.insert(0, sys.argv[1])
import shop
types = shop.Types(pathlib.Path(sys.argv[2]))
with shop.shop_servers(types) as start:
    print(start("bench-shop", "127.0.0.1"), flush=True)
    time.sleep(3600)
"""


@contextmanager
def shop_server(workdir: Path) -> Iterator[tuple[str, object]]:
    """A shop.Orders server with reflection in its own process; its target and the compiled
    shop_pb2 / shop_pb2_grpc modules (protoc for this run)."""
    import shop
    from grpc_tools import protoc

    protoset = shop.compile_protoset(workdir)
    wkt = Path(importlib.util.find_spec("grpc_tools").origin).parent / "_proto"
    out = workdir / "stubs"
    out.mkdir(exist_ok=True)
    protoc.main(
        [
            "protoc",
            f"-I{shop.PROTO.parent}",
            f"-I{wkt}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            str(shop.PROTO),
        ]
    )
    sys.path.insert(0, str(out))
    stubs = (importlib.import_module("shop_pb2"), importlib.import_module("shop_pb2_grpc"))
    process = subprocess.Popen(
        [sys.executable, "-c", _SHOP_SERVER, str(REPO / "tests" / "support"), str(protoset)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        target = process.stdout.readline().strip()  # type: ignore[union-attr]
        yield target, stubs
    finally:
        process.kill()
        process.wait()


def stub_loop(target: str, stubs, calls: int) -> None:
    """The baseline: a compiled stub, the same calls, the same field read from each reply."""
    shop_pb2, shop_pb2_grpc = stubs
    channel = grpc.insecure_channel(target, options=probe.channel_options("pick_first"))
    grpc.channel_ready_future(channel).result(timeout=10)
    get = shop_pb2_grpc.OrdersStub(channel).Get
    request = shop_pb2.GetRequest(order_id="o-1", quantity=2)
    seen: dict[str, int] = {}
    for _ in range(calls):
        pod = get(request, timeout=5.0).served_by.pod
        seen[pod] = seen.get(pod, 0) + 1
    channel.close()


def shop_probe(target: str, calls: int, call: str = "shop.Orders/Get", **spec) -> dict:
    from grpclab.probe.callspec import CallSpec

    data = spec.pop("data", '{"orderId": "o-1", "quantity": 2}')
    options = ProbeOptions(
        target=target,
        calls=calls,
        connections=1,
        concurrency=1,
        spec=CallSpec(call=call, data=data, identity=("field:servedBy.pod",), **spec),
    )
    result = probe.probe(options)
    assert result["totals"]["ok"] == calls, result["summary"]
    return result


def bench_reflection_unary(workdir: Path, calls: int, rounds: int) -> None:
    with shop_server(workdir) as (target, stubs):
        stub_loop(target, stubs, 200)  # warm both paths up
        shop_probe(target, 200)
        samples: dict[str, list[tuple[float, float]]] = {"stub": [], "probe": []}
        for i in range(rounds):
            for which in ("stub", "probe") if i % 2 == 0 else ("probe", "stub"):
                if which == "stub":
                    samples["stub"].append(measure(lambda: stub_loop(target, stubs, calls)))
                else:
                    samples["probe"].append(measure(lambda: shop_probe(target, calls)))

    def per_call_us(which: str, index: int) -> float:
        return statistics.median(s[index] for s in samples[which]) / calls * 1e6

    print(
        f"(d) shop.Orders/Get, types from reflection vs compiled stub, field identity, "
        f"1 connection x 1 in flight, {calls} calls, median of {rounds} alternating runs"
    )
    for label, index in (("wall", 0), ("cpu", 1)):
        stub, mine = per_call_us("stub", index), per_call_us("probe", index)
        print(
            f"    {label:4s}  compiled stub {stub:7.1f} us/call   probe (reflection) "
            f"{mine:7.1f} us/call   ratio {mine / stub:.3f}"
        )
    print("    target: ratio <= 1.1")


def stub_stream(target: str, stubs, kind: str, messages: int) -> int:
    shop_pb2, shop_pb2_grpc = stubs
    channel = grpc.insecure_channel(target, options=probe.channel_options("pick_first"))
    grpc.channel_ready_future(channel).result(timeout=10)
    stub = shop_pb2_grpc.OrdersStub(channel)
    if kind == "Watch":
        replies = stub.Watch(shop_pb2.WatchRequest(order_id="o-1", events=messages), timeout=60)
    else:
        request = shop_pb2.ChatMessage(text="hi")
        replies = stub.Chat(iter([request] * messages), timeout=60)
    count = sum(1 for reply in replies if reply.served_by.pod)
    channel.close()
    return count


def bench_streams(workdir: Path, messages: int, rounds: int) -> None:
    print(
        f"(e) shop.Orders streams: messages per second on one stream of {messages} messages, "
        f"median of {rounds} alternating runs (field identity checked on every message)"
    )
    with shop_server(workdir) as (target, stubs):
        for kind in ("Watch", "Chat"):
            extra = (
                {"data": json.dumps({"orderId": "o-1", "events": messages})}
                if kind == "Watch"
                else {"data": '{"text": "hi"}', "messages": messages}
            )
            walls: dict[str, list[float]] = {"stub": [], "probe": []}
            for i in range(rounds):
                for which in ("stub", "probe") if i % 2 == 0 else ("probe", "stub"):
                    start = time.perf_counter()
                    if which == "stub":
                        assert stub_stream(target, stubs, kind, messages) == messages
                    else:
                        result = shop_probe(target, 1, f"shop.Orders/{kind}", **extra)
                        assert result["streams"]["messages"] == messages
                    walls[which].append(time.perf_counter() - start)
            stub = messages / statistics.median(walls["stub"])
            mine = messages / statistics.median(walls["probe"])
            print(
                f"    {kind:5s} compiled stub {stub:8.0f} msg/s   probe {mine:8.0f} msg/s   "
                f"ratio (probe time / stub time) {stub / mine:.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per run (default 2000)")
    parser.add_argument("--rounds", type=int, default=11, help="runs of each kind (default 11)")
    parser.add_argument(
        "--only", choices=("a", "b", "c", "d", "e"), help="run one of the benchmarks"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-probe-") as tmp:
        if args.only in (None, "a"):
            bench_cost_per_call(Path(tmp), args.calls, args.rounds)
        if args.only in (None, "b"):
            bench_throughput_l7(Path(tmp), args.calls * 2, max(3, args.rounds // 2))
        if args.only in (None, "c"):
            bench_sized(Path(tmp), (3, 10, 32), max(3, args.rounds // 2))
        if args.only in (None, "d"):
            bench_reflection_unary(Path(tmp), args.calls, args.rounds)
        if args.only in (None, "e"):
            bench_streams(Path(tmp), 5000, max(3, args.rounds // 2))


if __name__ == "__main__":
    main()
