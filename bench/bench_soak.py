"""A chaos soak of the cilium lab: the timeline probe at 200 calls/s while random churn actions
come every 5-15 s, then checks that the lab converged and kept nothing it should not have.

    flock /tmp/grpclab-net.lock python bench/bench_soak.py [--duration 600] [--seed N]
        [--actions crash,proxy-restart] [--pod-network 127.0.71 --service-network 127.0.72]

Brings the cilium cluster up the project's way (``ansible-playbook playbooks/cilium.yml``, its
own probe skipped, on a state root of its own), runs ``grpclab-probe --duration --rate`` against
the grpc-server Service, and takes actions from a table of small functions: scale-out (N to
N+2, at most 6), scale-in (N to N-1, at least 2), delete-pod, crash (SIGKILL of a pod's
process), rollout-restart and proxy-restart (not taken in the last minute, so that the
replaced Envoy has drained before the leftovers are counted). The seed is printed: the same
seed makes the same choices (kind, victim by its place among the Ready pods, interval) while
the lab answers alike. At the end the replicas go back to
their start, and it checks (``grpclab.churn.soak``):

- convergence within --converge-budget: replicas Ready, endpoints == ready pods, Envoy's
  clusters == endpoints (``grpclab-lab``'s status and Envoy admin ``/clusters``);
- leftovers: no extra child process of the node, pid file, bound address, open fd of the node or
  Envoy (``/proc/<pid>/fd``, both times with the probe connected and the start's replicas
  Ready: before the first action and at the end; a replaced Envoy's drain waited out first);
- memory: the RSS of the node and of Envoy at the end at most 10 % above the start after warm-up;
- every failed call inside an action's window (the action to its recovery budget): 0 outside;
- then teardown (``playbooks/teardown.yml``) leaves no process, address or state directory.

Prints the figures; exits 1 with one line per failed check, 2 when the lab cannot be run.
It binds loopback addresses (the lab's 127.0.1/127.0.2 unless --pod-network/--service-network):
run it under the lab lock.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from grpclab.churn import soak
from grpclab.lab import admin, envoyconfig
from grpclab.lab import cluster as clusterdir
from grpclab.lab.errors import LabError

ROOT = Path(__file__).resolve().parents[1]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
DEPLOYMENT, NAMESPACE = "grpc-server", "grpc-server"
MIN_REPLICAS, MAX_REPLICAS = 2, 6
POLL_S = 0.2


class NotNow(Exception):
    """An action that makes no sense now (a scale past the limits): another is picked."""


class Lab:
    """The running cilium lab cluster, read and driven as a user would: ``grpclab-lab``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.config = clusterdir.read_config(state_dir)
        self.chaos_end = 0.0  # when the soak stops taking actions (time.time())

    def draining(self) -> list[int]:
        """Replaced Envoys still draining (a node with proxy restart lists them)."""
        return list(self.status()["node"].get("envoy_draining") or [])

    def status(self) -> dict[str, Any]:
        return clusterdir.read_status(self.state_dir, self.config.name)

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "grpclab.lab", "--state-dir", str(self.state_dir), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"grpclab-lab {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def pods(self, ready_only: bool = False) -> list[dict[str, Any]]:
        pods = [p for p in self.status()["pods"] if p["deployment"] == DEPLOYMENT]
        return [p for p in pods if p["ready"]] if ready_only else pods

    def replicas(self) -> int:
        return next(d for d in self.status()["deployments"] if d["name"] == DEPLOYMENT)["replicas"]

    def clusters(self) -> dict[str, dict[str, str]]:
        return soak.envoy_hosts(json.loads(admin_get(self.state_dir, "/clusters?format=json")))

    def gaps(self, replicas: int | None) -> list[str]:
        try:
            status, clusters = self.status(), self.clusters()
        except (OSError, ValueError, RuntimeError) as error:
            return [f"cannot read the lab: {error}"]
        return soak.convergence_gaps(
            status, clusterdir.fingerprint(self.state_dir), DEPLOYMENT, replicas, clusters
        )


