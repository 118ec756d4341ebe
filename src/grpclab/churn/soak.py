"""The chaos soak's accounting (``bench/bench_soak.py``): action windows, failed calls in and
out of them, convergence of the lab, leftovers, memory.

The soak runs the timeline probe on the cilium lab and takes random churn actions while it
runs. Each action opens a window: from ``LEAD_S`` before it starts to its recovery budget after
it ends, the budget being the one ``grpclab.churn.expectations`` gives the cilium remedy for
that action (a scale-out promises no failed call: its window is empty). Every failed call must
fall inside some window. Pure functions over the probe's timeline, the node's status and
Envoy's admin ``/clusters?format=json``, and the small readers of ``/proc`` the soak samples.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grpclab.churn.expectations import Budgets, expectations
from grpclab.churn.figures import FAILED_CALLS, RECOVERY

REMEDY = "cilium"
# a call that fails because of an action was in flight when the action began: it was sent at
# most this long before (the lab's calls take milliseconds; the probe's deadline is 5 s)
LEAD_S = 1.0
RSS_TOLERANCE = 0.10  # the RSS at the end may be at most this much above the start
KINDS = ("scale-out", "scale-in", "delete-pod", "crash", "rollout-restart", "proxy-restart")


@dataclass(frozen=True)
class Taken:
    """One action the soak took (or skipped: ``skipped`` says why), in wall-clock seconds."""

    kind: str
    start_unix: float
    end_unix: float
    detail: str = ""
    skipped: str = ""


@dataclass(frozen=True)
class Window:
    kind: str
    start_unix: float
    end_unix: float


def recovery_budget(kind: str, budgets: Budgets | None = None) -> float | None:
    """Seconds after an action until calls must succeed again, from the cilium remedy's
    expectations: its recovery budget, 0 where it promises no failed call, None where
    ``grpclab.churn`` knows no such action or gives no number."""
    try:
        exps = expectations(REMEDY, kind, budgets)
    except ValueError:
        return None
    for exp in exps:
        if exp.metric == RECOVERY and exp.budget is not None:
            return float(exp.budget)
    if any(e.metric == FAILED_CALLS and e.budget == 0 for e in exps):
        return 0.0
    return None


def windows(taken: Iterable[Taken], budgets: Budgets | None = None) -> list[Window]:
    """The window of every action taken (none for a skipped one). An action without a known
    budget gets an empty window: its failed calls count as outside, never silently inside."""
    out = []
    for action in taken:
        if action.skipped:
            continue
        budget = recovery_budget(action.kind, budgets)
        if budget is None or budget == 0:
            out.append(Window(action.kind, action.start_unix, action.start_unix))
        else:
            out.append(Window(action.kind, action.start_unix - LEAD_S, action.end_unix + budget))
    return out


@dataclass
class Accounting:
    calls: int = 0
    failed: int = 0
    inside: Counter = field(default_factory=Counter)  # failed calls per kind of window
    codes: Counter = field(default_factory=Counter)  # failed calls per status code
    outside: list[tuple[float, str]] = field(default_factory=list)  # (unix time, code)

    @property
    def failed_inside(self) -> int:
        return sum(self.inside.values())


def account(timeline: Mapping[str, Any], wins: Sequence[Window]) -> Accounting:
    """Count the timeline's calls and place each failed one (no replica answered it) in the
    earliest window that holds its send time, or outside every window."""
    start = float(timeline["start_unix"])
    ordered = sorted(wins, key=lambda w: w.start_unix)
    acc = Accounting()
    for t, _connection, replica, code, _latency in timeline["calls"]:
        acc.calls += 1
        if replica is not None:
            continue
        acc.failed += 1
        acc.codes[code] += 1
        at = start + float(t)
        holder = next((w for w in ordered if w.start_unix <= at <= w.end_unix), None)
        if holder is None:
            acc.outside.append((at, code))
        else:
            acc.inside[holder.kind] += 1
    return acc


def outside_line(acc: Accounting, start_unix: float) -> str | None:
    """The check's line when calls failed outside every window, naming the first ones."""
    if not acc.outside:
        return None
    first = ", ".join(f"{at - start_unix:.2f} s {code}" for at, code in acc.outside[:5])
    more = f" (+{len(acc.outside) - 5} more)" if len(acc.outside) > 5 else ""
    return f"failed calls outside every action's window: {len(acc.outside)} (at {first}{more})"


# --- convergence -------------------------------------------------------------------------------


