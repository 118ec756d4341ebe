"""The play lock of a lab cluster (grpclab.lab's plugin_utils.play_lock) with real processes
as holders: taken, taken again by the same process, refused while another lives, taken over
once it is gone. The playbooks' own test runs two ansible-playbook at once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ansible_cli import ROOT

sys.path.insert(0, str(ROOT / "collections"))
from ansible_collections.grpclab.lab.plugins.plugin_utils import play_lock


@pytest.fixture
def other() -> Iterator[subprocess.Popen]:
    """A live process that is not this one."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def test_the_same_process_takes_the_lock_again(tmp_path: Path) -> None:
    me = play_lock.holder_of(os.getpid())
    assert me is not None
    assert play_lock.try_acquire(tmp_path / "play.lock", me) is None
    assert play_lock.try_acquire(tmp_path / "play.lock", me) is None
    assert play_lock.read_holder(tmp_path / "play.lock") == me


def test_a_live_holder_keeps_it_and_a_gone_one_loses_it(
    tmp_path: Path, other: subprocess.Popen
) -> None:
    path = tmp_path / "cluster" / "play.lock"
    holder = play_lock.holder_of(other.pid)
    assert holder is not None and holder.command == "sleep 60"
    assert play_lock.try_acquire(path, holder) is None
    me = play_lock.holder_of(os.getpid())
    assert play_lock.try_acquire(path, me) == holder
    said: list[str] = []
    problem = play_lock.acquire(path.parent, timeout=0.3, say=said.append, pid=os.getpid())
    assert problem is not None
    assert f"still in use after 0.3 s by ansible-playbook pid {other.pid}" in problem
    assert len(said) == 1
    assert f"is in use by another play: ansible-playbook pid {other.pid} (sleep 60)" in said[0]
    other.kill()
    other.wait()
    assert play_lock.try_acquire(path, me) is None
    assert play_lock.read_holder(path) == me


def test_a_reused_pid_is_not_the_holder(tmp_path: Path) -> None:
    me = play_lock.holder_of(os.getpid())
    impostor = play_lock.Holder(me.pid, "1", "ansible-playbook", 0.0)  # same pid, other start
    assert not play_lock.is_alive(impostor)
    path = tmp_path / "play.lock"
    assert play_lock.try_acquire(path, impostor) is None
    assert play_lock.try_acquire(path, me) is None
