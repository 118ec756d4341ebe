"""The probe: does a gRPC target balance per request or pin each connection to one replica?

Stages, each a module: options (what to probe, the command line's parser), targets (what to
call), sizing (how many calls), calls and pacer (make them), timeline (calls over time), model
(tallies, expectation, verdict: the data), verdict and stats (judge the tallies), table (render),
cli (run the probe: ``grpclab-probe`` and ``python -m grpclab.probe``).

Re-exported here only what is used from outside the package: ``main`` (tools/probe.py) and
``render_table`` (the collection's ``probe_table`` filter).
"""

import os

# before gRPC is first imported: gRPC's core logs every failed TLS handshake on stderr at INFO
# (several lines per connection attempt); the probe says what failed in its one line instead.
# A GRPC_VERBOSITY the user set wins.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from grpclab.probe.cli import main
from grpclab.probe.table import render_table

__all__ = ["main", "render_table"]
