"""Benchmarks of the lab node (issue 8's goals); prints figures, asserts nothing.

(a) pod Ready -> first call routed to it through its Service, L7 and L4 (goal <= 0.5 s): scale
    3 -> 4 while clients call; the node's Ready time of the new pod against the time Envoy's
    admin /clusters (polled every 5 ms) lists it, and against the first reply from it. L7: one
    channel calling every 5 ms, so its first reply is the figure; L4: a new connection every
    call, and tcp_proxy picks an upstream per connection (RANDOM among 4), so the first reply
    adds the luck of the pick: the goal is read on the time the pod is in Envoy's cluster.
(b) process death -> out of the endpoints (goal <= 1 s): SIGKILL of a replica, then Envoy's
    admin /clusters polled every 5 ms until the pod's address is gone from the Service's cluster.
(c) crash -> Ready again (goal <= 2 s): the same SIGKILL, to the Ready time after the restart
    (each round crashes the pod that crashed least: repeated crashes back off, as on Kubernetes).
(d) node idle CPU with 3 pods (goal < 2 % of one core): the node process's CPU time over 10 s.
(e) 32 replicas Ready from nothing: a fresh node given the manifests with 32 replicas, until
    ``grpclab-lab rollout status`` is met (and --big N for a larger figure).

The node runs on loopback ranges of its own (pods 127.0.25.x, Services 127.0.26.x): no lab lock.
Usage: ``python bench/bench_lab_node.py [--rounds 5] [--big 100]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "support"))  # the tests' helpers: manifests, start the node

import lab_node  # noqa: E402

from grpclab.apps.protos import helloworld_pb2, helloworld_pb2_grpc  # noqa: E402

POD_NET, SVC_NET = "127.0.25", "127.0.26"
# a channel of its own subchannel pool opens its own connection (not one another channel of
# this process to the same target already holds)
OPTIONS = [("grpc.enable_http_proxy", 0), ("grpc.use_local_subchannel_pool", 1)]


def call(stub: helloworld_pb2_grpc.GreeterStub) -> str | None:
    try:
        return stub.SayHello(helloworld_pb2.HelloRequest(name="bench"), timeout=1).message
    except grpc.RpcError:
        return None


def first_reply_from(
    target: str, fresh_connection: bool, stop: threading.Event, seen: dict[str, float]
) -> None:
    """Call ``target`` until ``stop``; record the first time each replica answered."""
    channel = grpc.insecure_channel(target, options=OPTIONS)
    while not stop.is_set():
        if fresh_connection:
            channel.close()
            channel = grpc.insecure_channel(target, options=OPTIONS)
        reply = call(helloworld_pb2_grpc.GreeterStub(channel))
        if reply:
            seen.setdefault(reply.rsplit(" ", 1)[-1], time.time())
        time.sleep(0.005)
    channel.close()


def until(condition: Callable[[], bool], timeout: float = 30.0, step: float = 0.005) -> float:
    """time.time() when ``condition`` first holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(step)
    return time.time()


def scale(node: lab_node.LabNode, replicas: int) -> None:
    done = node.cli("scale", "deployment", "grpc-server", "--replicas", str(replicas))
    assert done.returncode == 0, done.stderr
    node.rollout()


def ready_to_routed(node: lab_node.LabNode, service: str, fresh: bool) -> tuple[float, float]:
    """(Ready -> first reply from the new pod, Ready -> the pod in Envoy's cluster for the
    Service), for one scale 3 -> 4."""
    before = {p["name"] for p in node.server_pods()}
    stop, seen = threading.Event(), {}
    in_envoy: dict[str, float] = {}
    threads = [
        threading.Thread(target=first_reply_from, args=(node.target(service), fresh, stop, seen))
        for _ in range(1 if not fresh else 2)
    ]
    threads.append(threading.Thread(target=watch_envoy, args=(node, service, stop, in_envoy)))
    for thread in threads:
        thread.start()
    try:
        scale(node, 4)
        [new] = [p for p in node.server_pods() if p["name"] not in before]
        until(lambda: new["name"] in seen and f"{new['ip']}:50051" in in_envoy, timeout=10)
        ready_at = next(p for p in node.server_pods() if p["name"] == new["name"])["ready_at"]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    scale(node, 3)
    return seen[new["name"]] - ready_at, in_envoy[f"{new['ip']}:50051"] - ready_at


def watch_envoy(
    node: lab_node.LabNode, service: str, stop: threading.Event, first_seen: dict[str, float]
) -> None:
    """Poll Envoy's admin /clusters every 5 ms; record when each host appeared."""
    while not stop.is_set():
        for line in admin_hosts(node, service).splitlines():
            host = line.split("::")[1]
            first_seen.setdefault(host, time.time())
        time.sleep(0.005)


