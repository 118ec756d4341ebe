"""grpclab.report on synthetic probe results: the four files, the schema, the picture, the page."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from report_helpers import md_table, md_verdicts, png_size

from grpclab import report

NAMES = ["grpc-server-7d9f8-k2x4p", "grpc-server-7d9f8-m8q1z", "grpc-server-7d9f8-t5w9c"]
WHEN = datetime(2026, 5, 29, 7, 45, 12, tzinfo=UTC)


def probe_result(
    expect: str,
    tallies: list[dict[str, int]],
    *,
    expected_replicas: int = 3,
    failed: list[int] | None = None,
    target: str = "127.0.2.1:50051",
    lb_policy: str = "pick_first",
) -> dict[str, Any]:
    """A grpclab.probe/v1 document from per-connection tallies, as the probe would print it."""
    failed = failed or [0] * len(tallies)
    per_replica: dict[str, int] = {}
    for tally in tallies:
        for name, calls in tally.items():
            per_replica[name] = per_replica.get(name, 0) + calls
    ok = sum(per_replica.values())
    total = ok + sum(failed)
    reached = [sum(1 for v in t.values() if v) for t in tallies]
    if ok == 0:
        observed = "failed"
    elif all(n == 1 for n in reached):
        observed = "pinned"
    elif all(n == expected_replicas for n in reached):
        observed = "spread"
    else:
        observed = "mixed"
    counts = list(per_replica.values()) + [0] * (expected_replicas - len(per_replica))
    jain = (sum(counts) ** 2 / (len(counts) * sum(c * c for c in counts))) if ok else None
    return {
        "schema": "grpclab.probe/v1",
        "target": target,
        "lb_policy": lb_policy,
        "parameters": {
            "calls": total,
            "connections": len(tallies),
            "concurrency": 1,
            "expect": expect,
            "replicas": expected_replicas,
            "min_share": 0.5,
            "max_error_rate": 0.0,
            "timeout": 5.0,
        },
        "expect": expect,
        "observed": observed,
        "passed": observed == expect and not any(failed),
        "summary": f"synthetic: observed {observed}; expected {expect}",
        "expected_replicas": expected_replicas,
        "replicas_assumed": False,
        "replicas": [
            {"name": n, "calls": c, "share": round(c / ok, 3)}
            for n, c in sorted(per_replica.items())
        ],
        "connections": [
            {
                "index": i,
                "calls": sum(t.values()) + failed[i],
                "failed": failed[i],
                "replicas": dict(sorted(t.items())),
            }
            for i, t in enumerate(tallies)
        ],
        "jain_index": None if jain is None else round(jain, 3),
        "latency_ms": {"p50": 0.61, "p90": 0.9, "p99": 1.84, "max": 3.2}
        if ok
        else {"p50": None, "p90": None, "p99": None, "max": None},
        "calls_per_second": 812.3 if ok else None,
        "duration_s": 0.49,
        "totals": {"calls": total, "ok": ok, "failed": sum(failed)},
        "failures": {"UNAVAILABLE": sum(failed)} if any(failed) else {},
        "warnings": [],
        "versions": {"grpclab": "0.1.0", "grpcio": "1.85.3"},
    }


def spread_tallies(connections: int = 4, per: int = 100) -> list[dict[str, int]]:
    return [
        {n: per // 3 + (1 if i < per % 3 else 0) for i, n in enumerate(NAMES)}
        for _ in range(connections)
    ]


def pinned_tallies(choice: list[int], per: int = 100) -> list[dict[str, int]]:
    return [{NAMES[c]: per} for c in choice]


def four_scenarios(cilium_l7: bool = True) -> list[dict[str, Any]]:
    """The compare play's four scenarios; cilium_l7=False pins cilium (its verdict fails)."""
    lab = {"envoy": "1.40.0"}
    cilium = pinned_tallies([1, 1, 0, 2]) if not cilium_l7 else spread_tallies()
    return [
        {
            "scenario": "baseline",
            "platform": "lab",
            "cluster": "grpclab-baseline",
            "path": "ClusterIP grpc-server, per connection (kube-proxy)",
            "promise": "pinned",
            "versions": lab,
            "result": probe_result(
                "pinned", pinned_tallies([0, 2, 2, 1]), target="127.0.4.1:50051"
            ),
        },
        {
            "scenario": "cilium",
            "platform": "lab",
            "cluster": "grpclab-cilium",
            "path": "ClusterIP grpc-server, lb-l7 Envoy round_robin",
            "promise": "spread",
            "versions": lab,
            "result": probe_result("spread", cilium),
        },
        {
            "scenario": "cilium-l4",
            "platform": "lab",
            "cluster": "grpclab-cilium",
            "path": "ClusterIP grpc-server-l4, per connection (Cilium)",
            "promise": "pinned",
            "versions": lab,
            "result": probe_result(
                "pinned", pinned_tallies([2, 0, 1, 1]), target="127.0.2.2:50051"
            ),
        },
        {
            "scenario": "client-side",
            "platform": "lab",
            "cluster": "grpclab-cilium",
            "path": "headless grpc-server-headless, client round_robin",
            "promise": "spread",
            "versions": lab,
            "result": probe_result(
                "spread",
                spread_tallies(),
                lb_policy="round_robin",
                target="ipv4:127.0.1.1:50051,127.0.1.2:50051,127.0.1.3:50051",
            ),
        },
    ]


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    return report.write_report(four_scenarios(), tmp_path / "reports", now=WHEN)


