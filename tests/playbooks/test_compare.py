"""playbooks/compare.yml on the lab: real ansible-playbook runs, the report they write, and
that report opened in a real headless Chromium with no network.

The runs bind the lab's addresses: run under the lab lock,
``flock /tmp/grpclab-net.lock python -m pytest tests/playbooks/test_compare.py``. The module tears
the lab down when it ends.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ansible_cli import recap, run_tool
from browser import chromium
from PIL import Image
from report_helpers import md_table, md_tables, md_verdicts, png_size

from grpclab import report

pytestmark = pytest.mark.slow

SCENARIOS = ["baseline", "cilium", "cilium-l4", "client-side", "cilium-streams"]
PROMISES = {
    "baseline": "pinned",
    "cilium": "spread",
    "cilium-l4": "pinned",
    "client-side": "spread",
    "cilium-streams": "spread",
}
CLUSTERS = {
    "baseline": "grpclab-baseline",
    "cilium": "grpclab-cilium",
    "cilium-l4": "grpclab-cilium",
    "client-side": "grpclab-cilium",
    "cilium-streams": "grpclab-cilium",
}
STREAMS_SENTENCE = "L7 spreads streams over replicas, never the messages of one stream"
MESSAGES_PER_STREAM = 5  # cilium-streams asks MultiGreeter/sayHello for num_greetings 5
PLAYBOOK_TIMEOUT = 900  # seconds: five scenarios on a shared 2-core machine


@dataclass
class CompareRun:
    done: subprocess.CompletedProcess
    folder: Path
    document: dict[str, Any]

    def explain(self) -> str:
        return f"rc {self.done.returncode}\n{self.done.stdout[-6000:]}\n{self.done.stderr[-2000:]}"


def compare(base: Path, *extra: str) -> CompareRun:
    """Run the compare playbook with its reports under ``base``; the one folder it wrote."""
    done = run_tool(
        "ansible-playbook",
        "playbooks/compare.yml",
        "-e",
        f"compare_reports_dir={base}",
        *extra,
        timeout=PLAYBOOK_TIMEOUT,
    )
    folders = sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    assert len(folders) == 1, f"expected one report folder in {base}:\n{done.stdout[-6000:]}"
    folder = folders[0]
    assert re.fullmatch(r"\d{8}T\d{6}Z", folder.name), folder.name
    document = json.loads((folder / "report.json").read_text())
    return CompareRun(done, folder, document)


@pytest.fixture(scope="module")
def lab_torn_down_after() -> Any:
    yield
    done = run_tool("ansible-playbook", "playbooks/teardown.yml", timeout=PLAYBOOK_TIMEOUT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def passing(tmp_path_factory: pytest.TempPathFactory, lab_torn_down_after: Any) -> CompareRun:
    """compare.yml as the README runs it."""
    return compare(tmp_path_factory.mktemp("reports-passing"))


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory, passing: CompareRun) -> CompareRun:
    """compare.yml with lb-l7 off: Service grpc-server is balanced per connection, cilium pins."""
    return compare(tmp_path_factory.mktemp("reports-failing"), "-e", "grpc_apps_lb_l7=false")


# ------------------------------------------------------------------------------ passing run


def test_compare_passes_and_writes_the_files(passing):
    assert passing.done.returncode == 0, passing.explain()
    assert sorted(p.name for p in passing.folder.iterdir()) == sorted(report.FILES)
    assert recap(passing.done.stdout)["failed"] == 0
    assert f"report: {passing.folder}" in passing.done.stdout


def test_report_json_validates_and_holds_every_result(passing):
    document = passing.document
    jsonschema.validate(document, report.load_schema("report"))
    assert document["passed"] is True and document["failed_scenarios"] == []
    assert [s["scenario"] for s in document["scenarios"]] == SCENARIOS
    for scenario in document["scenarios"]:
        name = scenario["scenario"]
        assert (scenario["promise"], scenario["verdict"]) == (PROMISES[name], "pass")
        assert scenario["observed"] == PROMISES[name]
        assert (scenario["platform"], scenario["cluster"]) == ("lab", CLUSTERS[name])
        # the probe sized its calls for 3 replicas over 4 connections, and the report keeps why
        calls = scenario["result"]["calls"]
        assert calls["source"] == "sized" and calls["chosen"] == sum(
            connection["calls"] for connection in scenario["result"]["connections"]
        )
        assert scenario["result"]["parameters"]["calls"] == calls["chosen"]
        assert scenario["result"]["expected_replicas"] == 3
        assert re.fullmatch(r"\d+\.\d+\.\d+", scenario["versions"]["envoy"])
    reached = {s["scenario"]: s["replicas_reached_per_connection"] for s in document["scenarios"]}
    assert reached == {
        "baseline": [1, 1, 1, 1],
        "cilium": [3, 3, 3, 3],
        "cilium-l4": [1, 1, 1, 1],
        "client-side": [3, 3, 3, 3],
        "cilium-streams": [3, 3, 3, 3],
    }
    assert [s["scenario"] for s in document["scenarios"] if s["streams"]] == ["cilium-streams"]
    versions = document["versions"]
    assert versions["platform"] == "lab"
    assert versions["grpcio"] and versions["grpclab"] and versions["python"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", versions["envoy"])


def test_report_png_is_a_real_png_of_the_expected_size(passing):
    data = (passing.folder / "report.png").read_bytes()
    assert png_size(data) == report.figure_size_px(5) == (1600, 1775)
    with Image.open(passing.folder / "report.png") as image:
        image.verify()  # the whole stream decodes: chunks and CRCs
        assert image.format == "PNG"


def test_markdown_verdicts_match_the_json_and_the_play_prints_the_table(passing):
    markdown = (passing.folder / "report.md").read_text()
    verdicts = {s["scenario"]: s["verdict"].upper() for s in passing.document["scenarios"]}
    assert md_verdicts(markdown) == verdicts == dict.fromkeys(SCENARIOS, "PASS")
    rows = {row["scenario"].strip("`"): row for row in md_table(markdown)}
    for scenario in passing.document["scenarios"]:
        row = rows[scenario["scenario"]]
        reached = " · ".join(map(str, scenario["replicas_reached_per_connection"]))
        assert row["replicas reached per connection"] == f"{reached} of 3"
        assert row["Jain's index"] == f"{scenario['jain_index']:.3f}"
    table = [line for line in markdown.splitlines() if line.startswith("| ")]
    printed = passing.done.stdout.splitlines()
    for line in table:
        assert any(p.strip() == line for p in printed), f"not printed by the play: {line}"


def test_the_streams_row_spreads_streams_and_keeps_each_stream_on_one_replica(passing):
    """cilium probed with MultiGreeter/sayHello: each connection's streams reach every replica
    (L7 per stream), and no stream's messages came from two replicas."""
    row = passing.document["scenarios"][SCENARIOS.index("cilium-streams")]
    assert row["result"]["call"]["method"].endswith("MultiGreeter/sayHello"), row["result"]["call"]
    streams = row["streams"]
    assert streams["kind"] == "server_streaming"
    assert streams["split_streams"] == 0 and streams["one_replica_per_stream"] is True
    per_replica = streams["per_replica"]
    assert len(per_replica) == 3 and all(c["streams"] > 0 for c in per_replica.values())
    assert sum(c["streams"] for c in per_replica.values()) == streams["streams"]
    # every stream brought its 5 messages, all from the replica the stream was on
    for counts in per_replica.values():
        assert counts["messages"] == MESSAGES_PER_STREAM * counts["streams"]
    assert streams["sentence"].startswith(f"{STREAMS_SENTENCE}: every stream on one replica")
    # the same figures in report.md (the second table), printed by the play, and in the page
    markdown = (passing.folder / "report.md").read_text()
    table = md_tables(markdown)[1]
    assert {r["replica"]: (int(r["streams"]), int(r["messages"])) for r in table} == {
        name: (c["streams"], c["messages"]) for name, c in per_replica.items()
    }
    assert streams["sentence"] in markdown and streams["sentence"] in passing.done.stdout
    page = (passing.folder / "report.html").read_text()
    assert 'class="streams" data-scenario="cilium-streams"' in page
    assert streams["sentence"] in page


