# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""The play lock of a lab cluster: one ansible-playbook at a time acts on a cluster.

The lock is a file in the cluster's state directory naming the ansible-playbook process that
holds it (pid and start time, so a reused pid is not mistaken for the holder). It is held while
that process lives: the same process takes it again at once (every role of every play of one
run), another waits, and a holder that is gone (finished, killed, Ctrl-C) leaves a stale lock
that the next taker replaces. The read-check-write is done under flock(2), so two takers never
both win. Teardown removes it with the state directory. The lab's actions (grpclab.lab.node and
grpclab.lab.apply) take it before they act.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

LOCK_FILE = "play.lock"
POLL = 0.2


@dataclass(frozen=True)
class Holder:
    """The process that holds (or wants) a cluster's lock."""

    pid: int
    start: str  # /proc/<pid>/stat start time: tells a reused pid apart
    command: str
    since: float

    def same_process(self, other: Holder) -> bool:
        return (self.pid, self.start) == (other.pid, other.start)

    def describe(self) -> str:
        return (
            f"pid {self.pid} ({self.command}), since "
            f"{time.strftime('%H:%M:%S', time.localtime(self.since))}"
        )


def process_start(pid: int) -> str | None:
    """The start time of a live process (field 22 of /proc/<pid>/stat); None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


def process_command(pid: int, limit: int = 120) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    words = [
        Path(w).name if i == 1 else w
        for i, w in enumerate(raw.rstrip(b"\0").decode(errors="replace").split("\0"))
    ]
    # "python ansible-playbook playbooks/cilium.yml" reads better without the interpreter path
    text = " ".join(words[1:] if len(words) > 1 and "python" in Path(words[0]).name else words)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def holder_of(pid: int) -> Holder | None:
    start = process_start(pid)
    if start is None:
        return None
    return Holder(pid, start, process_command(pid), time.time())


def is_alive(holder: Holder) -> bool:
    return process_start(holder.pid) == holder.start


def _parse(text: str) -> Holder | None:
    try:
        data = json.loads(text)
        return Holder(
            int(data["pid"]),
            str(data["start"]),
            str(data.get("command", "?")),
            float(data.get("since", 0.0)),
        )
    except (ValueError, KeyError, TypeError):
        return None


def try_acquire(path: Path, me: Holder) -> Holder | None:
    """Take the lock at ``path`` for ``me``. None when ``me`` holds it now; else the live
    process that holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # the file may have been removed (teardown) between open and flock: start again
        try:
            same_file = os.stat(path).st_ino == os.fstat(lock.fileno()).st_ino
        except FileNotFoundError:
            same_file = False
        if not same_file:
            return try_acquire(path, me)
        lock.seek(0)
        current = _parse(lock.read())
        if current is not None and not current.same_process(me) and is_alive(current):
            return current
        if current is None or not current.same_process(me):
            lock.seek(0)
            lock.truncate()
            lock.write(json.dumps(asdict(me)) + "\n")
            lock.flush()
    return None


def read_holder(path: Path) -> Holder | None:
    """The live holder of the lock at ``path``, if any."""
    try:
        current = _parse(path.read_text())
    except OSError:
        return None
    return current if current is not None and is_alive(current) else None


def acquire(
    state_dir: Path, *, timeout: float, say: Callable[[str], None], pid: int | None = None
) -> str | None:
    """Hold the play lock of the cluster in ``state_dir`` for ansible-playbook ``pid`` (default:
    the parent of this process, a worker that ansible-playbook forked), waiting while another
    live play holds it; ``say`` tells once why it waits. None once held, else why not."""
    me = holder_of(os.getppid() if pid is None else pid)
    if me is None:
        return "the ansible-playbook process is gone"
    path = state_dir / LOCK_FILE
    began = time.monotonic()
    holder = try_acquire(path, me)
    if holder is not None:
        say(
            f"cluster {state_dir.name} is in use by another play: ansible-playbook "
            f"{holder.describe()}; waiting up to {timeout:g} s for it to finish"
        )
    while holder is not None:
        if time.monotonic() - began > timeout:
            return (
                f"cluster {state_dir.name} is still in use after {timeout:g} s by "
                f"ansible-playbook {holder.describe()} (lock {path})"
            )
        time.sleep(POLL)
        holder = try_acquire(path, me)
    return None