def test_writes_four_files_in_a_timestamped_folder(written, tmp_path):
    folder, _ = written
    assert folder == tmp_path / "reports" / "20260529T074512Z"
    assert sorted(p.name for p in folder.iterdir()) == sorted(report.FILES)


def test_a_second_report_of_the_same_second_gets_its_own_folder(written, tmp_path):
    again, _ = report.write_report(four_scenarios(), tmp_path / "reports", now=WHEN)
    assert again == tmp_path / "reports" / "20260529T074512Z-2"
    assert written[0].is_dir()


def test_report_json_validates_and_carries_every_result(written):
    folder, document = written
    on_disk = json.loads((folder / "report.json").read_text())
    assert on_disk == document
    jsonschema.validate(on_disk, report.load_schema("report"))
    assert on_disk["passed"] is True and on_disk["failed_scenarios"] == []
    assert [s["scenario"] for s in on_disk["scenarios"]] == [
        "baseline",
        "cilium",
        "cilium-l4",
        "client-side",
    ]
    cilium = on_disk["scenarios"][1]
    assert cilium["result"]["schema"] == "grpclab.probe/v1"
    assert cilium["parameters"]["calls"] == 400
    assert cilium["replicas_reached_per_connection"] == [3, 3, 3, 3]
    assert on_disk["scenarios"][0]["replicas_reached_per_connection"] == [1, 1, 1, 1]
    assert on_disk["versions"]["grpcio"] == "1.85.3"
    assert on_disk["versions"]["envoy"] == "1.40.0"
    assert on_disk["versions"]["platform"] == "lab"


def test_every_synthetic_result_validates_as_a_probe_result():
    schema = report.load_schema("probe-result")
    for entry in four_scenarios():
        jsonschema.validate(entry["result"], schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"schema": "grpclab.probe/v1"}, schema)


def test_markdown_table_has_one_row_per_scenario_with_the_json_verdicts(written):
    folder, document = written
    markdown = (folder / "report.md").read_text()
    assert md_verdicts(markdown) == {
        s["scenario"]: s["verdict"].upper() for s in document["scenarios"]
    }
    rows = {row["scenario"]: row for row in md_table(markdown)}
    assert list(rows["`cilium`"]) == list(report.TABLE_HEADER)
    assert rows["`cilium`"]["replicas reached per connection"] == "3 · 3 · 3 · 3 of 3"
    assert rows["`cilium`"]["share per replica"] == "k2x4p 34% · m8q1z 33% · t5w9c 33%"
    assert rows["`cilium`"]["calls/s"] == "812"
    assert rows["`baseline`"]["replicas reached per connection"] == "1 · 1 · 1 · 1 of 3"
    widths = {len(line) for line in markdown.splitlines() if line.startswith("| ")}
    assert len(widths) == 1, "the table's columns are aligned"


