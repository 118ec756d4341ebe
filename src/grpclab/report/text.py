"""The words every rendering shares: number formats, verdict cells, the table, the overall line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grpclab.report.model import VERDICT_WORDS, short_names

TABLE_HEADER = (
    "scenario",
    "path of the calls",
    "verdict",
    "replicas reached per connection",
    "share per replica",
    "Jain's index",
    "p50 ms",
    "p99 ms",
    "calls/s",
)
NUMERIC_FROM = 5  # Jain's index onwards: right-aligned


def fmt(value: Any, spec: str, unit: str = "") -> str:
    """``value`` formatted with ``spec``, or an em dash when there is none."""
    if value is None:
        return "—"
    return f"{value:{spec}}{unit}"


def verdict_text(doc: Mapping[str, Any]) -> str:
    """``PASS: spread`` or ``FAIL: pinned, expected spread`` (the table's verdict cell)."""
    word = VERDICT_WORDS[doc["verdict"]]
    if doc["verdict"] == "error":
        return f"{word}: not probed, expected {doc['promise']}"
    if doc["verdict"] == "pass":
        return f"{word}: {doc['observed']}"
    return f"{word}: {doc['observed']}, expected {doc['promise']}"


def reached_text(doc: Mapping[str, Any]) -> str:
    reached = doc["replicas_reached_per_connection"]
    if not reached:
        return "—"
    result = doc.get("result") or {}
    of = result.get("expected_replicas") or len(doc["share_per_replica"])
    return f"{' · '.join(str(n) for n in reached)} of {of}"


def shares_text(doc: Mapping[str, Any]) -> str:
    shares = doc["share_per_replica"]
    if not shares:
        return "—"
    labels = short_names(list(shares))
    return " · ".join(f"{labels[name]} {share:.0%}" for name, share in shares.items())


def table_rows(report: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """The table's cells, scenario by scenario (plain text, shared by Markdown and HTML)."""
    return [
        (
            doc["scenario"],
            doc["path"] or "—",
            verdict_text(doc),
            reached_text(doc),
            shares_text(doc),
            fmt(doc["jain_index"], ".3f"),
            fmt(doc["latency_ms"]["p50"], ".2f"),
            fmt(doc["latency_ms"]["p99"], ".2f"),
            fmt(doc["calls_per_second"], ",.0f"),
        )
        for doc in report["scenarios"]
    ]


def streams_rows(doc: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """A streaming scenario's replicas: name, streams, messages (none for a unary method)."""
    streams = doc.get("streams") or {}
    return [
        (name, str(counts["streams"]), str(counts["messages"]))
        for name, counts in (streams.get("per_replica") or {}).items()
    ]


def streams_heading(doc: Mapping[str, Any]) -> str:
    """``180 server-streaming streams, 900 messages``."""
    streams = doc["streams"]
    kind = streams["kind"].replace("_", "-")
    return f"{streams['streams']} {kind} streams, {streams['messages']} messages"


def overall_line(report: Mapping[str, Any]) -> str:
    """One sentence: did every scenario keep its promise (a single scenario: what was seen)."""
    docs = report["scenarios"]
    passed = sum(1 for d in docs if d["passed"])
    if len(docs) == 1:
        doc = docs[0]
        kept = "kept" if doc["passed"] else "did NOT keep"
        seen = f"observed {doc['observed']}" if doc["verdict"] != "error" else "not probed"
        return f"{doc['scenario']} {kept} its promise: expected {doc['promise']}, {seen}."
    if report["passed"]:
        return f"All {len(docs)} scenarios kept their promise."
    return (
        f"{len(docs) - passed} of {len(docs)} scenarios did NOT keep their promise: "
        + ", ".join(report["failed_scenarios"])
        + "."
    )
