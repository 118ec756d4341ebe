"""Benchmarks of the probe; prints figures, asserts nothing.

(a) Cost per call of the probe against one local Greeter versus a minimal raw grpcio loop
    making the same calls on the same kind of channel (same options, one connection, one call
    in flight). Runs alternate, medians are compared: target ratio <= 1.25.
(b) Throughput with --connections 4 --concurrency 16 through an L7 Envoy (ROUND_ROBIN) in front
    of three Greeters, as calls per second per CPU core the probe used (process CPU time of this
    process, which runs only the probe while measuring; servers and Envoy are other processes).
(c) The sized probe (no --calls, no --concurrency) through an L7 Envoy in front of 3, 10 and 32
    Greeters: the calls and concurrency it chose, its time, and its verdicts over several probes.

Everything binds 127.0.0.1 on free ephemeral ports, so it needs no lab lock and runs beside a
lab. Usage: ``python bench/bench_probe.py [--calls 2000] [--rounds 11]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per run (default 2000)")
    parser.add_argument("--rounds", type=int, default=11, help="runs of each kind (default 11)")
    parser.add_argument("--only", choices=("a", "b", "c"), help="run one of the benchmarks")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-probe-") as tmp:
        if args.only in (None, "a"):
            bench_cost_per_call(Path(tmp), args.calls, args.rounds)
        if args.only in (None, "b"):
            bench_throughput_l7(Path(tmp), args.calls * 2, max(3, args.rounds // 2))
        if args.only in (None, "c"):
            bench_sized(Path(tmp), (3, 10, 32), max(3, args.rounds // 2))


if __name__ == "__main__":
    main()