def test_png_is_a_real_png_of_the_documented_size(written):
    folder, _ = written
    data = (folder / "report.png").read_bytes()
    assert png_size(data) == report.figure_size_px(4) == (1600, 1455)


def test_png_is_deterministic(written):
    folder, document = written
    assert report.render_png(document) == (folder / "report.png").read_bytes()


def test_html_is_self_contained(written):
    folder, _ = written
    page = (folder / "report.html").read_text()
    assert not re.search(r"(?i)\b(?:https?|ftp|wss?):|//[a-z0-9.-]+\.[a-z]{2,}/", page)
    assert not re.search(r"(?i)<(?:script|link|iframe|object|embed)\b", page)
    assert not re.search(r"(?i)url\(", page)
    assert len(re.findall(r'<tr class="(?:pass|fail|error) scenario"', page)) == 4
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 1
    import base64

    assert base64.b64decode(images[0]) == (folder / "report.png").read_bytes()


def test_a_broken_promise_is_marked_failed_everywhere(tmp_path):
    folder, document = report.write_report(four_scenarios(cilium_l7=False), tmp_path, now=WHEN)
    jsonschema.validate(document, report.load_schema("report"))
    assert document["passed"] is False
    assert document["failed_scenarios"] == ["cilium"]
    cilium = document["scenarios"][1]
    assert (cilium["verdict"], cilium["observed"], cilium["passed"]) == ("fail", "pinned", False)
    markdown = (folder / "report.md").read_text()
    assert md_verdicts(markdown)["cilium"] == "FAIL"
    assert "**FAIL: pinned, expected spread**" in markdown
    assert "1 of 4 scenarios did NOT keep their promise: cilium." in markdown
    page = (folder / "report.html").read_text()
    assert '<tr class="fail scenario" data-scenario="cilium" data-verdict="fail">' in page
    assert 'class="overall fail"' in page


def test_a_result_passing_another_expectation_does_not_pass_the_promise():
    entry = four_scenarios()[0]
    entry["promise"] = "spread"  # the probe ran with expect pinned and passed: not the promise
    document = report.build_report([entry], generated_at=WHEN)
    assert document["scenarios"][0]["verdict"] == "fail"


def test_a_scenario_that_could_not_be_probed_is_an_error_row(tmp_path):
    entries = four_scenarios()
    entries[3] = {
        "scenario": "client-side",
        "platform": "lab",
        "promise": "spread",
        "path": "headless",
        "result": None,
        "error": "grpclab-probe: error: target 127.0.1.9:50051 unreachable",
    }
    folder, document = report.write_report(entries, tmp_path, now=WHEN)
    jsonschema.validate(document, report.load_schema("report"))
    assert document["scenarios"][3]["verdict"] == "error"
    assert document["failed_scenarios"] == ["client-side"]
    assert md_verdicts((folder / "report.md").read_text())["client-side"] == "ERROR"
    assert png_size((folder / "report.png").read_bytes()) == report.figure_size_px(4)


