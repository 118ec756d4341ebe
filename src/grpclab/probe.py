"""The probe: does a gRPC target balance per request or pin each connection to one replica?

It opens K distinct TCP connections to the target (one gRPC channel each), sends N Greeter calls
spread over them with at most ``--concurrency`` calls in flight per connection, identifies the
replica that answered every call (initial metadata ``hostname``, else the reply ``Hello from
<name>``), and judges the tallies with :mod:`grpclab.verdict`. Output: a table for people, or with
``--json`` one JSON document (schema ``grpclab.probe/v1``) for machines.

Exit status: 0 verdict met, 1 verdict not met, 2 cannot probe (one line on stderr).
"""

from __future__ import annotations

import argparse
import ipaddress
import itertools
import json
import platform
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import grpc

import grpclab
from grpclab.protos import helloworld_pb2, helloworld_pb2_grpc
from grpclab.table import render_table
from grpclab.verdict import EXPECTATIONS, NONE, UNIDENTIFIED, Expectation, Tally, Verdict, judge

PROG = "grpclab-probe"
SCHEMA = "grpclab.probe/v1"
LB_POLICIES = ("pick_first", "round_robin")
# one thread per call in flight: past this, a load generator in Python is the wrong tool
MAX_IN_FLIGHT = 4096

_REPLY_PREFIX = "Hello from "
_SCHEMES = ("dns", "ipv4", "ipv6", "unix", "unix-abstract")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$")
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")
_TARGET_FORMS = ("host:port, dns:///host:port, ipv4:addr:port[,addr:port...] "
                 "or ipv6:[addr]:port[,...]")

# gRPC shares one subchannel (one TCP connection) between channels with equal arguments; a
# process-wide counter gives every channel, even across probes in one process, its own.
_channel_ids = itertools.count(1)


class ProbeError(Exception):
    """The probe cannot run: the message is the one line the command prints after 'error:'."""


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage: the command prints one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ProbeError(message)


@dataclass(frozen=True)
class ProbeOptions:
    target: str
    calls: int = 400
    connections: int = 4
    concurrency: int = 1
    expect: str = NONE
    replicas: int | None = None
    min_share: float = 0.5
    max_error_rate: float = 0.0
    timeout: float = 5.0
    connect_timeout: float = 5.0
    lb: str = "pick_first"
    json: bool = False
    report: str | None = None

    def validate(self) -> None:
        """Raise ProbeError naming the first bad option; also checks the target's form."""
        if self.calls < 1:
            raise ProbeError(f"--calls must be at least 1, not {self.calls}")
        if self.connections < 1:
            raise ProbeError(f"--connections must be at least 1, not {self.connections}")
        if self.connections > self.calls:
            raise ProbeError(f"--connections {self.connections} is more than --calls "
                             f"{self.calls}: every connection needs at least one call")
        if self.concurrency < 1:
            raise ProbeError(f"--concurrency must be at least 1, not {self.concurrency}")
        if self.connections * self.concurrency > MAX_IN_FLIGHT:
            raise ProbeError(f"--connections x --concurrency must be at most {MAX_IN_FLIGHT} "
                             f"(one thread per call in flight), not "
                             f"{self.connections * self.concurrency}")
        if self.expect not in EXPECTATIONS:
            raise ProbeError(f"--expect must be one of {', '.join(EXPECTATIONS)}")
        if self.replicas is not None and self.replicas < 1:
            raise ProbeError(f"--replicas must be at least 1, not {self.replicas}")
        for flag, value in (("--min-share", self.min_share),
                            ("--max-error-rate", self.max_error_rate)):
            if not 0.0 <= value <= 1.0:  # also false for nan
                raise ProbeError(f"{flag} must be between 0 and 1, not {value:g}")
        for flag, value in (("--timeout", self.timeout),
                            ("--connect-timeout", self.connect_timeout)):
            if not 0 < value <= grpclab.MAX_SECONDS:  # also false for nan
                raise ProbeError(f"{flag} must be a positive number of seconds, at most "
                                 f"{grpclab.MAX_SECONDS:g}, not {value:g}")
        if self.lb not in LB_POLICIES:
            raise ProbeError(f"--lb must be one of {', '.join(LB_POLICIES)}")
        check_target(self.target)

    @property
    def expectation(self) -> Expectation:
        return Expectation(expect=self.expect, replicas=self.replicas,
                           min_share=self.min_share, max_error_rate=self.max_error_rate)


# ---------------------------------------------------------------------------- target syntax

