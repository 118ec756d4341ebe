"""The probe's connect deadline is kept: a connection ready after ``--connect-timeout`` is late.

A real Greeter on 127.0.5.3 (outside every lab address plan: no lab lock). The deadline's clock
starts before the first channel connects; a loopback connection takes about a millisecond, so
with a deadline of a microsecond every probe must stop with its one line and exit 2, never
probe. Before the clock started first, about one probe in five went on to call.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from servers import Replica, start_replicas, stop

from grpclab.probe import cli

ADDRESS, PORT = "127.0.5.3", 50061


@pytest.fixture(scope="module")
def greeter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    (replica,) = start_replicas([("on-time", ADDRESS, PORT)], tmp_path_factory.mktemp("late"))
    try:
        yield replica
    finally:
        stop(replica.process)


def test_a_connection_ready_after_the_deadline_is_late_every_time(greeter, capsys) -> None:
    argv = ["--target", f"{ADDRESS}:{PORT}", "--calls", "40", "--json"]
    for _ in range(20):
        status = cli.main([*argv, "--connect-timeout", "0.000001"])
        out, err = capsys.readouterr()
        assert status == 2 and out == "", out
        assert err.startswith(f"grpclab-probe: error: cannot connect to {ADDRESS}:{PORT}"), err
        assert len(err.splitlines()) == 1, err
    # the same server, with the default deadline: the probe calls it
    assert cli.main(argv) == 0
    assert '"calls": 40' in capsys.readouterr().out
