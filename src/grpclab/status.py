"""Exit statuses of grpclab's commands, named (as httpie's ``ExitStatus``).

``grpclab-probe``: 0 the verdict is met, 1 it is not, 2 the probe cannot run (bad arguments,
unreachable target) or cannot judge (too few calls for a verdict to be trusted). The other
commands (server, client, lab) use ``SUCCESS`` and ``ERROR`` the same way.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    SUCCESS = 0
    NOT_MET = 1  # the probe ran and the verdict is not what --expect promises
    ERROR = 2  # one clear line on stderr: bad input, nothing reachable, nothing to judge
    CANNOT_JUDGE = 2  # alias of ERROR: the probe ran, but too few calls to trust the verdict