def admin_get(state_dir: Path, path: str) -> str:
    """GET from the lab Envoy's admin, on its unix socket in the state directory."""
    status, body = admin.admin_request(state_dir, path, timeout=2.0)
    if status != 200:
        raise RuntimeError(f"Envoy admin {path}: HTTP {status}")
    return body


# --- the actions: one small function each; what it did, or NotNow--------------------------------


def scale_out(lab: Lab, _rng: random.Random) -> str:
    n = lab.replicas()
    if n + 2 > MAX_REPLICAS:
        raise NotNow(f"already {n} replicas")
    lab.cli("scale", "deployment", DEPLOYMENT, "-n", NAMESPACE, "--replicas", str(n + 2))
    return f"{n} -> {n + 2}"


def scale_in(lab: Lab, _rng: random.Random) -> str:
    n = lab.replicas()
    if n - 1 < MIN_REPLICAS:
        raise NotNow(f"already {n} replicas")
    lab.cli("scale", "deployment", DEPLOYMENT, "-n", NAMESPACE, "--replicas", str(n - 1))
    return f"{n} -> {n - 1}"


def _victim(lab: Lab, rng: random.Random) -> dict[str, Any]:
    ready = sorted(lab.pods(ready_only=True), key=lambda p: p["name"])
    if not ready:
        raise NotNow("no Ready pod")
    return rng.choice(ready)


def delete_pod(lab: Lab, rng: random.Random) -> str:
    pod = _victim(lab, rng)
    lab.cli("delete", "pod", pod["name"], "-n", NAMESPACE)
    return pod["name"]


def crash(lab: Lab, rng: random.Random) -> str:
    pod = _victim(lab, rng)
    os.kill(pod["pid"], signal.SIGKILL)
    return f"{pod['name']} (pid {pod['pid']})"


def rollout_restart(lab: Lab, _rng: random.Random) -> str:
    lab.cli("rollout", "restart", "deployment", DEPLOYMENT, "-n", NAMESPACE)
    return DEPLOYMENT


def proxy_restart(lab: Lab, _rng: random.Random) -> str:
    """The node's Envoy replaced as a cilium-envoy pod is: ``grpclab-lab rollout restart
    daemonset cilium-envoy -n kube-system`` (issue 18 part 1). A lab node without it skips."""
    if time.time() + drain_s() > lab.chaos_end:
        # the replaced Envoy drains this long: it must be gone before the leftovers are counted
        raise NotNow(f"the old Envoy would still drain at the end ({drain_s():g} s)")
    lab.cli("rollout", "restart", "daemonset", "cilium-envoy", "-n", "kube-system")
    return "cilium-envoy"


def drain_s() -> float:
    """How long a replaced Envoy may drain before the node stops it."""
    return float(envoyconfig.PARENT_SHUTDOWN_S) + 5.0


ACTIONS: dict[str, Callable[[Lab, random.Random], str]] = {
    "scale-out": scale_out,
    "scale-in": scale_in,
    "delete-pod": delete_pod,
    "crash": crash,
    "rollout-restart": rollout_restart,
    "proxy-restart": proxy_restart,
}
assert tuple(ACTIONS) == soak.KINDS


# --- the run ------------------------------------------------------------------------------------


