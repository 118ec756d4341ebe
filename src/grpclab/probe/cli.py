"""The probe: does a gRPC target balance per request or pin each connection to one replica?

It opens K distinct TCP connections to the target (one gRPC channel each,
:mod:`grpclab.probe.calls`), identifies the replica that answered every call, and judges the
tallies with :mod:`grpclab.probe.verdict`. Two modes:

- calls (the default): N calls with at most ``--concurrency`` in flight per connection. Without
  ``--calls`` the probe sizes N itself (:mod:`grpclab.probe.sizing`), and without
  ``--concurrency`` it raises the calls in flight with N, within a bound.
- over time: ``--duration S --rate R`` sends R calls per second in all, paced open-loop over the
  connections (:mod:`grpclab.probe.pacer`), records every call and reports a timeline
  (:mod:`grpclab.probe.timeline`).

Output: a table for people, or with ``--json`` one JSON document for machines. Its schema is
``grpclab.probe/v1`` for the calls mode and ``grpclab.probe/v2`` when it carries a timeline
(v2 is v1 plus ``timeline``; both are ``$defs/probe_result`` of ``report.schema.json``). Keys
added to v1 (every document has them)::

    "calls": {"chosen": 2940,          # calls made in all (also parameters.calls)
              "per_connection": 735,   # the fewest made on one connection
              "concurrency": 8,        # calls in flight per connection (parameters.concurrency)
              "source": "sized",       # sized | first-pass | given | timeline
              "why": "sized for 32 replicas over 4 connections: ...",
              "spread_chance": 9.7e-07},  # bound on per-request balancing failing spread by
                                          # luck with these calls; null with replicas unknown
    "cannot_judge": false,   # spread not met with too few calls to trust it (exit status 2)
    "spread_chance": 1e-09   # the same bound from the calls that succeeded; null for pinned

and ``parameters.duration`` / ``parameters.rate`` (null in the calls mode). The ``timeline``
object is described in :mod:`grpclab.probe.timeline`. Every document also has ``call``, and one
of a streaming method ``streams`` (where a call is a stream: ``replicas`` counts streams)::

    "call": {"method": "shop.Orders/Watch", "kind": "server_streaming",
             "types": "reflection (grpc.reflection.v1alpha)",  # compiled | protoset F | proto F
             "identity": ["field:servedBy.pod"],   # null: the default specs
             "tls": false, "mutual_tls": false, "server_name": null, "authority": null,
             "headers": ["x-token"]},              # -H names only, never their values
    "streams": {"kind": "server_streaming", "messages_sent": 1, "streams": 180,
                "messages": 900, "per_replica": {"orders-1": {"streams": 60, "messages": 300}},
                "split_streams": 0,                # streams whose messages named 2+ replicas
                "note": "L7 balancing spreads streams over replicas, never the messages ..."}

Exit status (:class:`grpclab.status.ExitStatus`): 0 verdict met, 1 verdict not met, 2 cannot
probe or cannot judge (one line on stderr).
"""

from __future__ import annotations

import json
import math
import platform
import sys
from collections.abc import Sequence

import grpc

import grpclab
from grpclab.probe import pacer, peers, sizing
from grpclab.probe.calls import (  # noqa: F401  (re-exported: the probe's public helpers)
    PROG,
    Caller,
    ConnectError,
    channel_options,
    open_channels,
    replica_of,
    run_calls,
    split_calls,
)
from grpclab.probe.callspec import DEFAULT_MESSAGES
from grpclab.probe.descriptors import UNARY, DescriptorError, resolve
from grpclab.probe.identity import Identifier, SpecError, default_specs
from grpclab.probe.model import Tally, Verdict
from grpclab.probe.options import MAX_IN_FLIGHT, ProbeError, ProbeOptions, parse_options
from grpclab.probe.table import render_table
from grpclab.probe.timeline import build_timeline, tallies_of
from grpclab.probe.verdict import judge
from grpclab.status import ExitStatus

SCHEMA = "grpclab.probe/v1"
SCHEMA_TIMELINE = "grpclab.probe/v2"


# ---------------------------------------------------------------------------- the probe


