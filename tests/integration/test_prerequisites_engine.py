"""The Docker engine check against a TCP server that is not Docker: it binds a port on
127.0.41.200, outside every lab address plan (the rest: tests/unit/test_prerequisites.py)."""

from __future__ import annotations

import socket
import threading

import pytest

from grpclab import prerequisites as p


def test_a_non_docker_server_is_an_oserror(tmp_path):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.41.200", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def answer():
        connection, _ = listener.accept()
        connection.recv(1024)
        connection.sendall(b"SSH-2.0-OpenSSH\r\n")
        connection.close()

    threading.Thread(target=answer, daemon=True).start()
    try:
        with pytest.raises(OSError):
            p.docker_server_version(f"tcp://127.0.41.200:{port}", timeout=5)
    finally:
        listener.close()