def playbook(name: str, extra: list[str], *options: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_CONFIG"} | {"ANSIBLE_NOCOLOR": "1"}
    argv = [str(ANSIBLE_PLAYBOOK), f"playbooks/{name}.yml", *options]
    for item in extra:
        argv += ["-e", item]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        # the failed task's message, on one line
        found = re.search(r"fatal:.*?\n\s*msg: (.*?)(?:\n\S|\n\n|\Z)", done.stdout, re.S)
        why = " ".join(found.group(1).split()).strip("'\"") if found else done.stdout[-300:]
        die(f"playbooks/{name}.yml failed (rc {done.returncode}): {why}")


def die(message: str) -> NoReturn:
    """The soak cannot run: one line, exit 2."""
    print(f"bench_soak: {message}", file=sys.stderr)
    raise SystemExit(2)


def wait_converged(lab: Lab, replicas: int | None, until: float) -> list[str]:
    """Poll until converged (returns []) or ``until`` (returns the last gaps)."""
    while True:
        gaps = lab.gaps(replicas)
        if not gaps or time.time() >= until:
            return gaps
        time.sleep(POLL_S)


def snapshot(lab: Lab) -> dict[str, Any]:
    status = lab.status()
    node, envoy = status["node"]["pid"], status["node"]["envoy_pid"]
    return {
        "node": node,
        "envoy": envoy,
        "fds": {"node": soak.fd_count(node), "Envoy": soak.fd_count(envoy)},
        "children": soak.children(node),
        "pids": {p["pid"] for p in status["pods"]} | {envoy},
        "pod_files": {f.name for f in (lab.state_dir / "pods").glob("*.pid")},
        "pod_names": {f"{p['name']}.pid" for p in status["pods"]},
        "pid_files": {f.name for f in lab.state_dir.glob("*.pid")},
        "pod_listen": {f"{p['ip']}:50051" for p in status["pods"] if p["deployment"] == DEPLOYMENT},
        "listening": soak.read_listening([lab.config.pod_network, lab.config.service_network]),
    }


def rss(lab: Lab) -> dict[str, int]:
    node = lab.status()["node"]
    return {"node": soak.read_rss_kib(node["pid"]), "Envoy": soak.read_rss_kib(node["envoy_pid"])}


def take(lab: Lab, rng: random.Random, kinds: list[str]) -> soak.Taken:
    """One random action of ``kinds``; one that makes no sense now gives way to another."""
    kinds = list(kinds)
    while True:
        kind = rng.choice(kinds)
        start = time.time()
        try:
            detail = ACTIONS[kind](lab, rng)
        except NotNow as why:
            kinds.remove(kind)
            if not kinds:
                return soak.Taken(kind, start, time.time(), skipped=str(why))
            continue
        return soak.Taken(kind, start, time.time(), detail)


def chaos(lab: Lab, rng: random.Random, args: argparse.Namespace, t0: float) -> dict[str, Any]:
    """Take random actions until ``t0 + duration``; sample RSS after warm-up."""
    taken: list[soak.Taken] = []
    converge: list[float] = []
    overlapped = 0
    rss_start: dict[str, int] | None = None
    warmup_at = t0 + min(60.0, args.duration / 5)
    end = lab.chaos_end = t0 + args.duration
    due = time.time() + rng.uniform(1.0, 3.0)
    while due < end:
        while time.time() < due:
            if rss_start is None and time.time() >= warmup_at:
                rss_start = rss(lab)
            time.sleep(min(POLL_S, max(0.0, due - time.time())))
        action = take(lab, rng, args.actions)
        taken.append(action)
        shown = f"skipped: {action.skipped}" if action.skipped else action.detail
        print(f"  {action.start_unix - t0:7.2f} s  {action.kind:16} {shown}", flush=True)
        due = action.end_unix + rng.uniform(5.0, 15.0)
        if not action.skipped:
            if wait_converged(lab, None, min(due, end)):
                overlapped += 1
            else:
                converge.append(time.time() - action.start_unix)
    if rss_start is None:
        rss_start = rss(lab)
    return {"taken": taken, "converge": converge, "overlapped": overlapped, "rss_start": rss_start}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of chaos (600)")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run's choices")
    parser.add_argument("--rate", type=float, default=200.0, help="calls/s of the probe (200)")
    parser.add_argument("--converge-budget", type=float, default=30.0, help="seconds (30)")
    parser.add_argument("--tail", type=float, default=5.0, help="calm seconds of probe at the end")
    parser.add_argument(
        "--actions",
        type=lambda text: text.split(","),
        default=list(soak.KINDS),
        help=f"the kinds to pick from, comma-separated (default: {','.join(soak.KINDS)})",
    )
    parser.add_argument("--state-root", default=None, help="default: a new temporary folder")
    parser.add_argument("--pod-network", default="127.0.1")
    parser.add_argument("--service-network", default="127.0.2")
    args = parser.parse_args()
    if args.duration < 10 or args.rate <= 0:
        parser.error("--duration must be at least 10 s and --rate above 0")
    if unknown := sorted(set(args.actions) - set(soak.KINDS)):
        parser.error(f"--actions: no action {', '.join(unknown)}; known: {', '.join(soak.KINDS)}")
    try:
        for network in (args.pod_network, args.service_network):
            clusterdir.parse_network(network, "--pod-network/--service-network")
    except LabError as error:
        parser.error(str(error))
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    root = Path(args.state_root or tempfile.mkdtemp(prefix="grpclab-soak-"))
    extra = [
        f"grpclab_state_root={root}",
        f"grpclab_lab_pod_network={args.pod_network}",
        f"grpclab_lab_service_network={args.service_network}",
    ]
    print(f"soak: seed {seed}, {args.duration:g} s of chaos at {args.rate:g} calls/s, state {root}")
    try:
        playbook("cilium", extra, "--skip-tags", "probe")
        failed, pids = run(Lab(root / "lab" / "grpclab-cilium"), rng, args)
    finally:
        playbook("teardown", extra)
    networks = [args.pod_network, args.service_network]
    failed += after_teardown(root / "lab" / "grpclab-cilium", pids, networks)
    for line in failed:
        print(f"FAILED: {line}")
    verdict = f"FAILED, {len(failed)} checks" if failed else "every check passed"
    print(f"soak: {verdict} (seed {seed})")
    return 1 if failed else 0


