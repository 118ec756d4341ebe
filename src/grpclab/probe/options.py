"""The probe's options: :class:`ProbeOptions`, their checks, and the command line that fills them.

``grpclab-probe``'s argparse parser (:func:`build_parser`) and :func:`parse_options`, which turns
``argv`` into checked :class:`ProbeOptions` or raises :class:`ProbeError` with the one line the
command prints; running the probe on them is :mod:`grpclab.probe.cli`.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpclab
from grpclab.probe import callspec, sizing
from grpclab.probe.calls import PROG
from grpclab.probe.callspec import CallSpec, CallSpecError
from grpclab.probe.model import EXPECTATIONS, NONE, Expectation
from grpclab.probe.targets import MalformedTarget, check_target

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
    # the method, identity, TLS, headers (grpclab.probe.callspec)
    spec: CallSpec = field(default_factory=CallSpec)
    watch: bool = False  # the monitor (grpclab.probe.watch): its own checks
    window: float = 30.0
    metrics_address: str = "127.0.0.1:9102"

    def validate(self) -> None:
        """Raise ProbeError naming the first bad option; also checks the target's form."""
        try:
            self.spec.validate()
        except CallSpecError as err:
            raise ProbeError(str(err)) from None
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
        if not self.watch:  # --watch is paced without a fixed --duration: grpclab.probe.watch
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
        if self.spec.by_peer:
            raise ProbeError(
                "--identity peer counts calls per connection, not per call: it does not "
                "give a timeline; leave --duration and --rate out"
            )
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


# ---------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog=PROG,
        description="Probe a gRPC target over several TCP connections and tell whether "
        "calls (or streams) are balanced per request (spread) or per connection (pinned). "
        "Exit 0 when the verdict matches --expect, 1 when it does not, 2 when the probe "
        "cannot run or cannot judge (too few calls).",
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
    callspec.add_arguments(parser)
    add(
        "--watch",
        action="store_true",
        help="keep probing at --rate, judge every --window and serve Prometheus metrics on "
        "--metrics-address until SIGTERM (or --duration)",
    )
    add(
        "--window",
        type=float,
        default=30.0,
        metavar="S",
        help="--watch: seconds of calls each verdict judges, on new connections (default: "
        "%(default)s)",
    )
    add(
        "--metrics-address",
        default="127.0.0.1:9102",
        metavar="HOST:PORT",
        help="--watch: where /metrics is served (default: %(default)s)",
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
    argv = list(sys.argv[1:] if argv is None else argv)
    # an unquoted -H x-token: secret leaves the value as a stray argument, which argparse
    # would print: say so without it (header values are never printed)
    try:
        callspec.check_unquoted_headers(argv)
    except CallSpecError as err:
        raise ProbeError(str(err)) from None
    args = build_parser().parse_args(argv)
    try:
        spec = callspec.from_args(args)
    except CallSpecError as err:
        raise ProbeError(str(err)) from None
    options = ProbeOptions(
        spec=spec,
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
        watch=args.watch,
        window=args.window,
        metrics_address=args.metrics_address,
    )
    options.validate()
    # before the probe runs, not after: the report's picture needs the controller extra
    if options.report is not None and importlib.util.find_spec("matplotlib") is None:
        raise ProbeError(
            "--report draws its picture with matplotlib, which is not installed: "
            "pip install 'grpclab[controller]'"
        )
    return options
