"""The probe's result for people: a plain-text table rendered from the JSON document.

Works from the dict alone (schema ``grpclab.probe/v1``, or ``/v2`` with a timeline), so the
command line and the Ansible filter ``grpclab.lab.probe_table`` on the controller print the same
thing.
"""

from __future__ import annotations

from collections.abc import Mapping

from grpclab.probe.timeline import render_timeline

BAR_WIDTH = 40  # characters for a share of 1.0


def _ms(value: object) -> str:
    return "-" if value is None else f"{float(value):.3f}"  # type: ignore[arg-type]


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Columns padded to their widest cell; the last column is left ragged."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = []
        for i, cell in enumerate(row):
            if i == len(row) - 1:
                cells.append(cell)
            elif i in right:
                cells.append(cell.rjust(widths[i]))
            else:
                cells.append(cell.ljust(widths[i]))
        lines.append("  ".join(cells).rstrip())
    return lines


def _call_lines(call: object) -> list[str]:
    """The method, where its types came from, the identity specs, the transport (header
    names only: their values are never in the document)."""
    if not isinstance(call, Mapping):  # absent from documents of older probes
        return []
    transport = (
        "mutual TLS" if call.get("mutual_tls") else "TLS" if call.get("tls") else "plaintext"
    )
    for key, label in (("server_name", "server name"), ("authority", "authority")):
        if call.get(key):
            transport += f", {label} {call[key]}"
    if call.get("headers"):
        transport += f", headers {', '.join(call['headers'])}"
    identity = ", ".join(call.get("identity") or []) or "default (header:hostname, reply text)"
    return [
        f"method       {call.get('method')} ({str(call.get('kind', '')).replace('_', '-')}, "
        f"types: {call.get('types')})",
        f"identity     {identity}",
        f"transport    {transport}",
    ]


def _stream_lines(streams: object) -> list[str]:
    """Streams and messages per replica, and whether each stream stayed on one replica."""
    if not isinstance(streams, Mapping):
        return []
    rows = [
        [name, str(counts["streams"]), str(counts["messages"])]
        for name, counts in streams.get("per_replica", {}).items()
    ]
    lines = [
        f"streams      {streams.get('streams')} {str(streams.get('kind')).replace('_', '-')} "
        f"streams, {streams.get('messages')} messages received "
        f"({streams.get('messages_sent')} sent per stream)"
    ]
    lines += _table(["replica", "streams", "messages"], rows, right={1, 2})
    lines.append(f"             {streams.get('note')}")
    lines.append("")
    return lines


def render_table(result: Mapping) -> str:
    """The human table of one probe result dict."""
    params = result.get("parameters", {})
    totals = result.get("totals", {})
    lines = [
        f"target       {result.get('target')}  (lb {result.get('lb_policy')}, "
        f"{params.get('connections')} connections x {params.get('concurrency')} in flight, "
        f"{totals.get('calls')} calls)",
    ]
    plan = result.get("calls")
    if isinstance(plan, Mapping):  # absent from documents of older probes
        lines.append(f"calls        {plan.get('chosen')} ({plan.get('why')})")
    lines += _call_lines(result.get("call"))
    lines.append("")

    replicas = result.get("replicas", [])
    if replicas:
        rows = [
            [
                r["name"],
                str(r["calls"]),
                f"{r['share']:.3f}",
                "#" * max(1, round(r["share"] * BAR_WIDTH)),
            ]
            for r in replicas
        ]
        lines += _table(["replica", "calls", "share", ""], rows, right={1, 2})
    else:
        lines.append("replica      none answered")
    expected = result.get("expected_replicas")
    if expected:
        assumed = ", assumed from those seen" if result.get("replicas_assumed") else ""
        noun = "replica" if expected == 1 else "replicas"
        lines.append(f"(expected {expected} {noun}{assumed}; fair share {1 / expected:.3f})")
    lines.append("")

    connections = result.get("connections", [])
    rows = [
        [
            str(c["index"]),
            str(c["calls"]),
            str(c["failed"]),
            ", ".join(f"{name} {count}" for name, count in c["replicas"].items()) or "-",
        ]
        for c in connections
    ]
    lines += _table(["connection", "calls", "failed", "replicas reached"], rows, right={0, 1, 2})
    lines.append("")

    lines += _stream_lines(result.get("streams"))
    if result.get("timeline"):
        lines += [*render_timeline(result["timeline"]), ""]
    latency = result.get("latency_ms", {})
    lines.append(
        "latency ms   "
        + "  ".join(f"{key} {_ms(latency.get(key))}" for key in ("p50", "p90", "p99", "max"))
    )
    rate = result.get("calls_per_second")
    lines.append(
        f"throughput   {'-' if rate is None else f'{rate:.1f}'} calls/s "
        f"over {result.get('duration_s', 0):.3f} s"
    )
    jain = result.get("jain_index")
    lines.append(
        f"fairness     Jain index {'-' if jain is None else f'{jain:.4f}'} "
        "(1 = equal shares, 1/n = one replica takes all)"
    )
    failures = result.get("failures") or {}
    if failures:
        listed = ", ".join(f"{code} {count}" for code, count in failures.items())
        lines.append(f"failures     {totals.get('failed')} of {totals.get('calls')}: {listed}")
    else:
        lines.append("failures     none")
    for i, warning in enumerate(result.get("warnings", [])):
        lines.append(f"{'warnings' if i == 0 else '':<13}- {warning}")
    lines.append("")

    lines.append(f"summary      {result.get('summary')}")
    expect = result.get("expect")
    status = (
        "CANNOT JUDGE" if result.get("cannot_judge") else "PASS" if result.get("passed") else "FAIL"
    )
    lines.append(f"verdict      {status}: expected {expect}, observed {result.get('observed')}")
    for reason in result.get("reasons", []):
        lines.append(f"             - {reason}")
    return "\n".join(lines)