def run(lab: Lab, rng: random.Random, args: argparse.Namespace) -> tuple[list[str], set[int]]:
    """The soak on the running lab: the failed checks' lines, and every pid it saw."""
    replicas = lab.replicas()
    if gaps := wait_converged(lab, replicas, time.time() + args.converge_budget):
        die(f"the lab did not converge before the soak: {gaps[0]}")
    service = next(s for s in lab.status()["services"] if s["name"] == DEPLOYMENT)
    probe_s = args.duration + args.converge_budget + args.tail
    probe = subprocess.Popen(
        [
            *(sys.executable, "-m", "grpclab.probe", "--target", f"{service['cluster_ip']}:50051"),
            *("--duration", str(probe_s), "--rate", str(args.rate), "--expect", "none", "--json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    t0 = time.time()
    time.sleep(1.5)  # the probe's connections up, Envoy's to the pods too: the state compared
    before = snapshot(lab)
    soaked = chaos(lab, rng, args, t0)
    taken = soaked["taken"]
    now = lab.replicas()
    if now != replicas:  # back to the start, as the last action of the soak
        start = time.time()
        lab.cli("scale", "deployment", DEPLOYMENT, "-n", NAMESPACE, "--replicas", str(replicas))
        kind = "scale-in" if now > replicas else "scale-out"
        taken.append(soak.Taken(kind, start, time.time(), f"{now} -> {replicas}, back to start"))
    last = max([a.start_unix for a in taken if not a.skipped], default=t0)
    final_gaps = wait_converged(lab, replicas, last + args.converge_budget)
    final_s = time.time() - last
    drain_deadline = time.time() + drain_s()
    while lab.draining() and time.time() < drain_deadline:
        time.sleep(POLL_S)
    time.sleep(1.0)  # connections to the pods that went away closed
    after, rss_end = snapshot(lab), rss(lab)
    running = probe.poll() is None
    out, err = probe.communicate()
    if not out.strip():
        die(f"the probe gave no result (rc {probe.returncode}): {' '.join(err.split())[-300:]}")
    timeline = json.loads(out)["timeline"]
    acc = soak.account(timeline, soak.windows(taken))
    failed = checks(before, after, soaked["rss_start"], rss_end, acc, timeline)
    if not running:
        failed.append("the probe ended before the lab converged: fds compared without it")
    if draining := lab.draining():
        failed.append(f"replaced Envoys still draining after {drain_s():g} s: pids {draining}")
    if final_gaps:
        failed.insert(
            0, f"not converged {args.converge_budget:g} s after the last action: {final_gaps[0]}"
        )
    report(taken, soaked, acc, timeline, final_s, before, after, rss_end)
    return failed, before["pids"] | after["pids"] | {before["node"]}


def checks(before, after, rss_start, rss_end, acc, timeline) -> list[str]:
    lines = [
        soak.outside_line(acc, timeline["start_unix"]),
        soak.extra_line("processes of the node", after["pids"], after["children"]),
        soak.extra_line("pod pid files", after["pod_names"], after["pod_files"]),
        soak.extra_line("pid files", before["pid_files"], after["pid_files"]),
        soak.extra_line(
            "bound addresses",
            before["listening"] - before["pod_listen"] | after["pod_listen"],
            after["listening"],
        ),
        *(
            f"left over: open fds of {name} {before['fds'][name]} -> {after['fds'][name]}"
            if after["fds"][name] > before["fds"][name]
            else None
            for name in ("node", "Envoy")
        ),
        *(soak.rss_line(name, rss_start[name], rss_end[name]) for name in ("node", "Envoy")),
    ]
    return [line for line in lines if line]


def report(taken, soaked, acc, timeline, final_s, before, after, rss_end) -> None:
    done = Counter(a.kind for a in taken if not a.skipped)
    skipped = Counter(a.kind for a in taken if a.skipped)
    kinds = ", ".join(f"{k} {done[k]}" for k in soak.KINDS if done[k])
    print(f"actions taken: {sum(done.values())} ({kinds})")
    for kind, n in skipped.items():
        reason = next(a.skipped for a in taken if a.kind == kind and a.skipped)
        print(f"  skipped: {kind} {n} times ({reason})")
    inside = ", ".join(f"{k} {v}" for k, v in acc.inside.most_common()) or "none"
    codes = f"; codes {dict(acc.codes)}" if acc.codes else ""
    print(
        f"calls made: {acc.calls} (asked {timeline['rate']:g}/s, achieved "
        f"{timeline['achieved_rate']}/s); failed {acc.failed}: inside windows "
        f"{acc.failed_inside} ({inside}), outside {len(acc.outside)}{codes}"
    )
    spread = soak.percentiles(soaked["converge"])
    shown = (
        f"p50 {spread[0]:.2f} s, max {spread[1]:.2f} s over {len(soaked['converge'])}"
        if spread
        else "none"
    )
    print(
        f"convergence after an action: {shown} (next action came first: "
        f"{soaked['overlapped']}); at the end {final_s:.2f} s after the last action taken"
    )
    start = soaked["rss_start"]
    grown = [
        f"{n} {start[n] / 1024:.1f} -> {rss_end[n] / 1024:.1f} MiB "
        f"({rss_end[n] / start[n] - 1:+.1%})"
        for n in start
    ]
    print("RSS after warm-up -> end: " + ", ".join(grown))
    fds = [f"{n} {before['fds'][n]} -> {after['fds'][n]}" for n in before["fds"]]
    print("open fds before -> after: " + ", ".join(fds))
    if before["envoy"] != after["envoy"]:
        print(f"  Envoy replaced by proxy restarts: pid {before['envoy']} -> {after['envoy']}")


def after_teardown(state_dir: Path, pids: set[int], networks: list[str]) -> list[str]:
    lines = []
    alive = sorted(pid for pid in pids if soak.alive(pid))
    if alive:
        lines.append(f"left over after teardown: processes {alive}")
    bound = soak.read_listening(networks)
    if bound:
        lines.append(f"left over after teardown: bound addresses {', '.join(sorted(bound))}")
    if state_dir.exists():
        lines.append(f"left over after teardown: {state_dir}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