def test_failed_calls_and_a_missing_replica_still_render(tmp_path):
    tallies = spread_tallies()
    del tallies[2][NAMES[1]]
    result = probe_result("spread", tallies, failed=[0, 0, 3, 0])
    entry = {"scenario": "cilium", "promise": "spread", "result": result, "path": "L7"}
    folder, document = report.write_report([entry], tmp_path, now=WHEN)
    jsonschema.validate(document, report.load_schema("report"))
    doc = document["scenarios"][0]
    assert doc["verdict"] == "fail"
    assert doc["replicas_reached_per_connection"] == [3, 3, 2, 3]
    assert png_size((folder / "report.png").read_bytes()) == report.figure_size_px(1)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], "no scenario"),
        ([{"promise": "spread", "result": None, "error": "x"}], "lacks scenario"),
        ([{"scenario": "a", "promise": "spread"}], "neither a result nor an error"),
        ([{"scenario": "a", "promise": "spread", "result": {"schema": "other"}}], "schema"),
        ([{"scenario": "a", "promise": "spread", "error": "x"}] * 2, "unique"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(entries, message):
    with pytest.raises(report.ReportError, match=message):
        report.build_report(entries)


def test_short_names_drop_the_shared_prefix():
    assert report.short_names(NAMES) == {n: n.rsplit("-", 1)[1] for n in NAMES}
    assert report.short_names(["grpc-server-7d9f8-k2x4p"]) == {"grpc-server-7d9f8-k2x4p": "k2x4p"}
    assert report.short_names(["server-a", "server-ab"]) == {"server-a": "a", "server-ab": "ab"}


def test_probe_report_of_one_result(tmp_path):
    result = four_scenarios()[1]["result"]
    folder = report.write_probe_report(result, tmp_path)
    assert folder.parent == tmp_path
    document = json.loads((folder / "report.json").read_text())
    jsonschema.validate(document, report.load_schema("report"))
    assert document["title"] == "grpclab probe of 127.0.2.1:50051"
    assert [s["scenario"] for s in document["scenarios"]] == ["probe"]
    assert document["scenarios"][0]["promise"] == "spread"
    assert png_size((folder / "report.png").read_bytes()) == report.figure_size_px(1)


def test_command_line_writes_from_entries_and_renders_a_report_again(tmp_path, capsys):
    entries = tmp_path / "entries.json"
    entries.write_text(json.dumps(four_scenarios()))
    assert report.main([str(entries), "--out", str(tmp_path / "reports")]) == 0
    out = capsys.readouterr().out
    folder = Path(out.strip().splitlines()[-1].removeprefix("report: "))
    assert folder.parent == tmp_path / "reports"
    assert out.count("| `") == 4
    again = tmp_path / "again"
    assert report.main([str(folder / "report.json"), "--dir", str(again)]) == 0
    capsys.readouterr()
    assert (again / "report.json").read_text() == (folder / "report.json").read_text()
    assert (again / "report.png").read_bytes() == (folder / "report.png").read_bytes()


def test_command_line_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert report.main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("grpclab-report: error: ") and err.count("\n") == 1


def test_expected_replicas_never_seen_get_their_own_empty_columns():
    result = probe_result("spread", pinned_tallies([1, 1, 1, 1]))
    names, labels = report.columns(result)
    assert names == [NAMES[1], None, None]
    assert labels == ["m8q1z", report.UNSEEN, report.UNSEEN]
    document = report.build_report(
        [{"scenario": "probe", "promise": "spread", "result": result}], generated_at=WHEN
    )
    assert report.overall_line(document) == (
        "probe did NOT keep its promise: expected spread, observed pinned."
    )


def test_a_v2_probe_result_with_added_keys_makes_the_same_report(tmp_path, capsys):
    """grpclab.probe/v2 only adds keys (sizing, timeline): the report reads both contracts."""
    v1 = four_scenarios()[1]["result"]
    v2 = {**v1, "schema": "grpclab.probe/v2", "sizing": {"calls": 400}, "timeline": []}
    documents = [
        report.build_report(
            [{"scenario": "cilium", "promise": "spread", "result": r}], generated_at=WHEN
        )
        for r in (v1, v2)
    ]
    assert report.markdown_table(documents[0]) == report.markdown_table(documents[1])
    assert documents[1]["scenarios"][0]["verdict"] == "pass"
    saved = tmp_path / "v2.json"
    saved.write_text(json.dumps(v2))
    assert report.main([str(saved), "--out", str(tmp_path / "reports")]) == 0
    assert "| `probe`" in capsys.readouterr().out
    v3 = {**v1, "schema": "grpclab.probe/v3"}
    with pytest.raises(report.ReportError, match=re.escape("grpclab.probe/v1, grpclab.probe/v2")):
        report.build_report([{"scenario": "a", "promise": "spread", "result": v3}])