def _check_port(target: str, port: str) -> None:
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ProbeError(f"malformed target {target!r}: {port!r} is not a port (1-65535)")


def _check_host_port(target: str, hostport: str) -> None:
    """``host:port``, ``a.b.c.d:port`` or ``[v6]:port``; the port is required."""
    if hostport.startswith("["):
        host, sep, port = hostport[1:].partition("]")
        if not sep or not port.startswith(":"):
            raise ProbeError(f"malformed target {target!r}: expected [ipv6-address]:port")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ProbeError(f"malformed target {target!r}: {host!r} is not an IPv6 "
                             "address") from None
        _check_port(target, port[1:])
        return
    if hostport.count(":") > 1:
        raise ProbeError(f"malformed target {target!r}: an IPv6 address needs brackets, "
                         "as in [::1]:50051")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host:
        what = "missing :port" if hostport else "empty address"
        raise ProbeError(f"malformed target {target!r}: {what} (expected {_TARGET_FORMS})")
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ProbeError(f"malformed target {target!r}: {host!r} is not an IPv4 "
                             "address") from None
    elif not _HOSTNAME_RE.match(host):
        raise ProbeError(f"malformed target {target!r}: {host!r} is not a host name")
    _check_port(target, port)


def check_target(target: str) -> None:
    """Raise ProbeError unless ``target`` is a gRPC target the probe can use.

    gRPC itself accepts nearly any string and then never connects; checking the form first
    turns a typo into an immediate, clear error instead of a connect timeout.
    """
    if not target or any(c.isspace() for c in target):
        raise ProbeError(f"malformed target {target!r}: expected {_TARGET_FORMS}")
    match = _SCHEME_RE.match(target)
    # "host:port" also looks like "scheme:rest"; it is a URI only for a known scheme or "//"
    is_uri = match is not None and (match.group(1).lower() in _SCHEMES
                                    or match.group(2).startswith("//"))
    if match is None or not is_uri:
        _check_host_port(target, target)
        return
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme not in _SCHEMES:
        raise ProbeError(f"malformed target {target!r}: unsupported scheme {scheme!r} "
                         f"(expected {_TARGET_FORMS})")
    if scheme == "dns":
        if rest.startswith("//"):  # dns://[authority]/host:port
            _authority, slash, rest = rest[2:].partition("/")
            if not slash:
                raise ProbeError(f"malformed target {target!r}: expected dns:///host:port")
        _check_host_port(target, rest)
    elif scheme == "ipv6":
        for address in rest.split(","):
            if not address.startswith("["):
                raise ProbeError(f"malformed target {target!r}: ipv6: addresses are written "
                                 "[addr]:port")
            _check_host_port(target, address)
    elif scheme == "ipv4":
        for address in rest.split(","):
            host, _, port = address.rpartition(":")
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise ProbeError(f"malformed target {target!r}: {address!r} is not "
                                 "ipv4-address:port") from None
            _check_port(target, port)
    elif not rest.lstrip("/"):  # unix:path, unix-abstract:name
        raise ProbeError(f"malformed target {target!r}: {scheme}: needs a path")


# ---------------------------------------------------------------------------- channels

def channel_options(lb: str = "pick_first") -> list[tuple[str, object]]:
    """Options of one probe channel; every call returns a distinct ``grpc.channel_id``."""
    return [
        ("grpc.channel_id", next(_channel_ids)),
        ("grpc.service_config", json.dumps({"loadBalancingConfig": [{lb: {}}]})),
        # the policy asked for is the policy used: no service config from DNS TXT records
        ("grpc.service_config_disable_resolution", 1),
        # probe the target itself, never through an HTTP CONNECT proxy from the environment
        ("grpc.enable_http_proxy", 0),
    ]


def _connect_error(channel: grpc.Channel, wait: float) -> str:
    """What gRPC says when a call is tried on a channel that did not connect."""
    stub = helloworld_pb2_grpc.GreeterStub(channel)
    try:
        stub.SayHello(helloworld_pb2.HelloRequest(name=PROG), timeout=wait)
    except grpc.RpcError as err:
        detail = (err.details() or "").strip().splitlines()  # type: ignore[attr-defined]
        code = err.code().name  # type: ignore[attr-defined]
        return f"{code}: {detail[0][:200]}" if detail else code
    return "connected late"


