# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""The lab's kubectl apply: desired-state files written into a lab cluster's state directory
(its "API"), validated by the node's own loader first, then waited for as
``grpclab-lab rollout status`` waits. Runs on the controller (the lab host), on the grpclab
package; the grpclab.lab.apply action is its Ansible face."""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grpclab.lab import cli, manifests
from grpclab.lab import cluster as clusterdir
from grpclab.lab.errors import LabError

MANIFESTS = "manifests"
READ_TIMEOUT = 10.0  # the node reads a change within ~0.2 s


@dataclass(frozen=True)
class Change:
    name: str  # relative to the state directory
    path: Path
    before: str | None
    after: str | None  # None: removed


def target(state_dir: Path, name: str) -> Path:
    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise LabError(f"{name!r} must be a path inside the state directory")
    return state_dir.joinpath(*relative.parts)


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def plan(state_dir: Path, files: Mapping[str, str], present: bool) -> list[Change]:
    """The files whose content is not what is wanted."""
    changes = []
    for name, content in files.items():
        path = target(state_dir, name)
        before = read(path)
        after = content if present else None
        if before != after:
            changes.append(Change(name, path, before, after))
    return changes


def is_manifest(state_dir: Path, path: Path) -> bool:
    return path.parent == state_dir / MANIFESTS and path.suffix == ".yaml"


def validate(state_dir: Path, changes: Sequence[Change]) -> None:
    """The manifests as they would be after ``changes``, loaded as the node loads them: a
    LabError naming the first field the node cannot honour."""
    if not any(is_manifest(state_dir, change.path) for change in changes):
        return
    texts = {path: read(path) for path in manifests.manifest_files(state_dir / MANIFESTS)}
    texts.update(
        {change.path: change.after for change in changes if is_manifest(state_dir, change.path)}
    )
    state = manifests.DesiredState()
    for path in sorted(texts):
        if texts[path] is not None:
            manifests.load_text(texts[path], str(path), state)


def write(changes: Sequence[Change], mode: int = 0o640) -> None:
    """Each file replaced atomically (the node never reads half of one)."""
    for change in changes:
        if change.after is None:
            change.path.unlink(missing_ok=True)
            continue
        change.path.parent.mkdir(parents=True, exist_ok=True)
        # a temporary name the node's *.yaml glob does not match
        tmp = change.path.with_name(f".{change.path.name}.tmp")
        tmp.write_text(change.after)
        os.chmod(tmp, mode)
        tmp.replace(change.path)


def undo(changes: Sequence[Change]) -> None:
    write([Change(c.name, c.path, c.after, c.before) for c in changes])


def wait_read(state_dir: Path) -> None:
    """Wait until the node has read the current files; LabError (one line) when it refused them
    or does not run."""
    deadline = time.monotonic() + READ_TIMEOUT
    while True:
        status = clusterdir.read_status(state_dir, state_dir.name)
        if status["manifests"] == clusterdir.fingerprint(state_dir):
            if status["error"]:
                raise LabError(status["error"])
            return
        if time.monotonic() >= deadline:
            raise LabError(
                f"the node of cluster {state_dir.name} did not read the new desired "
                f"state within {READ_TIMEOUT:g} s"
            )
        time.sleep(0.05)


def deployments(files: Mapping[str, str], state_dir: Path) -> list[manifests.Deployment]:
    state = manifests.DesiredState()
    for name, content in files.items():
        if is_manifest(state_dir, target(state_dir, name)):
            manifests.load_text(content, name, state)
    return state.deployments


def rollout_status(
    state_dir: Path, deployment: manifests.Deployment, timeout: float
) -> tuple[bool, str]:
    """``grpclab-lab rollout status deployment NAME -n NS --timeout S``, in this process:
    (rolled out?, what it said)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.rollout_status(
            state_dir, state_dir.name, deployment.name, deployment.namespace, max(timeout, 0.0)
        )
    return code == cli.OK, (out.getvalue() + err.getvalue()).strip()
