"""The human table rendered from result dicts (synthetic tallies, no network)."""

from __future__ import annotations

import json

from grpclab.probe import ProbeOptions, build_result
from grpclab.table import BAR_WIDTH, render_table
from grpclab.verdict import Tally, judge


def result_of(tallies: list[Tally], **options: object) -> dict:
    opts = ProbeOptions(target="127.0.2.102:50051", calls=sum(t.calls for t in tallies),
                        connections=len(tallies), **options)  # type: ignore[arg-type]
    # through JSON, as the Ansible filter gets it on the controller
    return json.loads(json.dumps(build_result(opts, judge(tallies, opts.expectation), 0.5)))


def test_spread_table_has_rows_bars_connections_and_verdict():
    tallies = [Tally({"replica-1": 34, "replica-2": 33, "replica-3": 33}, {}, [0.001] * 100)
               for _ in range(4)]
    text = render_table(result_of(tallies, expect="spread", replicas=3))
    lines = text.splitlines()
    assert lines[0].startswith("target       127.0.2.102:50051  (lb pick_first, 4 connections")
    row = next(line for line in lines if line.startswith("replica-1"))
    assert row.split()[:3] == ["replica-1", "136", "0.340"]
    assert row.endswith("#" * round(0.34 * BAR_WIDTH))
    assert "(expected 3 replicas; fair share 0.333)" in lines
    assert any(line.split()[:3] == ["3", "100", "0"] and "replica-3 33" in line
               for line in lines)
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
