"""The probe: does a gRPC target balance per request or pin each connection to one replica?

Stages, each a module: targets (what to call), sizing (how many calls), calls and pacer (make
them), timeline (calls over time), verdict and stats (judge the tallies), table (render), cli
(the command line, ``grpclab-probe`` and ``python -m grpclab.probe``).

Re-exported here only what is used from outside the package: ``main`` (tools/probe.py) and
``render_table`` (the collection's ``probe_table`` filter).
"""

from grpclab.probe.cli import main
from grpclab.probe.table import render_table

__all__ = ["main", "render_table"]
