"""A lab cluster only its user can touch: a real ``grpclab-lab node`` and its Envoy, then another
user (``nobody``, through setpriv) trying Envoy's admin and ``grpclab-lab`` on that cluster.

Envoy's admin is the unix socket ``envoy-admin.sock`` in the state directory, 0600, in a state
directory of 0700; the node binds no TCP address but its DNS. The cluster has no manifests and
its DNS is on 127.0.64.199, this file's own loopback range, so no lab lock is needed. The state
directory sits in a folder anyone may enter (0755), so only the lab's own modes keep others out.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_node import LabNode, start_lab_node

from grpclab.lab import admin, pidfiles

NETWORK = "127.0.64"
DNS = f"{NETWORK}.199:10053"
SETPRIV = shutil.which("setpriv")
AS_NOBODY = [SETPRIV or "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
# what another local user would send: Envoy's admin stops Envoy on POST /quitquitquit
QUIT = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
    s.sendall(b"POST /quitquitquit HTTP/1.0\\r\\n\\r\\n")
    print("reached", s.recv(64))
except OSError as error:
    print(type(error).__name__, error.errno)
"""

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or SETPRIV is None, reason="needs root and setpriv to act as another uid"
)


@pytest.fixture(scope="module")
def node() -> Iterator[LabNode]:
    folder = Path(tempfile.mkdtemp(prefix="grpclab-private-"))
    folder.chmod(0o755)  # anyone may enter: only the state directory's own modes keep them out
    state_dir = folder / "grpclab-private"
    state_dir.mkdir(mode=0o755)  # the node makes it 0700
    lab = start_lab_node(state_dir, NETWORK, NETWORK, cilium=False, dns_address=DNS)
    try:
        yield lab
    finally:
        lab.stop()
        shutil.rmtree(folder)


def as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AS_NOBODY, *argv], capture_output=True, text=True, timeout=60, check=False
    )


def listening_tcp(pid: int) -> list[str]:
    """The TCP addresses (ip:port) process ``pid`` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
            host, port = fields[1].split(":")
            octets = [str(int(host[i : i + 2], 16)) for i in (6, 4, 2, 0)]
            found.append(f"{'.'.join(octets)}:{int(port, 16)}")
    return sorted(found)


def test_the_admin_is_a_unix_socket_of_0600_in_a_state_directory_of_0700(node):
    socket_path = admin.admin_socket(node.state_dir)
    assert stat.S_ISSOCK(socket_path.stat().st_mode)
    assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(node.state_dir.stat().st_mode) == 0o700
    assert node.admin("/ready").strip() == "LIVE"  # its user reaches it


def test_nothing_of_the_lab_listens_on_tcp_but_its_dns(node):
    envoy = pidfiles.live_record(node.state_dir, "envoy")
    assert envoy is not None
    assert listening_tcp(envoy.pid) == []  # no Service yet: no listener, and no admin port
    assert listening_tcp(node.process.pid) == [DNS]


def test_another_user_cannot_reach_the_admin_to_stop_envoy(node):
    socket_path = str(admin.admin_socket(node.state_dir))
    tried = as_nobody("/usr/bin/python3", "-c", QUIT, socket_path)
    assert tried.stdout.split() == ["PermissionError", "13"], tried.stdout + tried.stderr
    # the socket's own mode holds even where the directory would let them in
    node.state_dir.chmod(0o755)
    try:
        tried = as_nobody("/usr/bin/python3", "-c", QUIT, socket_path)
    finally:
        node.state_dir.chmod(0o700)
    assert tried.stdout.split() == ["PermissionError", "13"], tried.stdout + tried.stderr
    # and Envoy still serves its user
    assert node.admin("/ready").strip() == "LIVE"


@pytest.mark.parametrize("command", [["get", "pods"], ["delete", "pod", "x"], ["node"]])
def test_grpclab_lab_refuses_a_state_directory_it_does_not_own(node, command):
    before = sorted(p.name for p in node.state_dir.iterdir())
    done = as_nobody(
        sys.executable, "-m", "grpclab.lab", "--state-dir", str(node.state_dir), *command
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"grpclab-lab: state directory {node.state_dir} belongs to root (uid 0), not to you "
        "(nobody (uid 65534)): a lab cluster is used only by its own user\n"
    )
    assert sorted(p.name for p in node.state_dir.iterdir()) == before
