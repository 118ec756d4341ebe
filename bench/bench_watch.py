"""Benchmark of the monitor (``grpclab-probe --watch``); prints figures, asserts nothing.

The monitor as its own process at ``--rate`` calls/s (default 100) through an L7 Envoy in front
of three Greeters, scraped once a second as Prometheus would. Every ``--sample`` seconds it reads
the monitor's /proc/<pid>/stat (utime + stime) and /proc/<pid>/status (VmRSS), and prints:
- CPU: the monitor's CPU seconds per wall second over the run, as a share of one core (goal:
  at most 5 %), and the same for the first and the second half (steady, not a start-up cost);
- memory: RSS at each sample and the growth per hour, fitted by least squares over the samples
  after the first minute (warm-up), extrapolated honestly: the run's own length is printed, and
  an hour is only an hour when ``--minutes 60``.

Everything binds 127.0.0.1 on free ephemeral ports: no lab lock. Usage:
``python bench/bench_watch.py [--rate 100] [--minutes 5] [--sample 10]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "support"))  # the tests' helpers: servers, Envoy
sys.path.insert(0, str(REPO / "bench"))

from bench_probe import free_port, l7_envoy  # noqa: E402
from servers import stop  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    return 3600 * sum((t - mx) * (v - my) for t, v in points) / var if var else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="calls/s (default 100)")
    parser.add_argument("--minutes", type=float, default=5.0, help="run length (default 5)")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--window", type=float, default=30.0, help="--window (default 30)")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp,
        l7_envoy(Path(tmp), [f"bench-{i}" for i in (1, 2, 3)]) as target,
    ):
        address = f"127.0.0.1:{free_port()}"
        log = Path(tmp) / "watch.log"
        with log.open("wb") as out:
            watch = subprocess.Popen(
                [sys.executable, "-m", "grpclab.probe", "--watch", "--target", target,
                 "--rate", f"{args.rate:g}", "--window", f"{args.window:g}", "--replicas", "3",
                 "--expect", "spread", "--metrics-address", address],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            time.sleep(2)  # imports, the HTTP server, the first connections
            start_wall, start_cpu = time.monotonic(), cpu_seconds(watch.pid)
            samples: list[tuple[float, float, float]] = []  # (t, cpu s, rss MiB)
            next_scrape = next_sample = 0.0
            while (t := time.monotonic() - start_wall) < args.minutes * 60:
                if t >= next_scrape:  # as Prometheus: one scrape a second
                    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as got:
                        got.read()
                    next_scrape += 1.0
                if t >= next_sample:
                    samples.append((t, cpu_seconds(watch.pid) - start_cpu, rss_mib(watch.pid)))
                    next_sample += args.sample
                time.sleep(0.05)
            samples.append((t, cpu_seconds(watch.pid) - start_cpu, rss_mib(watch.pid)))
            with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as got:
                windows = [
                    line for line in got.read().decode().splitlines()
                    if line.startswith("grpclab_probe_windows_total")
                ]  # fmt: skip
        finally:
            stop(watch)
    wall, cpu = samples[-1][0], samples[-1][1]
    half = min(samples, key=lambda s: abs(s[0] - wall / 2))
    print(
        f"monitor at {args.rate:g} calls/s through L7 Envoy to 3 servers, {args.window:g} s "
        f"windows, scraped every second; run {wall / 60:.1f} min (machine: {os.cpu_count()} "
        f"cores, shared)"
    )
    print(
        f"CPU: {100 * cpu / wall:.2f} % of one core (goal <= 5 %); first half "
        f"{100 * half[1] / half[0]:.2f} %, second half "
        f"{100 * (cpu - half[1]) / (wall - half[0]):.2f} %"
    )
    print("RSS MiB by minute: " + ", ".join(f"{t / 60:.1f}:{rss:.1f}" for t, _c, rss in samples))
    steady = [(t, rss) for t, _c, rss in samples if t >= 60]
    print(
        f"RSS growth after the first minute: {slope_per_hour(steady):+.2f} MiB/hour "
        f"(least squares over {len(steady)} samples of a {wall / 60:.1f}-minute run, "
        f"extrapolated to an hour); {windows[0] if windows else 'no windows'}"
    )


if __name__ == "__main__":
    main()