def build_result(
    options: ProbeOptions,
    verdict: Verdict,
    duration: float,
    plan: sizing.CallPlan | None = None,
    timeline: dict | None = None,
) -> dict:
    """The JSON document of the contract (module docstring)."""
    judged = verdict.to_dict()
    total = judged["totals"]["calls"]
    if plan is None:  # the calls were made elsewhere: describe them as given
        plan = sizing.plan_calls(
            total,
            options.connections,
            options.concurrency,
            options.replicas,
            options.min_share,
            MAX_IN_FLIGHT,
        )
    result = {
        "schema": SCHEMA if timeline is None else SCHEMA_TIMELINE,
        "target": options.target,
        "lb_policy": options.lb,
        "parameters": {
            "calls": plan.chosen,
            "connections": options.connections,
            "concurrency": plan.concurrency,
            "expect": options.expect,
            "replicas": options.replicas,
            "min_share": options.min_share,
            "max_error_rate": options.max_error_rate,
            "timeout": options.timeout,
            "connect_timeout": options.connect_timeout,
            "duration": options.duration,
            "rate": options.rate,
        },
        "calls": plan.to_dict(),
        "expect": judged["expect"],
        "observed": judged["observed"],
        "passed": judged["passed"],
        "cannot_judge": judged["cannot_judge"],
        "summary": judged["summary"],
        "reasons": judged["reasons"],
        "expected_replicas": judged["expected_replicas"],
        "replicas_assumed": judged["replicas_assumed"],
        "replicas": judged["replicas"],
        "connections": judged["connections"],
        "jain_index": judged["jain_index"],
        "latency_ms": judged["latency_ms"],
        "calls_per_second": round(total / duration, 1) if duration > 0 else None,
        "duration_s": round(duration, 3),
        "totals": judged["totals"],
        "failures": judged["failures"],
        "error_rate": judged["error_rate"],
        "spread_chance": judged["spread_chance"],
        "warnings": judged["warnings"],
        "versions": {
            "grpclab": grpclab.__version__,
            "grpcio": grpc.__version__,
            "python": platform.python_version(),
        },
    }
    if timeline is not None:
        result["timeline"] = timeline
    return result


def caller_for(options: ProbeOptions, channel: grpc.Channel) -> Caller:
    """Resolve the method (reflection on ``channel`` when needed) and compile its identity."""
    spec = options.spec
    metadata = spec.transport.headers or None
    try:
        method = resolve(
            spec.call,
            spec.data,
            channel=channel,
            target=options.target,
            protoset=spec.protoset,
            proto=spec.proto,
            import_paths=spec.import_paths,
            timeout=options.timeout,
            metadata=metadata or (),
            greeter_name=PROG,
        )
        specs = spec.specs or default_specs(method.reply_descriptor)
        identify = Identifier(specs, method.reply_class)
    except (DescriptorError, SpecError) as err:
        raise ProbeError(str(err)) from None
    if spec.messages is not None and method.kind not in ("bidi_streaming", "client_streaming"):
        raise ProbeError(
            f"--messages is the messages per stream of a bidi or client-streaming method; "
            f"{spec.call} is {method.kind.replace('_', '-')}"
        )
    if method.streaming and options.duration is not None:
        raise ProbeError(
            f"--duration and --rate pace unary calls; {spec.call} is "
            f"{method.kind.replace('_', '-')}: probe its streams without them"
        )
    return Caller(method, identify, metadata, spec.messages or DEFAULT_MESSAGES)


def _streams_of(caller: Caller, tallies: Sequence[Tally]) -> dict | None:
    """The ``streams`` object of the JSON: streams and messages per replica, split streams."""
    if caller.method.kind == UNARY:
        return None
    streams: dict[str, int] = {}
    messages: dict[str, int] = {}
    for tally in tallies:
        for name, count in tally.replicas.items():
            streams[name] = streams.get(name, 0) + count
        for name, count in tally.messages.items():
            messages[name] = messages.get(name, 0) + count
    split = sum(t.split_streams for t in tallies)
    return {
        "kind": caller.method.kind,
        "messages_sent": 1 if caller.method.kind == "server_streaming" else caller.messages,
        "streams": sum(streams.values()),
        "messages": sum(messages.values()),
        "per_replica": {
            name: {"streams": streams.get(name, 0), "messages": messages.get(name, 0)}
            for name in sorted(set(streams) | set(messages))
        },
        "split_streams": split,
        "note": "L7 balancing spreads streams over replicas, never the messages of one "
        "stream: "
        + (
            "every stream stayed on one replica"
            if split == 0
            else f"{split} streams had messages from more than one replica"
        ),
    }


