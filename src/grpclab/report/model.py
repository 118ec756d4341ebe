"""The report's model: scenarios in, one report document (report.json) out.

Everything here is pure (no file, no picture): the Markdown, the picture, the HTML and the
folder writer all render the document ``build_report`` returns.
"""

from __future__ import annotations

import json
import platform as platform_module
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from grpclab import __version__

REPORT_SCHEMA = "grpclab.report/v1"
# The probe's --json contracts a report accepts: v2 only adds keys (sizing, timeline) to v1.
PROBE_SCHEMAS = ("grpclab.probe/v1", "grpclab.probe/v2")
DEFAULT_TITLE = "grpclab compare"
VERDICT_WORDS = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}
# What a streaming row shows, whatever the balancing: a stream is balanced, its messages are not.
STREAMS_SENTENCE = "L7 spreads streams over replicas, never the messages of one stream"


class ReportError(ValueError):
    """The input cannot make a report (missing field, unknown probe schema)."""


@dataclass
class Scenario:
    """One scenario's outcome, as the compare play (or the probe) hands it over.

    ``result`` is the probe's ``--json`` document (one of ``PROBE_SCHEMAS``), or None when the
    scenario could not be probed at all; ``error`` then says why.
    """

    scenario: str
    promise: str
    result: dict[str, Any] | None
    path: str = ""
    platform: str | None = None
    cluster: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Scenario:
        missing = [key for key in ("scenario", "promise") if not data.get(key)]
        if missing:
            raise ReportError(f"scenario entry lacks {', '.join(missing)}: {dict(data)!r:.200}")
        result = data.get("result")
        if result is not None:
            if not isinstance(result, Mapping):
                raise ReportError(f"scenario {data['scenario']}: result is not a JSON object")
            if result.get("schema") not in PROBE_SCHEMAS:
                raise ReportError(
                    f"scenario {data['scenario']}: result schema is "
                    f"{result.get('schema')!r}, expected one of {', '.join(PROBE_SCHEMAS)}"
                )
            result = dict(result)
        elif not data.get("error"):
            raise ReportError(f"scenario {data['scenario']}: neither a result nor an error")
        versions = {str(k): str(v) for k, v in (data.get("versions") or {}).items() if v}
        return cls(
            scenario=str(data["scenario"]),
            promise=str(data["promise"]),
            result=result,
            path=str(data.get("path") or ""),
            platform=data.get("platform") or None,
            cluster=data.get("cluster") or None,
            versions=versions,
            error=data.get("error") or None,
        )


def probe_scenario(
    result: Mapping[str, Any], scenario: str = "probe", path: str | None = None
) -> Scenario:
    """One probe result as a scenario whose promise is the probe's own ``--expect``."""
    target = result.get("target", "?")
    return Scenario(
        scenario=scenario,
        promise=str(result.get("expect", "none")),
        result=dict(result),
        path=path or f"{target} ({result.get('lb_policy', 'pick_first')})",
    )


def probe_title(result: Mapping[str, Any]) -> str:
    return f"grpclab probe of {result.get('target', '?')}"


def short_names(names: Sequence[str]) -> dict[str, str]:
    """Replica labels without the part every name shares (``grpc-server-7d9f8-x1`` -> ``x1``)."""
    if not names:
        return {}
    if len(names) == 1:
        name = names[0]
        return {name: name.rsplit("-", 1)[-1] or name}
    shared = 0
    for chars in zip(*names, strict=False):
        if len(set(chars)) > 1:
            break
        shared += 1
    cut = names[0][:shared].rfind("-") + 1  # cut on a dash, so labels stay whole words
    return {name: (name[cut:] or name) for name in names}


def verdict_of(scenario: Scenario) -> str:
    """pass: the probe met the scenario's promise; fail: it did not; error: no result."""
    result = scenario.result
    if result is None:
        return "error"
    if result.get("passed") is True and result.get("expect") == scenario.promise:
        return "pass"
    return "fail"


def replica_names(result: Mapping[str, Any]) -> list[str]:
    """Every replica seen, in the probe's order (sorted by name), then any only a connection saw."""
    names = [r["name"] for r in result.get("replicas", [])]
    for conn in result.get("connections", []):
        for name in conn.get("replicas", {}):
            if name not in names:
                names.append(name)
    return names


def digest(scenario: Scenario) -> dict[str, Any]:
    """The figures the table and the picture show, derived from the probe result only."""
    verdict = verdict_of(scenario)
    result = scenario.result or {}
    replicas = result.get("replicas", [])
    connections = result.get("connections", [])
    latency = result.get("latency_ms") or {}
    totals = result.get("totals") or {}
    return {
        "verdict": verdict,
        "observed": result.get("observed", "failed" if scenario.result is None else None),
        "replicas_reached_per_connection": [
            sum(1 for calls in conn.get("replicas", {}).values() if calls > 0)
            for conn in connections
        ],
        "share_per_replica": {r["name"]: r.get("share", 0.0) for r in replicas},
        "calls_per_replica": {r["name"]: r.get("calls", 0) for r in replicas},
        "jain_index": result.get("jain_index"),
        "p50_ms": latency.get("p50"),
        "p99_ms": latency.get("p99"),
        "calls_per_second": result.get("calls_per_second"),
        "calls": totals.get("calls"),
        "failed_calls": totals.get("failed"),
    }