def envoy_hosts(clusters_json: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Envoy admin ``/clusters?format=json``: per cluster, each host ``ip:port`` and its EDS
    health (``HEALTHY`` unless Envoy says otherwise)."""
    out: dict[str, dict[str, str]] = {}
    for cluster in clusters_json.get("cluster_statuses", []):
        hosts = out.setdefault(cluster["name"], {})
        for host in cluster.get("host_statuses", []):
            socket = host["address"]["socket_address"]
            health = host.get("health_status", {}).get("eds_health_status", "HEALTHY")
            hosts[f"{socket['address']}:{socket['port_value']}"] = health
    return out


def convergence_gaps(
    status: Mapping[str, Any],
    fingerprint: str,
    deployment: str,
    replicas: int | None,
    clusters: Mapping[str, Mapping[str, str]],
) -> list[str]:
    """What keeps the lab from its desired state, as lines (none: converged). The desired
    state: ``replicas`` pods of ``deployment`` (None: its own count, once the node has read the
    manifests of ``fingerprint``), all Ready; each Service of its namespace with exactly the
    ready pods as endpoints; Envoy's cluster of each ClusterIP Service with exactly those
    endpoints, all healthy."""
    gaps = []
    if status.get("manifests") != fingerprint:
        gaps.append("the node has not read the current manifests yet")
    if status.get("error"):
        gaps.append(f"the node reports: {status['error']}")
    found = [d for d in status.get("deployments", []) if d["name"] == deployment]
    if not found:
        return [*gaps, f"deployment {deployment} is not in the node's status"]
    dep = found[0]
    replicas = dep["replicas"] if replicas is None else replicas
    counts = {k: dep[k] for k in ("replicas", "ready", "updated", "total")}
    if set(counts.values()) != {replicas}:
        gaps.append(
            f"deployment {deployment}: "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
            + f" (desired {replicas})"
        )
    pods = [p for p in status.get("pods", []) if p["deployment"] == deployment]
    ready = {p["ip"] for p in pods if p["ready"] and p["phase"] == "Running"}
    others = sorted(p["name"] for p in pods if p["ip"] not in ready)
    if others:
        gaps.append(f"pods not Ready or terminating: {', '.join(others)}")
    namespace = dep["namespace"]
    for service in status.get("services", []):
        if service["namespace"] != namespace:
            continue
        want = {f"{ip}:{service['port']}" for ip in ready}
        endpoints = set(service["endpoints"])
        if endpoints != want:
            gaps.append(f"service {service['name']}: endpoints {_diff(endpoints, want)}")
        if service["type"] == "Headless":
            continue
        name = f"{namespace}.{service['name']}.{service['port']}"
        hosts = clusters.get(name)
        if hosts is None:
            gaps.append(f"Envoy has no cluster {name}")
            continue
        if set(hosts) != endpoints:
            gaps.append(f"Envoy cluster {name}: hosts {_diff(set(hosts), endpoints)}")
        unhealthy = sorted(h for h, health in hosts.items() if health != "HEALTHY")
        if unhealthy:
            gaps.append(f"Envoy cluster {name}: not healthy {', '.join(unhealthy)}")
    return gaps


def _diff(seen: set[str], want: set[str]) -> str:
    parts = []
    if seen - want:
        parts.append("extra " + ", ".join(sorted(seen - want)))
    if want - seen:
        parts.append("missing " + ", ".join(sorted(want - seen)))
    return "; ".join(parts)


def percentiles(values: Sequence[float]) -> tuple[float, float] | None:
    """(p50, max), None for no values."""
    return (statistics.median(values), max(values)) if values else None


# --- leftovers and memory (/proc) --------------------------------------------------------------


def _hex_address(text: str) -> str:
    """An address of /proc/net/tcp{,6} (``0100007F:C383``, little-endian words) as ip:port."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    # each 32-bit word is in host order (little-endian here)
    swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(swapped)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return f"{ip}:{int(port, 16)}"


def listening(tables: Iterable[str], networks: Sequence[str]) -> set[str]:
    """The ``ip:port`` TCP listeners (state 0A) in the tables' text, within the /24s
    ``networks`` (given as their first three octets)."""
    prefixes = tuple(f"{n}." for n in networks)
    out = set()
    for table in tables:
        for line in table.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":
                address = _hex_address(fields[1])
                if address.startswith(prefixes):
                    out.add(address)
    return out


def read_listening(networks: Sequence[str]) -> set[str]:
    tables = []
    for name in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            tables.append(Path(f"/proc/net/{name}").read_text())
    return listening(tables, networks)


def rss_kib(status_text: str) -> int:
    """VmRSS of a /proc/<pid>/status text, in KiB (0 when absent: a zombie)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def read_rss_kib(pid: int) -> int:
    return rss_kib(Path(f"/proc/{pid}/status").read_text())


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def children(pid: int) -> dict[int, str]:
    """Live (non-zombie) child processes of ``pid``: pid -> its argv joined."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) == pid and state != "Z":
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                out[int(entry)] = " ".join(a.decode(errors="replace") for a in argv if a)
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def rss_line(name: str, start_kib: int, end_kib: int) -> str | None:
    """The memory check's line when ``end`` is more than RSS_TOLERANCE above ``start``."""
    if start_kib and end_kib <= start_kib * (1 + RSS_TOLERANCE):
        return None
    grown = (end_kib / start_kib - 1) if start_kib else float("inf")
    return (
        f"RSS of {name} grew {grown:+.1%}: {start_kib / 1024:.1f} -> {end_kib / 1024:.1f} MiB "
        f"(at most +{RSS_TOLERANCE:.0%} after warm-up)"
    )


def extra_line(what: str, before: Iterable[Any], after: Iterable[Any]) -> str | None:
    """The leftovers check's line when ``after`` holds something ``before`` did not."""
    extra = sorted(set(after) - set(before), key=str)
    return f"left over: {what} {', '.join(map(str, extra))}" if extra else None
