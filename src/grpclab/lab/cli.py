"""``grpclab-lab``: the lab's kubectl (and the node itself, ``grpclab-lab node``).

Exit status 0 ok, 1 not met (a rollout that timed out), 2 error (one line on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import yaml

from grpclab.lab import cluster as clusterdir
from grpclab.lab.admin import own_state_dir
from grpclab.lab.errors import LabError
from grpclab.lab.manifestfields import RESTARTED_AT
from grpclab.lab.manifests import load_files, manifest_files
from grpclab.lab.pidfiles import log_tail
from grpclab.status import ExitStatus

OK, NOT_MET, ERROR = ExitStatus.SUCCESS, ExitStatus.NOT_MET, ExitStatus.ERROR


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(ERROR)


def _common(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--state-root", default=default, help="the project's state root (default: ./.grpclab)"
    )
    parser.add_argument("--cluster", default=default, help="cluster name (default: grpclab-cilium)")
    parser.add_argument(
        "--state-dir",
        default=default,
        help="the cluster's state directory (wins over --state-root and --cluster)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="grpclab-lab", description="Run and inspect a grpclab lab cluster.")
    _common(parser, None)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        child = sub.add_parser(name, help=help_text)
        _common(child, argparse.SUPPRESS)
        return child

    command("node", "run the node in the foreground until SIGTERM")
    validate = command("validate", "check manifests (exit 2 naming the first bad field)")
    validate.add_argument("files", nargs="+")
    get = command("get", "print what the node holds")
    get.add_argument("what", choices=["pods", "services", "endpoints", "deployments"])
    get.add_argument("-o", "--output", choices=["table", "json"], default="table")
    logs = command("logs", "print a pod's log")
    logs.add_argument("pod")
    logs.add_argument("--tail", type=int, default=-1)
    delete = command("delete", "delete a pod (its Deployment replaces it)")
    delete.add_argument("kind", choices=["pod"])
    delete.add_argument("name")
    delete.add_argument("-n", "--namespace")
    delete.add_argument("--timeout", type=float, default=60.0)
    scale = command("scale", "set a Deployment's replicas (edits its manifest)")
    scale.add_argument("kind", choices=["deployment"])
    scale.add_argument("name")
    scale.add_argument("--replicas", type=int, required=True)
    scale.add_argument("-n", "--namespace")
    rollout = command(
        "rollout", "restart a Deployment or the node's proxy (a DaemonSet), or wait for a rollout"
    )
    rollout.add_argument("action", choices=["restart", "status"])
    rollout.add_argument("kind", choices=["deployment", "daemonset"])
    rollout.add_argument("name")
    rollout.add_argument("-n", "--namespace")
    rollout.add_argument("--timeout", type=float, default=300.0)
    return parser


# --- tables ----------------------------------------------------------------------------------


# what the lab node's Envoy stands for: kube-proxy (baseline), cilium-envoy, cilium (Envoy in
# the agent)
PROXY_DAEMONSETS = ("kube-proxy", "cilium-envoy", "cilium")


def _age(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m"


def _table(rows: Sequence[Sequence[object]]) -> str:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def pods_json(status: dict[str, Any]) -> list[dict[str, Any]]:
    now = time.time()
    keys = ("name", "namespace", "deployment", "ip", "ready", "phase", "restarts", "pid")
    return [
        {key: pod[key] for key in keys} | {"age_s": round(now - pod["created"], 1)}
        for pod in status["pods"]
    ]


def render_get(what: str, status: dict[str, Any], output: str) -> str:
    if what == "pods":
        data: Any = pods_json(status)
        rows = [("NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "IP", "AGE")] + [
            (
                p["namespace"],
                p["name"],
                "1/1" if p["ready"] else "0/1",
                p["phase"],
                p["restarts"],
                p["ip"],
                _age(p["age_s"]),
            )
            for p in data
        ]
    elif what == "services":
        data = [
            {
                key: s[key]
                for key in (
                    "name",
                    "namespace",
                    "type",
                    "cluster_ip",
                    "port",
                    "mode",
                    "algorithm",
                    "endpoints",
                )
            }
            for s in status["services"]
        ]
        rows = [
            ("NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "PORT", "MODE", "ALGORITHM", "ENDPOINTS")
        ] + [
            (
                s["namespace"],
                s["name"],
                s["type"],
                s["cluster_ip"],
                s["port"],
                s["mode"],
                s["algorithm"],
                len(s["endpoints"]),
            )
            for s in data
        ]
    elif what == "endpoints":
        data = [
            {"name": s["name"], "namespace": s["namespace"], "endpoints": s["endpoints"]}
            for s in status["services"]
        ]
        rows = [("NAMESPACE", "NAME", "ENDPOINTS")] + [
            (s["namespace"], s["name"], ",".join(s["endpoints"]) or "<none>") for s in data
        ]
    else:
        data = [
            {
                key: d[key]
                for key in ("name", "namespace", "replicas", "ready", "updated", "available")
            }
            for d in status["deployments"]
        ]
        rows = [("NAMESPACE", "NAME", "READY", "UP-TO-DATE", "AVAILABLE")] + [
            (
                d["namespace"],
                d["name"],
                f"{d['ready']}/{d['replicas']}",
                d["updated"],
                d["available"],
            )
            for d in data
        ]
    if output == "json":
        return json.dumps(data, indent=2)
    return _table(rows)


# --- actions ---------------------------------------------------------------------------------


def _find_pod(status: dict[str, Any], name: str, namespace: str | None) -> dict[str, Any]:
    for pod in status["pods"]:
        if pod["name"] == name and namespace in (None, pod["namespace"]):
            return pod
    raise LabError(f'pods "{name}" not found')


def edit_deployment(state_dir: Path, name: str, namespace: str | None, change: Any) -> Path:
    """Apply ``change(deployment_dict)`` to the manifest file that holds the Deployment, as
    kubectl edits the object in the API server (comments of that file are not kept)."""
    matches = []
    for path in manifest_files(clusterdir.manifests_dir(state_dir)):
        documents = list(yaml.safe_load_all(path.read_text()))
        for document in documents:
            if (
                isinstance(document, dict)
                and document.get("kind") == "Deployment"
                and document.get("metadata", {}).get("name") == name
                and namespace in (None, document["metadata"].get("namespace", "default"))
            ):
                matches.append((path, documents, document))
    if not matches:
        raise LabError(f'deployments.apps "{name}" not found')
    if len(matches) > 1:
        raise LabError(f'deployment "{name}" is in several namespaces: give -n NAMESPACE')
    path, documents, document = matches[0]
    change(document)
    text = yaml.safe_dump_all([d for d in documents if d is not None], sort_keys=False)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    try:
        load_files([tmp])
    except LabError:
        tmp.unlink()
        raise
    tmp.replace(path)
    return path


def rollout_status(
    state_dir: Path, cluster: str, name: str, namespace: str | None, timeout: float
) -> int:
    deadline = time.monotonic() + timeout
    while True:
        status = clusterdir.read_status(state_dir, cluster)
        if status["manifests"] == clusterdir.fingerprint(state_dir):
            if status["error"]:
                raise LabError(status["error"])
            found = [
                d
                for d in status["deployments"]
                if d["name"] == name and namespace in (None, d["namespace"])
            ]
            if not found:
                raise LabError(f'deployments.apps "{name}" not found')
            d = found[0]
            if d["updated"] == d["replicas"] == d["ready"] == d["total"]:
                print(f'deployment "{name}" successfully rolled out')
                return OK
        if time.monotonic() >= deadline:
            return _not_rolled_out(state_dir, status, name, timeout)
        time.sleep(0.1)


def _not_rolled_out(state_dir: Path, status: dict[str, Any], name: str, timeout: float) -> int:
    waiting = [p for p in status["pods"] if p["deployment"] == name and not p["ready"]]
    if waiting:
        pod = waiting[0]
        error = f", {pod['error']}" if pod["error"] else ""
        print(
            f'deployment "{name}" not rolled out after {timeout:g}s: pod {pod["name"]} is not '
            f"Ready ({pod['phase']}, {pod['restarts']} restarts{error}); "
            f"log tail:\n{log_tail(state_dir / 'pods' / (pod['name'] + '.log'), 10)}",
            file=sys.stderr,
        )
    else:
        print(
            f'deployment "{name}" not rolled out after {timeout:g}s: old pods still running',
            file=sys.stderr,
        )
    return NOT_MET


def run(args: argparse.Namespace) -> int:
    if args.command == "validate":
        load_files(args.files)
        return OK
    state_dir = clusterdir.state_dir_of(args.state_root, args.cluster, args.state_dir)
    own_state_dir(state_dir)
    cluster = args.cluster or (
        state_dir.resolve().name if args.state_dir else clusterdir.DEFAULT_CLUSTER
    )
    if args.command == "node":
        from grpclab.lab.node import run_node

        return run_node(state_dir)
    if args.command == "get":
        print(render_get(args.what, clusterdir.read_status(state_dir, cluster), args.output))
        return OK
    if args.command == "logs":
        path = state_dir / "pods" / f"{args.pod}.log"
        if not path.exists():
            raise LabError(f'pods "{args.pod}" has no log ({path})')
        text = path.read_text(errors="replace")
        lines = text.splitlines()
        print("\n".join(lines[-args.tail :] if args.tail >= 0 else lines))
        return OK
    if args.command == "delete":
        status = clusterdir.read_status(state_dir, cluster)
        pod = _find_pod(status, args.name, args.namespace)
        clusterdir.send_request(state_dir, status, {"action": "delete-pod", "pod": pod["name"]})
        deadline = time.monotonic() + args.timeout
        while any(
            p["name"] == pod["name"] for p in clusterdir.read_status(state_dir, cluster)["pods"]
        ):
            if time.monotonic() > deadline:
                raise LabError(f'pod "{pod["name"]}" still terminating after {args.timeout:g}s')
            time.sleep(0.1)
        print(f'pod "{pod["name"]}" deleted')
        return OK
    if args.command == "scale":
        if args.replicas < 0:
            raise LabError("--replicas must be >= 0")
        edit_deployment(
            state_dir,
            args.name,
            args.namespace,
            lambda d: d["spec"].__setitem__("replicas", args.replicas),
        )
        _poke(state_dir, cluster)
        print(f"deployment.apps/{args.name} scaled")
        return OK
    if args.kind == "daemonset":
        restart = args.action == "restart"
        return restart_proxy(state_dir, cluster, args.name, args.namespace, args.timeout, restart)
    if args.action == "restart":
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

        def restart(document: dict[str, Any]) -> None:
            meta = document["spec"]["template"].setdefault("metadata", {})
            meta["annotations"] = {**(meta.get("annotations") or {}), RESTARTED_AT: stamp}

        edit_deployment(state_dir, args.name, args.namespace, restart)
        _poke(state_dir, cluster)
        print(f"deployment.apps/{args.name} restarted")
        return OK
    return rollout_status(state_dir, cluster, args.name, args.namespace, args.timeout)


def restart_proxy(
    state_dir: Path, cluster: str, name: str, namespace: str | None, timeout: float, restart: bool
) -> int:
    """The node's proxy, as the DaemonSet that runs it (kube-proxy, cilium-envoy, or cilium
    with Envoy in the agent): a hot restart of the node's Envoy, waited for until its new epoch
    is live (the node answers the request once it is). Status: the node's Envoy is live."""
    if name not in PROXY_DAEMONSETS or namespace not in (None, "kube-system"):
        raise LabError(
            f'daemonsets.apps "{name}" not found: the lab node runs '
            f"{', '.join(PROXY_DAEMONSETS)} (in kube-system) as its Envoy"
        )
    status = clusterdir.read_status(state_dir, cluster)
    epoch = int(status["node"].get("envoy_epoch") or 0)
    if not restart:
        print(f'daemon set "{name}" successfully rolled out (envoy epoch {epoch})')
        return OK
    clusterdir.send_request(state_dir, status, {"action": "proxy-restart"})
    deadline = time.monotonic() + timeout
    while int(clusterdir.read_status(state_dir, cluster)["node"].get("envoy_epoch") or 0) <= epoch:
        status = clusterdir.read_status(state_dir, cluster)
        if status["error"].startswith("proxy restart failed"):
            raise LabError(status["error"])
        if time.monotonic() > deadline:
            print(f'daemon set "{name}" not restarted after {timeout:g}s', file=sys.stderr)
            return NOT_MET
        time.sleep(0.1)
    print(f"daemonset.apps/{name} restarted")
    return OK


def _poke(state_dir: Path, cluster: str) -> None:
    """Wake a running node so it reads the edited manifest now (it would within 0.2 s)."""
    with contextlib.suppress(LabError):
        clusterdir.wake(clusterdir.read_status(state_dir, cluster))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except LabError as error:
        print(f"grpclab-lab: {error}", file=sys.stderr)
        return ERROR
    except KeyboardInterrupt:
        return ERROR
    except BrokenPipeError:  # the reader went away (``| head``): no traceback, none at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ERROR
