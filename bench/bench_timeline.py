"""Benchmark of the probe over time (--duration/--rate); prints figures, asserts nothing.

Paced calls through an L7 Envoy (ROUND_ROBIN) in front of three Greeters, with the probe's
process pinned to ONE core (servers and Envoy are other processes, started before the pinning).
Prints, per run: the asked and achieved rate and their ratio (goal: within 2 %), the latest send
after its due time, the calls answered, and the probe's CPU per call (process CPU time of this
process, all its threads, over the run including building the timeline).

Everything binds 127.0.0.1 on free ephemeral ports: no lab lock. Usage:
``python bench/bench_timeline.py [--rate 1000] [--duration 5] [--rounds 3]``; ``--full`` runs the
goal's 30 s at 1,000 calls/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "support"))  # the tests' helpers: servers, Envoy
sys.path.insert(0, str(REPO / "bench"))

from bench_probe import l7_envoy  # noqa: E402

from grpclab.probe import cli as probe  # noqa: E402
from grpclab.probe.options import ProbeOptions  # noqa: E402


def paced_run(target: str, rate: float, duration: float) -> tuple[dict, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = probe.probe(ProbeOptions(target=target, duration=duration, rate=rate))
    return result, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="calls/s (default 1000)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="runs (default 3)")
    parser.add_argument("--full", action="store_true", help="the goal: 1000 calls/s for 30 s")
    args = parser.parse_args()
    if args.full:
        args.rate, args.duration = 1000.0, 30.0
    with (
        tempfile.TemporaryDirectory(prefix="bench-timeline-") as tmp,
        l7_envoy(
            Path(tmp), [f"bench-{i}" for i in (1, 2, 3)], extra_args=("--max-workers", "64")
        ) as target,
    ):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})  # the probe on one core; the servers keep theirs
        paced_run(target, min(args.rate, 200.0), 1.0)  # warm up
        print(
            f"paced probe through L7 Envoy to 3 servers, {args.rate:g} calls/s for "
            f"{args.duration:g} s, 4 connections, probe pinned to core {core} "
            f"(machine: {os.cpu_count()} cores, shared with the servers and Envoy)"
        )
        for i in range(args.rounds):
            result, cpu, wall = paced_run(target, args.rate, args.duration)
            tl = result["timeline"]
            achieved = tl["achieved_rate"] or 0.0
            calls = result["totals"]["calls"]
            print(
                f"  run {i + 1}: achieved {achieved:8.2f} / asked {args.rate:g} = "
                f"{achieved / args.rate:.4f}   max lag {tl['max_lag_ms']:7.2f} ms   "
                f"answered {result['totals']['ok']}/{calls}   CPU {cpu / calls * 1e6:5.0f} "
                f"us/call ({cpu / wall:.2f} of a core)   in flight <= "
                f"{tl['max_in_flight']}"
            )
        print(
            "  goal: achieved / asked within 0.98-1.02 at 1000 calls/s for 30 s on one "
            "core (--full)"
        )


if __name__ == "__main__":
    main()