def admin_hosts(node: lab_node.LabNode, service: str) -> str:
    text = node.admin("/clusters")
    prefix = f"grpc-server.{service}.50051::"
    return "\n".join(line for line in text.splitlines() if line.startswith(prefix))


def crash(node: lab_node.LabNode) -> tuple[float, float]:
    """(death -> out of Envoy's endpoints, death -> Ready again) for one SIGKILL."""
    # the pod crashed least: a pod crashing again within 10 s backs off longer (0.1 s doubling
    # to 5 s, as CrashLoopBackOff), which is not what a single crash costs
    victim = min(node.server_pods(), key=lambda pod: pod["restarts"])
    address = f"{victim['ip']}:50051"
    until(lambda: address in admin_hosts(node, "grpc-server"))
    killed = time.time()
    os.kill(victim["pid"], signal.SIGKILL)
    out = until(lambda: address not in admin_hosts(node, "grpc-server"), timeout=10)
    until(
        lambda: any(
            p["name"] == victim["name"] and p["ready"] and p["restarts"] > victim["restarts"]
            for p in node.server_pods()
        ),
        timeout=10,
        step=0.01,
    )
    # the node's own time of the turn to Ready, not when this loop happened to look
    ready_at = next(p for p in node.server_pods() if p["name"] == victim["name"])["ready_at"]
    return out - killed, ready_at - killed


def node_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summary(name: str, values: list[float], goal: float | None, unit: str = "s") -> None:
    shown = ", ".join(f"{v:.3f}" for v in values)
    median = statistics.median(values)
    verdict = (
        ""
        if goal is None
        else f"   goal <= {goal:g} {unit}: "
        f"{'met' if max(values) <= goal else 'NOT met'} (median/goal {median / goal:.2f})"
    )
    print(f"{name:38} median {median:.3f} {unit}  max {max(values):.3f}{verdict}")
    print(f"{'':38} runs: {shown}")


def bench_behaviour(workdir: Path, rounds: int) -> None:
    node = lab_node.start_lab_node(
        workdir / "bench-node", POD_NET, SVC_NET, lab_node.lab_manifests()
    )
    try:
        node.rollout()
        l7 = [ready_to_routed(node, "grpc-server", fresh=False) for _ in range(rounds)]
        l4 = [ready_to_routed(node, "grpc-server-l4", fresh=True) for _ in range(rounds)]
        crashes = [crash(node) for _ in range(rounds)]
        summary("(a) Ready -> first call routed, L7", [r[0] for r in l7], 0.5)
        summary("(a) Ready -> in Envoy's cluster, L7", [r[1] for r in l7], 0.5)
        summary("(a) Ready -> in Envoy's cluster, L4", [r[1] for r in l4], 0.5)
        summary("    Ready -> first new connection to it", [r[0] for r in l4], None)
        summary("(b) process death -> out of endpoints", [c[0] for c in crashes], 1.0)
        summary("(c) crash -> Ready again", [c[1] for c in crashes], 2.0)
        time.sleep(2)
        pid = node.process.pid
        cpu, wall = node_cpu(pid), time.monotonic()
        time.sleep(10)
        share = (node_cpu(pid) - cpu) / (time.monotonic() - wall) * 100
        verdict = "met" if share < 2 else "NOT met"
        print(f"{'(d) node idle CPU, 3 pods':38} {share:.2f} % of one core   goal < 2 %: {verdict}")
    finally:
        node.stop()


def bench_from_nothing(workdir: Path, replicas: int) -> None:
    node = lab_node.start_lab_node(workdir / f"bench-{replicas}", POD_NET, SVC_NET)
    try:
        began = time.monotonic()
        node.write_manifests(lab_node.lab_manifests(replicas=replicas))
        node.rollout(timeout=300)
        took = time.monotonic() - began
        print(
            f"(e) {replicas} replicas Ready from nothing{'':12} {took:.2f} s   "
            f"({took / replicas * 1000:.0f} ms per replica, {os.cpu_count()} cores)"
        )
    finally:
        began = time.monotonic()
        node.stop(timeout=120)
        print(f"    and the node's teardown of them      {time.monotonic() - began:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of (a)-(c) (default 5)")
    parser.add_argument("--big", type=int, default=0, help="also bring N replicas up (e)")
    parser.add_argument("--only", choices=("behaviour", "scale"), help="run one part")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-lab-node-") as tmp:
        if args.only in (None, "behaviour"):
            bench_behaviour(Path(tmp), args.rounds)
        if args.only in (None, "scale"):
            bench_from_nothing(Path(tmp), 32)
            if args.big:
                bench_from_nothing(Path(tmp), args.big)


if __name__ == "__main__":
    main()