# ------------------------------------------------------------------------------ the browser


class _Page(HTMLParser):
    """The scenario rows and images of a page (as Chromium's --dump-dom serialises it)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.images: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "tr" and "scenario" in attributes.get("class", "").split():
            self.rows.append(attributes)
        elif tag == "img":
            self.images.append(attributes)


def test_report_html_loads_nothing_from_anywhere(passing):
    page = (passing.folder / "report.html").read_text()
    assert not re.search(r"(?i)\b(?:https?|ftp|wss?):", page)
    assert not re.search(r"(?i)<(?:script|link|iframe|object|embed|base)\b", page)
    assert not re.search(r"(?i)\burl\(|@import|\bhref=", page)
    sources = re.findall(r'\bsrc="([^"]*)"', page)
    assert len(sources) == 1 and sources[0].startswith("data:image/png;base64,")
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


@pytest.mark.parametrize("which", ["passing", "failing"])
def test_report_html_in_headless_chromium_shows_every_row_and_the_picture(which, request, tmp_path):
    run: CompareRun = request.getfixturevalue(which)
    url = (run.folder / "report.html").as_uri()
    done = chromium(tmp_path / "profile", "--dump-dom", url)
    assert done.returncode == 0, done.stderr[-3000:]
    page = _Page()
    page.feed(done.stdout)
    assert [row["data-scenario"] for row in page.rows] == SCENARIOS
    verdicts = {s["scenario"]: s["verdict"] for s in run.document["scenarios"]}
    assert {row["data-scenario"]: row["data-verdict"] for row in page.rows} == verdicts
    assert len(page.images) == 1
    src = page.images[0]["src"]
    assert src.startswith("data:image/png;base64,")
    picture = base64.b64decode(src.removeprefix("data:image/png;base64,"))
    assert picture == (run.folder / "report.png").read_bytes()


def test_headless_chromium_paints_the_picture_with_no_request_leaving(passing, tmp_path):
    """A screenshot of the page shows the picture's replica colours (the page's own CSS has
    none of them), and Chromium's net log holds no request made by the page."""
    shot = tmp_path / "shot.png"
    netlog = tmp_path / "netlog.json"
    done = chromium(
        tmp_path / "profile",
        "--window-size=1700,3200",
        f"--screenshot={shot}",
        f"--log-net-log={netlog}",
        (passing.folder / "report.html").as_uri(),
    )
    assert done.returncode == 0 and shot.exists(), done.stderr[-3000:]
    palette = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in report.REPLICA_PALETTE}
    with Image.open(shot) as image:
        counts = {colour: n for n, colour in image.convert("RGB").getcolors(maxcolors=1 << 24)}
    painted = sum(counts.get(colour, 0) for colour in palette)
    assert painted > 20000, f"the picture is not painted ({painted} pixels of replica colours)"
    log = json.loads(netlog.read_text())
    event_types = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    requests = [
        event["params"]
        for event in log["events"]
        if event_types.get(event["type"]) == "URL_REQUEST_START_JOB"
        and "url" in event.get("params", {})
    ]
    # Chromium's own background jobs (its updater) carry no origin; a request the page made
    # would carry the page's
    by_page = [r["url"] for r in requests if r.get("initiator") != "not an origin"]
    assert by_page == []