def open_channels(target: str, count: int, lb: str, connect_timeout: float) -> list[grpc.Channel]:
    """``count`` channels to ``target``, each on its own TCP connection, all READY.

    Raises ProbeError when one is not ready within ``connect_timeout`` seconds (all connect at
    once, so that is the whole wait).
    """
    channels = [grpc.insecure_channel(target, options=channel_options(lb)) for _ in range(count)]
    ready = [grpc.channel_ready_future(channel) for channel in channels]
    deadline = time.monotonic() + connect_timeout
    for index, future in enumerate(ready):
        try:
            future.result(timeout=max(0.0, deadline - time.monotonic()))
        except grpc.FutureTimeoutError:
            why = _connect_error(channels[index], min(1.0, connect_timeout))
            for other in ready:
                other.cancel()
            for channel in channels:
                channel.close()
            where = f" (connection {index} of {count})" if index else ""
            raise ProbeError(f"cannot connect to {target} within {connect_timeout:g} s"
                             f"{where}: {why}") from None
    return channels


# ---------------------------------------------------------------------------- calls

def replica_of(metadata: Sequence[tuple[str, str | bytes]] | None, message: str) -> str | None:
    """The replica that answered: metadata ``hostname``, else ``Hello from <name>``."""
    for key, value in metadata or ():
        if key == "hostname":
            return value.decode() if isinstance(value, bytes) else value
    if message.startswith(_REPLY_PREFIX):
        return message[len(_REPLY_PREFIX):].strip() or None
    return None


def _call_loop(with_call: Callable, budget: Iterator[int], timeout: float, tally: Tally) -> None:
    """Make calls until the connection's shared budget is spent; one per thread in flight.

    Kept lean on purpose: this loop is the probe's per-call cost (bench/bench_probe.py).
    """
    request = helloworld_pb2.HelloRequest(name=PROG)
    replicas = tally.replicas
    failures = tally.failures
    latencies = tally.latencies_s.append
    clock = time.perf_counter
    for _ in budget:  # next() on a range iterator is atomic: the threads share it safely
        start = clock()
        try:
            reply, call = with_call(request, timeout=timeout)
        except grpc.RpcError as err:
            code = err.code()  # type: ignore[attr-defined]
            name = code.name if code is not None else "UNKNOWN"
            failures[name] = failures.get(name, 0) + 1
            continue
        latencies(clock() - start)
        replica = replica_of(call.initial_metadata(), reply.message)
        if replica is None:
            failures[UNIDENTIFIED] = failures.get(UNIDENTIFIED, 0) + 1
        else:
            replicas[replica] = replicas.get(replica, 0) + 1


def split_calls(calls: int, connections: int) -> list[int]:
    """Calls per connection: as even as can be, the first ones get the remainder."""
    base, extra = divmod(calls, connections)
    return [base + (1 if i < extra else 0) for i in range(connections)]


def run_calls(channels: Sequence[grpc.Channel], calls: int, concurrency: int,
              timeout: float) -> tuple[list[Tally], float]:
    """Send ``calls`` calls over ``channels``; returns one tally per channel and the seconds."""
    jobs: list[tuple[int, Tally, tuple]] = []
    for index, (channel, share) in enumerate(zip(channels, split_calls(calls, len(channels)),
                                                  strict=True)):
        with_call = helloworld_pb2_grpc.GreeterStub(channel).SayHello.with_call
        budget = iter(range(share))  # shared by the connection's workers
        for _ in range(min(concurrency, share)):
            tally = Tally()
            jobs.append((index, tally, (with_call, budget, timeout, tally)))

    errors: list[BaseException] = []

    def guarded(*args: object) -> None:
        try:
            _call_loop(*args)  # type: ignore[arg-type]
        except BaseException as err:  # a bug, not a failed call: re-raised in the caller
            errors.append(err)

    threads = [threading.Thread(target=guarded, args=args, name=f"probe-{index}", daemon=True)
               for index, _, args in jobs[1:]]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    # the calling thread is the first worker: with one connection and one call in flight the
    # probe is then a plain call loop, with no thread hand-off
    _call_loop(*jobs[0][2])
    for thread in threads:
        thread.join()
    duration = time.perf_counter() - start
    if errors:
        raise errors[0]
    tallies = [Tally() for _ in channels]
    for index, tally, _ in jobs:
        tallies[index].merge(tally)
    return tallies, duration


# ---------------------------------------------------------------------------- the probe

