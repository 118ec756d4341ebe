"""The unit tier's promise, kept by the tests themselves: no process, no port.

Every unit test runs with ``subprocess.Popen`` (and so ``subprocess.run``) and IP sockets'
``bind``/``connect`` refused, with a line that says where such a test belongs (Unix sockets in a
temporary folder stay allowed: they bind no address another test or the lab could share). A
test that needs a real server, a process or a port goes to tests/integration (or playbooks,
containers) instead.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator

import pytest

INET = (socket.AF_INET, socket.AF_INET6)


class NotAUnitTest(AssertionError):
    pass


@pytest.fixture(autouse=True)
def _no_process_no_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def no_process(self, args, *rest, **kwargs):
        raise NotAUnitTest(
            f"a unit test started a process ({args!r}): it belongs in tests/integration"
        )

    def refuse(real):
        def call(self, address, *rest):
            if self.family in INET:
                raise NotAUnitTest(
                    f"a unit test used port {address!r}: it belongs in tests/integration"
                )
            return real(self, address, *rest)

        return call

    monkeypatch.setattr(subprocess.Popen, "__init__", no_process)
    for name in ("bind", "connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse(getattr(socket.socket, name)))
    yield