# ------------------------------------------------------------------------------ a broken promise


def test_a_broken_promise_still_writes_the_report_and_fails_the_play(failing):
    assert failing.done.returncode != 0, failing.explain()
    assert sorted(p.name for p in failing.folder.iterdir()) == sorted(report.FILES)
    counters = recap(failing.done.stdout)
    assert counters["failed"] == 1 and counters["rescued"] == 0
    stdout = failing.done.stdout
    # the report is written and shown before the play fails
    assert stdout.index(f"report: {failing.folder}") < stdout.index("did not keep their promise")
    # without lb-l7 the streams are pinned as the calls are
    printed = " ".join(stdout.split())
    assert (
        "2 of 5 scenarios did not keep their promise: cilium: FAIL: pinned, expected spread - "
    ) in printed
    assert "; cilium-streams: FAIL: pinned, expected spread - " in printed


def test_a_broken_promise_is_marked_failed_in_every_file(failing):
    document = failing.document
    jsonschema.validate(document, report.load_schema("report"))
    assert document["passed"] is False
    assert document["failed_scenarios"] == ["cilium", "cilium-streams"]
    cilium = document["scenarios"][1]
    assert (cilium["verdict"], cilium["observed"], cilium["passed"]) == ("fail", "pinned", False)
    assert cilium["replicas_reached_per_connection"] == [1, 1, 1, 1]
    assert "without lb-l7" in cilium["path"]
    streams = document["scenarios"][4]
    assert (streams["verdict"], streams["observed"]) == ("fail", "pinned")
    assert streams["replicas_reached_per_connection"] == [1, 1, 1, 1]
    assert streams["streams"]["split_streams"] == 0  # pinned or spread, a stream stays whole
    others = {
        s["scenario"]: s["verdict"] for s in document["scenarios"] if s not in (cilium, streams)
    }
    assert others == {"baseline": "pass", "cilium-l4": "pass", "client-side": "pass"}
    markdown = (failing.folder / "report.md").read_text()
    assert md_verdicts(markdown) == {
        "baseline": "PASS",
        "cilium": "FAIL",
        "cilium-l4": "PASS",
        "client-side": "PASS",
        "cilium-streams": "FAIL",
    }
    assert "**FAIL: pinned, expected spread**" in markdown
    page = (failing.folder / "report.html").read_text()
    assert 'class="overall fail"' in page
    assert png_size((failing.folder / "report.png").read_bytes()) == report.figure_size_px(5)


