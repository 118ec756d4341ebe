"""The probe over time, its pure parts: a timeline built from synthetic records, and the paced
options it refuses (against real servers: tests/integration/test_probe_timeline.py)."""

from __future__ import annotations

import pytest

from grpclab.probe import cli as probe
from grpclab.probe import timeline
from grpclab.probe.timeline import PacedRun

# ---------------------------------------------------------------------------- pure parts


def test_timeline_of_synthetic_records():
    records = [
        (0.0, 0, "a", "OK", 0.001),
        (0.5, 1, "b", "OK", 0.002),
        (1.0, 0, "a", "OK", 0.001),
        (1.2, 0, None, "UNAVAILABLE", 0.003),
        (1.5, 0, "b", "OK", 0.001),
        (2.5, 1, "b", "OK", 0.001),
    ]
    run = PacedRun(
        records=list(reversed(records)), start_unix=100.0, sent_span_s=3.0, max_lag_s=0.0, sent=6
    )
    tl = timeline.build_timeline(run, rate=2.0, duration=3.0, connections=2)
    assert tl["calls"][3] == [1.2, 0, None, "UNAVAILABLE", None]
    assert tl["per_second"] == [
        {"t": 0, "calls": 2, "replicas": {"a": 1, "b": 1}, "failed": 0, "failures": {}},
        {
            "t": 1,
            "calls": 3,
            "replicas": {"a": 1, "b": 1},
            "failed": 1,
            "failures": {"UNAVAILABLE": 1},
        },
        {"t": 2, "calls": 1, "replicas": {"b": 1}, "failed": 0, "failures": {}},
    ]
    assert tl["connections"][0] == {
        "index": 0,
        "replicas": ["a", "b"],
        "segments": [
            {"replica": "a", "from_s": 0.0, "to_s": 1.0, "calls": 2},
            {"replica": "b", "from_s": 1.5, "to_s": 1.5, "calls": 1},
        ],
    }
    assert tl["achieved_rate"] == 2.0 and tl["max_in_flight"] == 1
    tallies = timeline.tallies_of(records, 2)
    assert tallies[0].replicas == {"a": 2, "b": 1} and tallies[0].failures == {"UNAVAILABLE": 1}
    assert tallies[1].replicas == {"b": 2} and len(tallies[0].latencies_s) == 3


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--duration", "5", "--rate", "10", "--calls", "100"],
            "--duration and --calls are two modes",
        ),
        (["--duration", "5"], "--duration and --rate go together"),
        (["--rate", "5"], "--duration and --rate go together"),
        (["--duration", "5", "--rate", "10", "--concurrency", "2"], "--concurrency does not apply"),
        (["--duration", "0", "--rate", "10"], "--duration must be a positive number of seconds"),
        (["--duration", "1e9", "--rate", "10"], "at most 86400"),
        (["--duration", "5", "--rate", "nan"], "--rate must be a positive number of calls"),
        (["--duration", "5", "--rate", "1e6"], "at most 10000"),
        (["--duration", "1", "--rate", "2"], "makes 2 calls, fewer than --connections 4"),
        (["--duration", "86400", "--rate", "100"], "more than 1000000 (every call is recorded)"),
    ],
)
def test_bad_paced_arguments_are_one_line_exit_2(capsys, args, message):
    status = probe.main(["--target", "127.0.0.1:50051", *args])
    out, err = capsys.readouterr()
    assert (status, out) == (2, "")
    assert err.startswith("grpclab-probe: error: ") and err.count("\n") == 1 and message in err


def test_help_names_the_paced_options(capsys):
    with pytest.raises(SystemExit):
        probe.main(["--help"])
    out = capsys.readouterr().out
    assert "--duration S" in out and "--rate R" in out
