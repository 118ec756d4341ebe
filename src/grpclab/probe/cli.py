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
object is described in :mod:`grpclab.probe.timeline`.

Exit status (:class:`grpclab.status.ExitStatus`): 0 verdict met, 1 verdict not met, 2 cannot
probe or cannot judge (one line on stderr).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

import grpclab
from grpclab.probe import pacer, sizing
from grpclab.probe.calls import (  # noqa: F401  (re-exported: the probe's public helpers)
    PROG,
    ConnectError,
    channel_options,
    open_channels,
    replica_of,
    run_calls,
    split_calls,
)
from grpclab.probe.table import render_table
from grpclab.probe.targets import MalformedTarget, check_target
from grpclab.probe.timeline import build_timeline, tallies_of
from grpclab.probe.verdict import EXPECTATIONS, NONE, Expectation, Tally, Verdict, judge
from grpclab.status import ExitStatus

SCHEMA = "grpclab.probe/v1"
SCHEMA_TIMELINE = "grpclab.probe/v2"
LB_POLICIES = ("pick_first", "round_robin")
# one thread per call in flight: past this, a load generator in Python is the wrong tool
MAX_IN_FLIGHT = 4096
MAX_RATE = 10_000.0  # calls per second of a paced run
MAX_TIMELINE_CALLS = 1_000_000  # every call is kept in memory and in the JSON


class ProbeError(Exception):
    """The probe cannot run: the message is the one line the command prints after 'error:'."""


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage: the command prints one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ProbeError(message)


@dataclass(frozen=True)
class ProbeOptions:
    target: str
    calls: int | None = None  # None: sized (grpclab.probe.sizing)
    connections: int = 4
    concurrency: int | None = None  # None: rises with the calls
    expect: str = NONE
    replicas: int | None = None
    min_share: float = 0.5
    max_error_rate: float = 0.0
    timeout: float = 5.0
    connect_timeout: float = 5.0
    lb: str = "pick_first"
    json: bool = False
    report: str | None = None
    duration: float | None = None  # with rate: the paced mode
    rate: float | None = None

    def validate(self) -> None:
        """Raise ProbeError naming the first bad option; also checks the target's form."""
        if self.connections < 1:
            raise ProbeError(f"--connections must be at least 1, not {self.connections}")
        if self.calls is not None:
            if self.calls < 1:
                raise ProbeError(f"--calls must be at least 1, not {self.calls}")
            if self.connections > self.calls:
                raise ProbeError(
                    f"--connections {self.connections} is more than --calls "
                    f"{self.calls}: every connection needs at least one call"
                )
        if self.concurrency is not None:
            if self.concurrency < 1:
                raise ProbeError(f"--concurrency must be at least 1, not {self.concurrency}")
            if self.connections * self.concurrency > MAX_IN_FLIGHT:
                raise ProbeError(
                    f"--connections x --concurrency must be at most {MAX_IN_FLIGHT}"
                    f" (one thread per call in flight), not "
                    f"{self.connections * self.concurrency}"
                )
        elif self.connections > MAX_IN_FLIGHT:
            raise ProbeError(
                f"--connections must be at most {MAX_IN_FLIGHT}, not {self.connections}"
            )
        if self.expect not in EXPECTATIONS:
            raise ProbeError(f"--expect must be one of {', '.join(EXPECTATIONS)}")
        if self.replicas is not None and self.replicas < 1:
            raise ProbeError(f"--replicas must be at least 1, not {self.replicas}")
        for flag, value in (
            ("--min-share", self.min_share),
            ("--max-error-rate", self.max_error_rate),
        ):
            if not 0.0 <= value <= 1.0:  # also false for nan
                raise ProbeError(f"{flag} must be between 0 and 1, not {value:g}")
        for flag, value in (
            ("--timeout", self.timeout),
            ("--connect-timeout", self.connect_timeout),
        ):
            if not 0 < value <= grpclab.MAX_SECONDS:  # also false for nan
                raise ProbeError(
                    f"{flag} must be a positive number of seconds, at most "
                    f"{grpclab.MAX_SECONDS:g}, not {value:g}"
                )
        if self.lb not in LB_POLICIES:
            raise ProbeError(f"--lb must be one of {', '.join(LB_POLICIES)}")
        self._validate_paced()
        try:
            check_target(self.target)
        except MalformedTarget as err:
            raise ProbeError(str(err)) from None

    def _validate_paced(self) -> None:
        if self.duration is None and self.rate is None:
            return
        if self.duration is None or self.rate is None:
            raise ProbeError("--duration and --rate go together: a paced run needs both")
        if self.calls is not None:
            raise ProbeError(
                "--duration and --calls are two modes: give one (a paced run "
                "makes --rate x --duration calls)"
            )
        if self.concurrency is not None:
            raise ProbeError(
                "--concurrency does not apply to --duration: calls are sent on "
                "schedule, however many are in flight"
            )
        if not 0 < self.duration <= grpclab.MAX_SECONDS:
            raise ProbeError(
                f"--duration must be a positive number of seconds, at most "
                f"{grpclab.MAX_SECONDS:g}, not {self.duration:g}"
            )
        if not 0 < self.rate <= MAX_RATE:
            raise ProbeError(
                f"--rate must be a positive number of calls per second, at most "
                f"{MAX_RATE:g}, not {self.rate:g}"
            )
        calls = round(self.rate * self.duration)
        if calls < self.connections:
            raise ProbeError(
                f"--rate x --duration makes {calls} calls, fewer than "
                f"--connections {self.connections}"
            )
        if calls > MAX_TIMELINE_CALLS:
            raise ProbeError(
                f"--rate x --duration makes {calls} calls, more than "
                f"{MAX_TIMELINE_CALLS} (every call is recorded)"
            )

    @property
    def expectation(self) -> Expectation:
        return Expectation(
            expect=self.expect,
            replicas=self.replicas,
            min_share=self.min_share,
            max_error_rate=self.max_error_rate,
        )


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


