"""Judgement over time: what a remedy did while replicas came, went or restarted.

Pure functions over the probe's timeline (``grpclab-probe --duration S --rate R``) and one churn
action taken during it; nothing here reads files or clocks. The timeline is the probe's JSON:

    {"start_unix": float, "rate": R, "duration_s": S,
     "calls": [[t_s, connection, replica_or_null, status_code_name, latency_ms_or_null], ...],
     "per_second": [{"t": int, "replicas": {name: n}, "failed": k, "failures": {code: n}}],
     "connections": [{"index": i, "segments": [{"replica", "from_s", "to_s", "calls"}]}]}

Times are seconds from the start of the run. ``figures`` measures; ``expectations`` promises and
judges. The figures (``measure``) are the ones the issue
names: for new replicas, the time until every connection has reached each of them and the time
until the shares are fair; for removed or restarted ones, the failed calls by status code and the
time until calls succeed again on every connection. ``expectations`` writes each remedy's promise
for each action down as data, with its budget; ``judge`` holds the figures against them and says
what was seen in one line.

Beside them: ``run`` takes one churn run as a playbook hands it over (the probe's result, the
action's time, the pods before and after; the collection's ``probe_verdict``
filter calls it), and ``rotation`` judges the max-age scenario's
``rotating`` promise over a timeline. Only the judgement is re-exported here.
"""

from grpclab.churn.expectations import (
    L4,
    REMOVALS,
    Budgets,
    Check,
    Expectation,
    Judgement,
    expectations,
    judge,
    matrix,
    rotations_needed,
)
from grpclab.churn.figures import (
    ACTIONS,
    FAILED_CALLS,
    FAIR,
    KEPT,
    OK,
    REACH_ALL,
    REACH_NEVER,
    RECOVERY,
    REMEDIES,
    SERVED,
    SPREAD,
    Action,
    Figures,
    connection_indexes,
    fair_since,
    measure,
    reach_times,
    recovery_time,
)

__all__ = [
    "ACTIONS",
    "FAILED_CALLS",
    "FAIR",
    "KEPT",
    "L4",
    "OK",
    "REACH_ALL",
    "REACH_NEVER",
    "RECOVERY",
    "REMEDIES",
    "REMOVALS",
    "SERVED",
    "SPREAD",
    "Action",
    "Budgets",
    "Check",
    "Expectation",
    "Figures",
    "Judgement",
    "connection_indexes",
    "expectations",
    "fair_since",
    "judge",
    "matrix",
    "measure",
    "reach_times",
    "recovery_time",
    "rotations_needed",
]