def _closed_loop(
    channels: Sequence[grpc.Channel], options: ProbeOptions, caller: Caller
) -> tuple[sizing.CallPlan, list[Tally], float]:
    """The calls mode: the planned calls, and a top-up after a first pass when it is one."""
    plan = sizing.plan_calls(
        options.calls,
        options.connections,
        options.concurrency,
        options.replicas,
        options.min_share,
        MAX_IN_FLIGHT,
    )
    tallies, duration = run_calls(channels, plan.chosen, plan.concurrency, options.timeout, caller)
    if plan.source == sizing.FIRST_PASS:
        seen = len(set().union(*(t.replicas_reached() for t in tallies)))
        plan, more = sizing.top_up(
            plan,
            max(1, seen),
            options.connections,
            options.min_share,
            options.concurrency,
            MAX_IN_FLIGHT,
        )
        if more > 0:
            extra, extra_duration = run_calls(
                channels, more * len(channels), plan.concurrency, options.timeout, caller
            )
            for tally, added in zip(tallies, extra, strict=True):
                tally.merge(added)
            duration += extra_duration
    return plan, tallies, duration


def probe(options: ProbeOptions) -> dict:
    """Validate, connect, call, judge: the result document. Raises ProbeError if it cannot."""
    options.validate()
    spec = options.spec
    before_ids = set(peers.top_channels(options.target)) if spec.by_peer else set()
    try:
        channels = open_channels(
            options.target,
            options.connections,
            options.lb,
            options.connect_timeout,
            spec.transport,
        )
    except ConnectError as err:
        raise ProbeError(str(err)) from None
    timeline = None
    try:
        caller = caller_for(options, channels[0])
        if spec.by_peer:  # the probe's own channels, oldest first: the order they were opened
            ids = [i for i in peers.top_channels(options.target) if i not in before_ids]
            if len(ids) != len(channels):
                raise ProbeError(
                    f"--identity peer: gRPC's channelz lists {len(ids)} of the probe's "
                    f"{len(channels)} connections to {options.target}; cannot count per peer"
                )
            counted = peers.snapshot(ids)
        if options.duration is not None and options.rate is not None:
            run = pacer.run_paced(channels, options.rate, options.duration, options.timeout, caller)
            timeline = build_timeline(run, options.rate, options.duration, len(channels))
            tallies, duration = tallies_of(run.records, len(channels)), run.sent_span_s
            tallies[0].unidentified = run.unidentified
            plan = sizing.timeline_plan(
                options.rate,
                options.duration,
                len(channels),
                options.replicas,
                options.min_share,
                math.ceil(timeline["max_in_flight"] / len(channels)),
            )
        else:
            plan, tallies, duration = _closed_loop(channels, options, caller)
        if spec.by_peer:
            tallies = peers.tallies_by_peer(tallies, counted, peers.snapshot(ids), spec.specs[0])
    finally:
        for channel in channels:
            channel.close()
    result = build_result(options, judge(tallies, options.expectation), duration, plan, timeline)
    result["call"] = {**spec.to_dict(), "kind": caller.method.kind, "types": caller.method.source}
    streams = _streams_of(caller, tallies)
    if streams is not None:
        result["streams"] = streams
        result["summary"] += f"; {streams['streams']} streams: {streams['note']}"
    return result


# ---------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = parse_options(argv)
        if options.watch:
            from grpclab.probe.watch import watch  # prometheus-client: only the monitor

            return watch(options)
        result = probe(options)
    except ProbeError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return ExitStatus.ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: error: interrupted", file=sys.stderr)
        return ExitStatus.ERROR
    if options.report is not None:
        from grpclab.report import write_probe_report  # matplotlib: only when asked for

        try:
            folder = write_probe_report(result, options.report)
        except (OSError, ValueError) as err:
            print(f"{PROG}: error: cannot write the report: {err}", file=sys.stderr)
            return ExitStatus.ERROR
    print(json.dumps(result, indent=2) if options.json else render_table(result))
    if options.report is not None:  # stdout stays one JSON document with --json
        print(f"report: {folder}", file=sys.stderr if options.json else sys.stdout)
    if result["cannot_judge"]:
        print(
            f"{PROG}: error: cannot judge spread: too few calls per connection "
            f"({result['calls']['per_connection']}) for {result['expected_replicas']} "
            "replicas; leave --calls out so the probe sizes itself",
            file=sys.stderr,
        )
        return ExitStatus.CANNOT_JUDGE
    return ExitStatus.SUCCESS if result["passed"] else ExitStatus.NOT_MET


if __name__ == "__main__":
    sys.exit(main())