def streams_of(result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A streaming probe's streams and messages per replica, with the plain sentence; else None."""
    streams = (result or {}).get("streams")
    if not isinstance(streams, Mapping):
        return None
    per_replica = {
        str(name): {"streams": int(c.get("streams", 0)), "messages": int(c.get("messages", 0))}
        for name, c in (streams.get("per_replica") or {}).items()
    }
    split = int(streams.get("split_streams", 0))
    count = int(streams.get("streams", 0))
    reached = sum(1 for c in per_replica.values() if c["streams"] > 0)
    where = (
        f"every stream on one replica, {count} streams over {reached} replicas"
        if split == 0
        else f"{split} of {count} streams had messages from more than one replica"
    )
    return {
        "kind": str(streams.get("kind", "")),
        "streams": count,
        "messages": int(streams.get("messages", 0)),
        "messages_sent": streams.get("messages_sent"),
        "per_replica": per_replica,
        "split_streams": split,
        "one_replica_per_stream": split == 0,
        "sentence": f"{STREAMS_SENTENCE}: {where}.",
    }


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def merge_versions(scenarios: Iterable[Scenario]) -> dict[str, str]:
    """The versions in play over the whole report: one value per key, or the distinct values."""
    seen: dict[str, list[str]] = {}
    for scenario in scenarios:
        merged = dict((scenario.result or {}).get("versions") or {})
        merged.update(scenario.versions)
        if scenario.platform:
            merged.setdefault("platform", scenario.platform)
        for key, value in merged.items():
            values = seen.setdefault(str(key), [])
            if str(value) not in values:
                values.append(str(value))
    return {key: ", ".join(values) for key, values in sorted(seen.items())}


def _scenario_document(scenario: Scenario) -> dict[str, Any]:
    d = digest(scenario)
    result = scenario.result or {}
    return {
        "scenario": scenario.scenario,
        "platform": scenario.platform,
        "cluster": scenario.cluster,
        "path": scenario.path,
        "promise": scenario.promise,
        "verdict": d["verdict"],
        "passed": d["verdict"] == "pass",
        "observed": d["observed"],
        "summary": result.get("summary") or scenario.error or "",
        "error": scenario.error,
        "parameters": result.get("parameters", {}),
        "replicas_reached_per_connection": d["replicas_reached_per_connection"],
        "share_per_replica": d["share_per_replica"],
        "jain_index": d["jain_index"],
        "latency_ms": {"p50": d["p50_ms"], "p99": d["p99_ms"]},
        "calls_per_second": d["calls_per_second"],
        "versions": dict(sorted(scenario.versions.items())),
        "streams": streams_of(scenario.result),
        "result": scenario.result,
    }


def build_report(
    entries: Iterable[Scenario | Mapping[str, Any]],
    *,
    title: str = DEFAULT_TITLE,
    generated_at: datetime | None = None,
    versions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report document (report.json) from scenario entries; raises ReportError on bad input."""
    scenarios = [e if isinstance(e, Scenario) else Scenario.from_mapping(e) for e in entries]
    if not scenarios:
        raise ReportError("no scenario to report")
    names = [s.scenario for s in scenarios]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ReportError(f"scenario names must be unique: {', '.join(duplicates)}")
    when = (generated_at or utc_now()).astimezone(UTC)
    all_versions = merge_versions(scenarios)
    all_versions.update({str(k): str(v) for k, v in (versions or {}).items() if v})
    all_versions.setdefault("grpclab", __version__)
    all_versions.setdefault("python", platform_module.python_version())
    documents = [_scenario_document(scenario) for scenario in scenarios]
    failed = [doc["scenario"] for doc in documents if not doc["passed"]]
    return {
        "schema": REPORT_SCHEMA,
        "title": title,
        "generated_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "passed": not failed,
        "failed_scenarios": failed,
        "versions": all_versions,
        "scenarios": documents,
    }


def scenarios_of(report: Mapping[str, Any]) -> list[Scenario]:
    """The Scenario objects back from a report document (to re-render its files)."""
    return [
        Scenario(
            scenario=doc["scenario"],
            promise=doc["promise"],
            result=doc.get("result"),
            path=doc.get("path") or "",
            platform=doc.get("platform"),
            cluster=doc.get("cluster"),
            versions=dict(doc.get("versions") or {}),
            error=doc.get("error"),
        )
        for doc in report["scenarios"]
    ]


def load_schema(name: str = "report") -> dict[str, Any]:
    """A JSON schema kept in the package: ``report``, or ``probe-result`` (one probe's JSON).

    The probe result schema is the report schema's ``$defs/probe_result``: one source.
    """
    text = resources.files("grpclab.schemas").joinpath("report.schema.json").read_text("utf-8")
    schema = json.loads(text)
    if name == "report":
        return schema
    if name == "probe-result":
        return {
            "$schema": schema["$schema"],
            "title": "grpclab probe result (grpclab-probe --json)",
            "$ref": "#/$defs/probe_result",
            "$defs": schema["$defs"],
        }
    raise ValueError(f"unknown schema {name!r}: report or probe-result")