# ------------------------------------------------------------------------------ no probe at all


@pytest.fixture(scope="module")
def erroring(tmp_path_factory: pytest.TempPathFactory, failing: CompareRun) -> CompareRun:
    """Only the probes (--tags probe, the clusters are up) with a connect deadline nothing meets."""
    return compare(
        tmp_path_factory.mktemp("reports-erroring"),
        "--tags",
        "probe",
        "-e",
        "grpc_probe_timeout=0.000001",
    )


def test_probes_that_cannot_run_are_error_rows_of_a_written_report(erroring):
    assert erroring.done.returncode != 0, erroring.explain()
    counters = recap(erroring.done.stdout)
    # one rescue of ours per scenario (the role may rescue inside too)
    assert counters["failed"] == 1 and counters["rescued"] >= 5, erroring.explain()
    document = erroring.document
    jsonschema.validate(document, report.load_schema("report"))
    assert document["failed_scenarios"] == SCENARIOS
    for scenario in document["scenarios"]:
        assert (scenario["verdict"], scenario["result"]) == ("error", None)
        # a call other than the Greeter's asks server reflection first: its deadline is met there
        first = ("cannot connect to ", "server reflection on ")
        if scenario["scenario"] != "cilium-streams":
            first = first[:1]
        assert scenario["error"].startswith(tuple(f"grpclab-probe: error: {f}" for f in first)), (
            scenario["error"]
        )
    markdown = (erroring.folder / "report.md").read_text()
    assert md_verdicts(markdown) == dict.fromkeys(SCENARIOS, "ERROR")
    assert png_size((erroring.folder / "report.png").read_bytes()) == report.figure_size_px(5)