def _closed_loop(
    channels: Sequence[grpc.Channel], options: ProbeOptions
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
    tallies, duration = run_calls(channels, plan.chosen, plan.concurrency, options.timeout)
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
                channels, more * len(channels), plan.concurrency, options.timeout
            )
            for tally, added in zip(tallies, extra, strict=True):
                tally.merge(added)
            duration += extra_duration
    return plan, tallies, duration


def probe(options: ProbeOptions) -> dict:
    """Validate, connect, call, judge: the result document. Raises ProbeError if it cannot."""
    options.validate()
    try:
        channels = open_channels(
            options.target, options.connections, options.lb, options.connect_timeout
        )
    except ConnectError as err:
        raise ProbeError(str(err)) from None
    timeline = None
    try:
        if options.duration is not None and options.rate is not None:
            run = pacer.run_paced(channels, options.rate, options.duration, options.timeout)
            timeline = build_timeline(run, options.rate, options.duration, len(channels))
            tallies, duration = tallies_of(run.records, len(channels)), run.sent_span_s
            plan = sizing.timeline_plan(
                options.rate,
                options.duration,
                len(channels),
                options.replicas,
                options.min_share,
                math.ceil(timeline["max_in_flight"] / len(channels)),
            )
        else:
            plan, tallies, duration = _closed_loop(channels, options)
    finally:
        for channel in channels:
            channel.close()
    return build_result(options, judge(tallies, options.expectation), duration, plan, timeline)


# ---------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog=PROG,
        description="Probe a gRPC Greeter target over several TCP connections and tell whether "
        "calls are balanced per request (spread) or per connection (pinned). Exit 0 when the "
        "verdict matches --expect, 1 when it does not, 2 when the probe cannot run or cannot "
        "judge (too few calls).",
    )
    add = parser.add_argument
    add(
        "--target",
        required=True,
        help="gRPC target: host:port, dns:///host:port, ipv4:a:p,b:p,... or ipv6:[a]:p,...",
    )
    add(
        "--calls",
        type=int,
        default=None,
        help="calls in total (default: sized so that per-request balancing fails spread by "
        "chance below 1e-6; with --replicas, else after a first pass of 400)",
    )
    add(
        "--connections",
        type=int,
        default=4,
        help="distinct TCP connections the calls are spread over (default: %(default)s)",
    )
    add(
        "--concurrency",
        type=int,
        default=None,
        help="calls in flight per connection (default: one per 100 calls per connection, "
        f"1 to {sizing.MAX_AUTO_CONCURRENCY})",
    )
    add(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="over time: pace calls for S seconds (with --rate) and report a timeline",
    )
    add(
        "--rate",
        type=float,
        default=None,
        metavar="R",
        help="over time: R calls per second in all, sent on schedule over the connections",
    )
    add(
        "--expect",
        choices=EXPECTATIONS,
        default=NONE,
        help="spread: every connection reaches every replica; pinned: every connection stays "
        "on one replica; none: report only (default: %(default)s)",
    )
    add(
        "--replicas",
        type=int,
        default=None,
        help="replicas expected (default: the distinct replicas seen, with a warning)",
    )
    add(
        "--min-share",
        type=float,
        default=0.5,
        help="spread: least share of its fair share each replica must get, 0-1 "
        "(default: %(default)s)",
    )
    add(
        "--max-error-rate",
        type=float,
        default=0.0,
        help="largest fraction of failed calls the verdict accepts, 0-1 (default: %(default)s)",
    )
    add(
        "--timeout",
        type=float,
        default=5.0,
        help="deadline of each call, seconds (default: %(default)s)",
    )
    add(
        "--connect-timeout",
        type=float,
        default=5.0,
        help="deadline for every connection to be ready, seconds (default: %(default)s)",
    )
    add(
        "--lb",
        choices=LB_POLICIES,
        default="pick_first",
        help="the channel's own load-balancing policy; round_robin spreads over the addresses "
        "of an ipv4: or dns:/// target (default: %(default)s)",
    )
    add("--json", action="store_true", help="print one JSON document instead of the table")
    add(
        "--report",
        metavar="DIR",
        default=None,
        help="also write a report folder DIR/<UTC timestamp>/ (report.json, .md, .png, .html) "
        "with grpclab.report, the compare playbook's report of this one run",
    )
    return parser


def parse_options(argv: Sequence[str] | None = None) -> ProbeOptions:
    args = build_parser().parse_args(argv)
    options = ProbeOptions(
        target=args.target,
        calls=args.calls,
        connections=args.connections,
        concurrency=args.concurrency,
        expect=args.expect,
        replicas=args.replicas,
        min_share=args.min_share,
        max_error_rate=args.max_error_rate,
        timeout=args.timeout,
        connect_timeout=args.connect_timeout,
        lb=args.lb,
        json=args.json,
        report=args.report,
        duration=args.duration,
        rate=args.rate,
    )
    options.validate()
    # before the probe runs, not after: the report's picture needs the controller extra
    if options.report is not None and importlib.util.find_spec("matplotlib") is None:
        raise ProbeError(
            "--report draws its picture with matplotlib, which is not installed: "
            "pip install 'grpclab[controller]'"
        )
    return options


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = parse_options(argv)
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
