"""The monitor's pure parts: its metrics on judged windows (bounded labels), its one-line state
log, its option checks; the dashboard and the rules name only metrics the monitor serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest

from grpclab.probe import cli
from grpclab.probe.metrics import STALE_WINDOWS, WatchMetrics
from grpclab.probe.model import Expectation, Tally
from grpclab.probe.options import ProbeError, parse_options
from grpclab.probe.verdict import judge
from grpclab.probe.watch import FailureState, checked

ROOT = Path(__file__).resolve().parents[2]


def _window(metrics: WatchMetrics, per_connection: list[dict[str, int]]) -> list[str]:
    """Count the calls as the monitor does, then judge the window; the replicas removed."""
    tallies = []
    for replicas in per_connection:
        for name, count in replicas.items():
            for _ in range(count):
                metrics.call(name, "OK", 0.002)
        tallies.append(Tally(replicas=dict(replicas), latencies_s=[0.002] * sum(replicas.values())))
    return metrics.judged(judge(tallies, Expectation("spread", replicas=3)), tallies)


def _samples(metrics: WatchMetrics) -> dict[str, float]:
    text = generate_latest(metrics.registry).decode()
    return {
        key: float(value)
        for key, _, value in (line.rpartition(" ") for line in text.splitlines())
        if key.startswith("grpclab_probe_")
    }


SPREAD = [{"a": 10, "b": 10, "c": 10}] * 2
PINNED = [{"a": 30}, {"b": 30}]


def test_a_spread_window_meets_spread() -> None:
    metrics = WatchMetrics("spread", 30, 0.5, 0.0, 2)
    assert _window(metrics, SPREAD) == []
    got = _samples(metrics)
    assert got['grpclab_probe_verdict{expect="spread"}'] == 1
    assert got['grpclab_probe_verdict_unmet_windows{expect="spread"}'] == 0
    assert got['grpclab_probe_connection_replicas{connection="0"}'] == 3
    assert got["grpclab_probe_replicas_seen"] == 3
    assert got["grpclab_probe_jain_index"] == 1
    assert got['grpclab_probe_replica_fair_share{replica="a"}'] == pytest.approx(1, abs=1e-3)
    assert got['grpclab_probe_calls_total{code="OK",replica="a"}'] == 20
    assert got["grpclab_probe_latency_seconds_count"] == 60
    assert got["grpclab_probe_window_seconds"] == 30
    assert not any(key.endswith("_created") for key in got)


def test_pinned_windows_count_up_and_a_met_one_resets() -> None:
    metrics = WatchMetrics("spread", 30, 0.5, 0.0, 2)
    for expected in (1, 2, 3):
        _window(metrics, PINNED)
        got = _samples(metrics)
        assert got['grpclab_probe_verdict{expect="spread"}'] == 0
        assert got['grpclab_probe_verdict_unmet_windows{expect="spread"}'] == expected
    assert got['grpclab_probe_connection_replicas{connection="1"}'] == 1
    # c got nothing: a replica the monitor never saw has no series (it cannot name it)
    assert 'grpclab_probe_replica_fair_share{replica="c"}' not in got
    _window(metrics, SPREAD)
    assert _samples(metrics)['grpclab_probe_verdict_unmet_windows{expect="spread"}'] == 0


def test_a_replica_silent_for_several_windows_leaves_the_metrics() -> None:
    metrics = WatchMetrics("spread", 30, 0.5, 0.0, 2)
    _window(metrics, SPREAD)
    after = [{"a": 15, "b": 15}] * 2  # c is gone (scaled in, deleted)
    for _ in range(1, STALE_WINDOWS):
        assert _window(metrics, after) == []
        got = _samples(metrics)
        assert got['grpclab_probe_replica_fair_share{replica="c"}'] == 0  # starved, still known
        assert got['grpclab_probe_calls_total{code="OK",replica="c"}'] == 20
    assert _window(metrics, after) == ["c"]
    assert not [key for key in _samples(metrics) if 'replica="c"' in key]


def test_failures_count_under_no_replica_without_latency() -> None:
    metrics = WatchMetrics("none", 30, 0.5, 0.0, 1)
    for _ in range(5):
        metrics.call(None, "UNAVAILABLE", None)
    got = _samples(metrics)
    assert got['grpclab_probe_calls_total{code="UNAVAILABLE",replica=""}'] == 5
    assert got["grpclab_probe_latency_seconds_count"] == 0


def test_the_failure_log_is_one_line_per_change() -> None:
    lines: list[str] = []
    state = FailureState("t:1", lines.append)
    for second in (["OK"] * 3, ["UNAVAILABLE"] * 40, ["UNAVAILABLE"] * 40, [], ["OK"] * 40):
        for code in second:
            state.count(code)
        state.tick()
    assert len(lines) == 2, lines
    assert lines[0] == "calls to t:1 failing: 40 of 40 in the last second (UNAVAILABLE 40)"
    assert lines[1].startswith("calls to t:1 succeed again, after ")


BAD_FLAGS = [
    (["--calls", "10"], "--calls does not apply to --watch (it runs until stopped)"),
    (["--json"], "--json does not apply to --watch (it runs until stopped)"),
    (["--window", "0.5"], "--window must be 1 to 86400 seconds, not 0.5"),
    (
        ["--rate", "0"],
        "--rate must be a positive number of calls per second, at most 10000, not 0",
    ),
    (
        ["--rate", "1", "--window", "2"],
        "--rate x --window makes 2 calls a window, fewer than --connections 4",
    ),
    (
        ["--duration", "5"],
        "--duration must be at least --window (30 s) and at most 86400 s, not 5",
    ),
    (
        ["--metrics-address", "9102"],
        "--metrics-address must be HOST:PORT (port 1-65535), not '9102'",
    ),
    (["--metrics-address", "h:0"], "--metrics-address must be HOST:PORT (port 1-65535), not 'h:0'"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_FLAGS)
def test_bad_watch_flags_are_one_line_and_exit_2(argv, message, capsys) -> None:
    base = ["--target", "127.0.63.1:1", "--watch"]
    with pytest.raises(ProbeError, match=re.escape(message)):
        checked(parse_options([*base, *argv]))
    assert cli.main([*base, *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"grpclab-probe: error: {message}"]
    assert captured.out == ""


def test_watch_takes_a_default_rate_and_a_duration_without_rate() -> None:
    options = checked(parse_options(["--target", "h:1", "--watch", "--duration", "60"]))
    assert options.rate == 10.0 and options.duration == 60.0 and options.window == 30.0


def _served() -> set[str]:
    metrics = WatchMetrics("spread", 30, 0.5, 0.0, 1)
    _window(metrics, [{"a": 3}])
    metrics.call(None, "UNAVAILABLE", None)
    names = set()
    for key in _samples(metrics):
        names.add(key.split("{")[0])
    return names


def test_every_dashboard_and_rule_metric_is_one_the_monitor_serves() -> None:
    served = _served() | {"up"}
    board = json.loads((ROOT / "monitoring" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    rules = yaml.safe_load((ROOT / "monitoring" / "alerts.yml").read_text())["groups"][0]["rules"]
    exprs += [rule["expr"] for rule in rules]
    assert {rule["alert"] for rule in rules} == {
        "GrpcTrafficPinned", "GrpcReplicaStarved", "GrpcProbeFailing", "GrpcProbeDown",
    }  # fmt: skip
    for expr in exprs:
        for name in re.findall(r"\b(grpclab_probe_\w+|up)\b", expr):
            assert name in served, f"{name} in {expr!r} is not served"
    for rule in rules:
        # what to check, as troubleshooting.md says it: a command or a thing to look at
        assert rule["annotations"]["summary"]
        assert re.search(r"\bcheck\b|kubectl", rule["annotations"]["description"], re.I)
