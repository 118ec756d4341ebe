"""The human table rendered from result dicts (synthetic tallies, no network)."""

from __future__ import annotations

import json

from grpclab.probe.cli import build_result
from grpclab.probe.model import Tally
from grpclab.probe.options import ProbeOptions
from grpclab.probe.table import BAR_WIDTH, render_table
from grpclab.probe.timeline import PacedRun, build_timeline, tallies_of
from grpclab.probe.verdict import judge


def result_of(tallies: list[Tally], **options: object) -> dict:
    opts = ProbeOptions(
        target="127.0.2.102:50051",
        calls=sum(t.calls for t in tallies),
        connections=len(tallies),
        **options,
    )  # type: ignore[arg-type]
    # through JSON, as the Ansible filter gets it on the controller
    return json.loads(json.dumps(build_result(opts, judge(tallies, opts.expectation), 0.5)))


def test_spread_table_has_rows_bars_connections_and_verdict():
    tallies = [
        Tally({"replica-1": 34, "replica-2": 33, "replica-3": 33}, {}, [0.001] * 100)
        for _ in range(4)
    ]
    text = render_table(result_of(tallies, expect="spread", replicas=3))
    lines = text.splitlines()
    assert lines[0].startswith("target       127.0.2.102:50051  (lb pick_first, 4 connections")
    row = next(line for line in lines if line.startswith("replica-1"))
    assert row.split()[:3] == ["replica-1", "136", "0.340"]
    assert row.endswith("#" * round(0.34 * BAR_WIDTH))
    assert "(expected 3 replicas; fair share 0.333)" in lines
    assert any(line.split()[:3] == ["3", "100", "0"] and "replica-3 33" in line for line in lines)
    assert "latency ms   p50 1.000  p90 1.000  p99 1.000  max 1.000" in lines
    assert "throughput   800.0 calls/s over 0.500 s" in lines
    assert "failures     none" in lines
    assert lines[-1] == "verdict      PASS: expected spread, observed spread"
    assert "summary      each of 4 connections reached all 3 replicas" in text


def test_failed_table_lists_failures_warnings_and_reasons():
    tallies = [Tally({"a": 90}, {"UNAVAILABLE": 10}, [0.002] * 90)]
    text = render_table(result_of(tallies, expect="spread"))
    assert "failures     10 of 100: UNAVAILABLE 10" in text
    assert "warnings     - --replicas not given" in text
    assert "verdict      FAIL: expected spread, observed pinned" in text
    assert "             - error rate 0.100 (10 of 100 calls) above --max-error-rate 0" in text


def test_nothing_answered_still_renders():
    tallies = [Tally({}, {"UNAVAILABLE": 5}, [])]
    text = render_table(result_of(tallies, expect="pinned"))
    assert "replica      none answered" in text
    assert "latency ms   p50 -  p90 -  p99 -  max -" in text
    assert "fairness     Jain index -" in text


def test_the_calls_line_says_how_many_and_why():
    tallies = [Tally({"replica-1": 50, "replica-2": 50}, {}, [0.001] * 100) for _ in range(4)]
    text = render_table(result_of(tallies, expect="spread", replicas=2))
    assert "calls        400 (--calls 400 given: at least 100 per connection)" in text.splitlines()


def test_cannot_judge_is_its_own_verdict_line():
    tallies = [Tally({f"r{i}": 1 for i in range(3)}, {}, [0.001] * 3) for _ in range(4)]
    result = result_of(tallies, expect="spread", replicas=32)
    assert result["cannot_judge"] and not result["passed"]
    text = render_table(result)
    assert "verdict      CANNOT JUDGE: expected spread, observed spread" in text.splitlines()
    assert (
        "calls        12 (--calls 12 given: at least 3 per connection; per-request balancing "
        "would fail spread by chance up to 1 with 32 replicas)" in text
    )


def _timeline_result(seconds: int, replicas: int) -> dict:
    records = [(t / 10, t % 2, f"r{t % replicas:02d}", "OK", 0.001) for t in range(seconds * 10)]
    run = PacedRun(
        records=records,
        start_unix=0.0,
        sent_span_s=float(seconds),
        max_lag_s=0.0,
        sent=len(records),
    )
    tl = build_timeline(run, rate=10.0, duration=float(seconds), connections=2)
    result = result_of(tallies_of(records, 2))
    result.update(schema="grpclab.probe/v2", timeline=tl)
    return json.loads(json.dumps(result))


def test_a_long_timeline_with_many_replicas_stays_compact():
    text = render_table(_timeline_result(seconds=90, replicas=12))
    lines = text.splitlines()
    assert "second  calls  failed  replicas reached" in lines  # 12 replica columns: too wide
    rows = [line for line in lines if line.strip().startswith(("0-2 ", "87-89 "))]
    assert [row.split() for row in rows] == [["0-2", "30", "0", "12"], ["87-89", "30", "0", "12"]]
    assert "         0  450 segments over 6 replicas (a change every 1.0 calls)" in lines


def test_a_pinned_timeline_lists_its_segments():
    text = render_table(_timeline_result(seconds=3, replicas=1))
    assert "         0  r00 0.0-2.8 (15)" in text.splitlines()
    assert "second  calls  failed  r00" in text.splitlines()
