"""The churn report folder (grpclab.report.churn): real PNGs per run, the JSON naming each
remedy and action, and the HTML page as headless Chromium renders it."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from browser import chromium
from churn_timelines import AFTER, BEFORE, per_request, pinned, timeline
from report_helpers import png_size

from grpclab.churn import run as churnrun
from grpclab.report import churn as churn_report
from grpclab.report.churn_picture import figure_size_px


def outcome(remedy: str, action: str, pick, after=AFTER) -> dict:
    tl = timeline(pick)
    result = churnrun.judge_result(
        {"schema": "grpclab.probe/v2", "timeline": tl},
        remedy,
        action,
        tl["start_unix"] + 3.0,
        BEFORE,
        after,
    )
    return {
        "scenario": remedy,
        "platform": "lab",
        "cluster": "c",
        "path": "p",
        "result": result,
        "error": None,
    }


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    outcomes = [
        outcome("cilium", "scale-out", per_request(3.2)),
        outcome("baseline", "scale-out", pinned),
        outcome("cilium-l4", "scale-out", per_request(3.2)),  # breaks its promise
        {
            "scenario": "client-side",
            "platform": "lab",
            "result": None,
            "error": "Service grpc-server-headless not found",
        },
    ]
    folder, document = churn_report.write_churn_report(outcomes, tmp_path_factory.mktemp("r"))
    return folder, document


def test_report_json_names_each_remedy_and_action_with_its_verdict(written):
    folder, document = written
    saved = json.loads((folder / "report.json").read_text())
    assert saved == document and saved["schema"] == "grpclab.churn-report/v1"
    assert [(r["remedy"], r["action"], r["verdict"]) for r in saved["runs"]] == [
        ("cilium", "scale-out", "pass"),
        ("baseline", "scale-out", "pass"),
        ("cilium-l4", "scale-out", "fail"),
        ("client-side", "?", "error"),
    ]
    assert saved["passed"] is False
    assert saved["failed_runs"] == ["cilium-l4 scale-out", "client-side ?"]
    assert saved["remedies"] == ["cilium", "baseline", "cilium-l4", "client-side"]


def test_each_judged_run_has_a_real_png_and_its_timeline(written):
    folder, _ = written
    for name in ("cilium--scale-out", "baseline--scale-out", "cilium-l4--scale-out"):
        assert png_size((folder / f"{name}.png").read_bytes()) == figure_size_px()
        assert json.loads((folder / "runs" / f"{name}.json").read_text())["calls"]
    assert not (folder / "client-side--?.png").exists()


def test_markdown_table_has_the_figures(written):
    folder, document = written
    text = (folder / "report.md").read_text()
    assert "**FAIL: 2 of 4 runs did not keep their promise" in text
    rows = churn_report.table_rows(document)
    assert rows[1][4] == "never within the run" and rows[1][6] == "0"
    assert rows[0][2] == "PASS" and rows[2][2] == "FAIL" and rows[3][2] == "ERROR"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self.images: list[dict] = []

    def handle_starttag(self, tag, attrs):
        if tag == "tr" and dict(attrs).get("class"):
            self.rows.append(dict(attrs)["class"])
        if tag == "img":
            self.images.append(dict(attrs))


def test_report_html_in_headless_chromium_shows_every_run_and_picture(written, tmp_path):
    folder, _ = written
    page_text = (folder / "report.html").read_text()
    assert "http:" not in page_text and "<script" not in page_text
    done = chromium(tmp_path / "profile", "--dump-dom", (folder / "report.html").as_uri())
    assert done.returncode == 0, done.stderr[-3000:]
    page = _Page()
    page.feed(done.stdout)
    assert page.rows == ["pass", "pass", "fail", "error"]
    assert len(page.images) == 3
    assert all(i["src"].startswith("data:image/png;base64,") for i in page.images)
    assert "FAIL: 2 of 4 runs did not keep their promise" in done.stdout