def build_result(options: ProbeOptions, verdict: Verdict, duration: float) -> dict:
    """The JSON document of the contract (schema grpclab.probe/v1)."""
    judged = verdict.to_dict()
    total = judged["totals"]["calls"]
    return {
        "schema": SCHEMA,
        "target": options.target,
        "lb_policy": options.lb,
        "parameters": {
            "calls": options.calls,
            "connections": options.connections,
            "concurrency": options.concurrency,
            "expect": options.expect,
            "replicas": options.replicas,
            "min_share": options.min_share,
            "max_error_rate": options.max_error_rate,
            "timeout": options.timeout,
            "connect_timeout": options.connect_timeout,
        },
        "expect": judged["expect"],
        "observed": judged["observed"],
        "passed": judged["passed"],
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
        "warnings": judged["warnings"],
        "versions": {
            "grpclab": grpclab.__version__,
            "grpcio": grpc.__version__,
            "python": platform.python_version(),
        },
    }


def probe(options: ProbeOptions) -> dict:
    """Validate, connect, call, judge: the result document. Raises ProbeError if it cannot."""
    options.validate()
    channels = open_channels(options.target, options.connections, options.lb,
                             options.connect_timeout)
    try:
        tallies, duration = run_calls(channels, options.calls, options.concurrency,
                                      options.timeout)
    finally:
        for channel in channels:
            channel.close()
    return build_result(options, judge(tallies, options.expectation), duration)


# ---------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog=PROG,
        description="Probe a gRPC Greeter target over several TCP connections and tell whether "
        "calls are balanced per request (spread) or per connection (pinned). Exit 0 when the "
        "verdict matches --expect, 1 when it does not, 2 when the probe cannot run.",
    )
    add = parser.add_argument
    add("--target", required=True,
        help="gRPC target: host:port, dns:///host:port, ipv4:a:p,b:p,... or ipv6:[a]:p,...")
    add("--calls", type=int, default=400, help="calls in total (default: %(default)s)")
    add("--connections", type=int, default=4,
        help="distinct TCP connections the calls are spread over (default: %(default)s)")
    add("--concurrency", type=int, default=1,
        help="calls in flight per connection (default: %(default)s)")
    add("--expect", choices=EXPECTATIONS, default=NONE,
        help="spread: every connection reaches every replica; pinned: every connection stays "
        "on one replica; none: report only (default: %(default)s)")
    add("--replicas", type=int, default=None,
        help="replicas expected (default: the distinct replicas seen, with a warning)")
    add("--min-share", type=float, default=0.5,
        help="spread: least share of its fair share each replica must get, 0-1 "
        "(default: %(default)s)")
    add("--max-error-rate", type=float, default=0.0,
        help="largest fraction of failed calls the verdict accepts, 0-1 (default: %(default)s)")
    add("--timeout", type=float, default=5.0,
        help="deadline of each call, seconds (default: %(default)s)")
    add("--connect-timeout", type=float, default=5.0,
        help="deadline for every connection to be ready, seconds (default: %(default)s)")
    add("--lb", choices=LB_POLICIES, default="pick_first",
        help="the channel's own load-balancing policy; round_robin spreads over the addresses "
        "of an ipv4: or dns:/// target (default: %(default)s)")
    add("--json", action="store_true", help="print one JSON document instead of the table")
    add("--report", metavar="DIR", default=None,
        help="also write a report folder DIR/<UTC timestamp>/ (report.json, .md, .png, .html) "
        "with grpclab.report, the compare playbook's report of this one run")
    return parser


def parse_options(argv: Sequence[str] | None = None) -> ProbeOptions:
    args = build_parser().parse_args(argv)
    options = ProbeOptions(
        target=args.target, calls=args.calls, connections=args.connections,
        concurrency=args.concurrency, expect=args.expect, replicas=args.replicas,
        min_share=args.min_share, max_error_rate=args.max_error_rate, timeout=args.timeout,
        connect_timeout=args.connect_timeout, lb=args.lb, json=args.json, report=args.report,
    )
    options.validate()
    return options


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = parse_options(argv)
        result = probe(options)
    except ProbeError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: error: interrupted", file=sys.stderr)
        return 2
    if options.report is not None:
        from grpclab.report import write_probe_report  # matplotlib: only when asked for

        try:
            folder = write_probe_report(result, options.report)
        except (OSError, ValueError) as err:
            print(f"{PROG}: error: cannot write the report: {err}", file=sys.stderr)
            return 2
    print(json.dumps(result, indent=2) if options.json else render_table(result))
    if options.report is not None:  # stdout stays one JSON document with --json
        print(f"report: {folder}", file=sys.stderr if options.json else sys.stdout)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
