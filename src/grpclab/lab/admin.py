"""A lab cluster only its user can touch: the state directory, and Envoy's admin in it.

Envoy's admin interface (which takes ``POST /quitquitquit``, ``/drain_listeners``, log levels)
listens on a unix socket in the cluster's state directory, mode 0600, never on TCP; the state
directory is 0700 and belongs to the user running ``grpclab-lab``. The node and every helper
that talks to the admin reach it through :func:`admin_socket` of the state directory.
"""

from __future__ import annotations

import http.client
import os
import pwd
import socket
import stat
from pathlib import Path

from grpclab.lab.errors import LabError

ADMIN_SOCKET = "envoy-admin.sock"
STATE_DIR_MODE = 0o700
ADMIN_SOCKET_MODE = 0o600
# sun_path is 108 bytes on Linux, with its terminating NUL
MAX_SOCKET_PATH = 107


def admin_socket(state_dir: Path) -> Path:
    """The unix socket of the admin interface of the cluster's Envoy."""
    return Path(os.path.abspath(state_dir)) / ADMIN_SOCKET


def admin_address(state_dir: Path) -> dict:
    """Envoy's ``admin.address``: the socket, created 0600 by Envoy."""
    path = admin_socket(state_dir)
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise LabError(
            f"{path}: longer than a unix socket path can be ({MAX_SOCKET_PATH} bytes): "
            "use a shorter state directory (--state-dir, grpclab_state_root)"
        )
    return {"pipe": {"path": str(path), "mode": ADMIN_SOCKET_MODE}}


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def admin_request(
    state_dir: Path, path: str, method: str = "GET", timeout: float = 1.0
) -> tuple[int, str]:
    """(status, body) of one request to the admin interface; OSError when it cannot be reached."""
    connection = _UnixConnection(admin_socket(state_dir), timeout)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    except http.client.HTTPException as error:
        raise OSError(f"bad answer from the admin socket: {error}") from error
    finally:
        connection.close()


def admin_status(state_dir: Path, path: str = "/ready", timeout: float = 1.0) -> str:
    """``200`` and friends for a GET on the admin socket, or the error as text."""
    try:
        return str(admin_request(state_dir, path, timeout=timeout)[0])
    except OSError as error:
        return f"unreachable ({error.strerror or error})"


def admin_text(state_dir: Path, path: str, timeout: float = 1.0) -> str:
    """The body of a successful GET on the admin socket, else the status or the error as text."""
    try:
        status, body = admin_request(state_dir, path, timeout=timeout)
    except OSError as error:
        return f"unreachable ({error.strerror or error})"
    return body if status == 200 else str(status)


def _user(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def own_state_dir(state_dir: Path) -> None:
    """Refuse a state directory another user owns; make ours 0700. One that does not exist yet
    is left to the command (each says what it misses)."""
    try:
        info = os.stat(state_dir)
    except FileNotFoundError:
        return
    except OSError as error:
        raise LabError(f"state directory {state_dir}: {error.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise LabError(f"state directory {state_dir} is not a directory")
    me = os.geteuid()
    if info.st_uid != me:
        raise LabError(
            f"state directory {state_dir} belongs to {_user(info.st_uid)}, not to you "
            f"({_user(me)}): a lab cluster is used only by its own user"
        )
    if stat.S_IMODE(info.st_mode) != STATE_DIR_MODE:
        os.chmod(state_dir, STATE_DIR_MODE)
