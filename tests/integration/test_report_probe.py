"""Reports from real probe results: real Greeter servers behind a real Envoy
(tests/integration/conftest.py).

They bind the lab's addresses: run under the lab lock,
``flock /tmp/grpclab-net.lock python -m pytest tests/integration/test_report_probe.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from report_helpers import md_verdicts, png_size

from grpclab import report
from grpclab.probe.cli import probe
from grpclab.probe.options import ProbeOptions

# scenario, probe target key, expectation, --lb, path of the calls
PATHS = [
    ("l4-proxy", "l4", "pinned", "pick_first", "Envoy tcp_proxy RANDOM (per connection)"),
    ("l7-proxy", "l7", "spread", "pick_first", "Envoy HTTP/2 ROUND_ROBIN (per request)"),
    ("direct", "direct", "pinned", "pick_first", "one replica, no proxy"),
    ("client-side", "client_side", "spread", "round_robin", "ipv4: list, client round_robin"),
]


@pytest.fixture(scope="module")
def real_results(probe_targets: dict[str, str]) -> dict[str, dict]:
    """One real probe result per path, each expecting what that path does."""
    results = {}
    for scenario, key, expect, lb, _ in PATHS:
        options = ProbeOptions(
            target=probe_targets[key], calls=120, connections=4, expect=expect, replicas=3, lb=lb
        )
        results[scenario] = probe(options)
    return results


def test_real_probe_results_validate_against_the_probe_schema(real_results):
    schema = report.load_schema("probe-result")
    for result in real_results.values():
        jsonschema.validate(result, schema)


def test_report_of_four_real_paths(real_results, tmp_path):
    entries = [
        {"scenario": s, "promise": e, "path": p, "platform": "test", "result": real_results[s]}
        for s, _, e, _, p in PATHS
    ]
    folder, document = report.write_report(entries, tmp_path)
    jsonschema.validate(json.loads((folder / "report.json").read_text()), report.load_schema())
    assert document["passed"] is True, report.markdown_table(document)
    reached = {d["scenario"]: d["replicas_reached_per_connection"] for d in document["scenarios"]}
    assert reached["l4-proxy"] == [1, 1, 1, 1]
    assert reached["l7-proxy"] == [3, 3, 3, 3]
    assert reached["client-side"] == [3, 3, 3, 3]
    assert md_verdicts((folder / "report.md").read_text()) == dict.fromkeys(reached, "PASS")
    assert png_size((folder / "report.png").read_bytes()) == report.figure_size_px(4)


def test_a_real_broken_promise_is_reported_failed(real_results, tmp_path):
    entry = {"scenario": "l4-proxy", "promise": "spread", "result": real_results["l4-proxy"]}
    folder, document = report.write_report([entry], tmp_path)
    assert document["failed_scenarios"] == ["l4-proxy"]
    assert md_verdicts((folder / "report.md").read_text()) == {"l4-proxy": "FAIL"}


@pytest.mark.parametrize(("key", "expect", "status"), [("l7", "spread", 0), ("l4", "spread", 1)])
def test_probe_report_option_writes_the_folder(
    probe_targets, run_probe_cli, tmp_path, key, expect, status
):
    """grpclab-probe --json --report DIR: stdout stays one JSON document; the folder is written."""
    done = run_probe_cli(
        "--target", probe_targets[key], "--calls", "240", "--expect", expect,
        "--replicas", "3", "--json", "--report", str(tmp_path / "reports"),
    )  # fmt: skip
    assert done.returncode == status, done.stderr
    result = json.loads(done.stdout)
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("report: ")
    folder = Path(line.removeprefix("report: "))
    assert folder.parent == tmp_path / "reports"
    assert sorted(p.name for p in folder.iterdir()) == sorted(report.FILES)
    document = json.loads((folder / "report.json").read_text())
    jsonschema.validate(document, report.load_schema())
    assert document["scenarios"][0]["result"] == result
    assert document["passed"] is (status == 0)
    assert png_size((folder / "report.png").read_bytes()) == report.figure_size_px(1)


def test_probe_report_option_prints_the_path_after_the_table(
    probe_targets, run_probe_cli, tmp_path
):
    done = run_probe_cli(
        "--target", probe_targets["l7"], "--calls", "40", "--report", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("report: ") and Path(last.removeprefix("report: ")).is_dir()


def test_probe_report_to_an_unwritable_place_is_one_line_and_exit_2(
    probe_targets, run_probe_cli, tmp_path
):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = run_probe_cli(
        "--target", probe_targets["direct"], "--calls", "8", "--json", "--report", str(blocker),
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("grpclab-probe: error: cannot write the report: ")
    assert done.stderr.count("\n") == 1
