"""Whether an address can be listened on, asked before anything binds it."""

from __future__ import annotations

import socket


def bind_error(host: str, port: int) -> str | None:
    """Why HOST:PORT cannot be listened on now (the OS's reason), or None when it can."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # as gRPC and Envoy bind: connections in TIME_WAIT don't block, a live listener does
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.strerror or str(error)
    return None
