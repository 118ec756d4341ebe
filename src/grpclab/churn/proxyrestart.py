"""Churn expectations of ``proxy-restart``: what each remedy promises when the proxy of its
node is replaced (cilium-envoy, the Cilium agent, or kube-proxy). Pure; see grpclab.churn.

Which proxy is in a remedy's path decides it:

- cilium: every request goes through the node's L7 Envoy. The Envoy that is replaced drains:
  HTTP/2 connections get a GOAWAY and reconnect to the new one. How many calls that costs is
  measured, not promised (Cilium's Envoy has reported losses, cilium/cilium#34991); every
  connection must be served again within the recovery budget.
- baseline and cilium-l4: the connection is balanced once, in the kernel (kube-proxy's
  conntrack, Cilium's socket LB), not by the restarted process: open connections survive on the
  replica they had, and no call fails.
- max-age: the baseline's L4 path, so the restart itself breaks nothing. The server's age keeps
  moving connections as it always does, so no connection is promised its replica.
- client-side (with or without max age): the client talks to the pods straight away, no proxy
  is in its path: nothing changes, no call fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from grpclab.churn.figures import FAILED_CALLS, KEPT, RECOVERY, Figures

if TYPE_CHECKING:
    from grpclab.churn.expectations import Budgets

Expect = Callable[[str, "float | None", str], None]


def proxy_restart(remedy: str, b: Budgets, expect: Expect) -> None:
    """The promises of ``remedy`` when its node's proxy is restarted, through ``expect``."""
    if remedy == "cilium":
        expect(
            FAILED_CALLS,
            b.l7_proxy_failed_calls,
            "every request goes through the node's Envoy: the replaced one drains (GOAWAY) "
            "and its connections reconnect to the new one; Cilium's Envoy has reported losses "
            "(cilium/cilium#34991): measured, not assumed zero, unless a budget is given",
        )
        expect(RECOVERY, b.recovery_s, "every connection is served again through the new Envoy")
        return
    if remedy in ("baseline", "cilium-l4"):
        expect(
            KEPT,
            0,
            "the connection was balanced once, in the kernel (conntrack, socket LB), not by "
            "the restarted proxy: it survives on its replica",
        )
        why = "open connections survive the restart"
    elif remedy == "max-age":
        why = (
            "the L4 path keeps open connections through the restart; the server's age moves "
            "them as it always does (gracefully), so no replica is promised"
        )
    else:  # client-side, client-side-max-age
        why = "no proxy is in the path: the client talks to the pods, nothing changes"
    expect(FAILED_CALLS, b.proxy_failed_calls, why)
    expect(RECOVERY, b.recovery_s, "calls succeed on every connection")


def kept_seen(fig: Figures, budget: float | None) -> tuple[str, bool]:
    """The KEPT figure in words, and whether it is within ``budget`` connections moved."""
    if not fig.moved:
        return f"every connection kept its replica ({fig.connections} of {fig.connections})", True
    seen = f"{fig.moved} of {fig.connections} connections moved to another replica"
    return seen, budget is None or fig.moved <= budget
