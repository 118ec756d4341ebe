"""The compare report's streaming rows: streams and messages per replica, and the plain sentence
(L7 spreads streams over replicas, never the messages of one stream), in every rendering."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import jsonschema
from report_helpers import md_tables, md_verdicts
from test_report import NAMES, WHEN, four_scenarios, probe_result, spread_tallies

from grpclab import report

SENTENCE = "L7 spreads streams over replicas, never the messages of one stream"


def streaming(per_replica: dict[str, tuple[int, int]], split: int = 0) -> dict[str, Any]:
    """The probe's ``streams`` object: per replica (streams, messages)."""
    return {
        "kind": "server_streaming",
        "messages_sent": 1,
        "streams": sum(s for s, _ in per_replica.values()),
        "messages": sum(m for _, m in per_replica.values()),
        "per_replica": {n: {"streams": s, "messages": m} for n, (s, m) in per_replica.items()},
        "split_streams": split,
        "note": "L7 balancing spreads streams over replicas, never the messages of one stream",
    }


def five_scenarios(split: int = 0) -> list[dict[str, Any]]:
    """The compare play's four scenarios and cilium-streams (cilium probed with streams)."""
    result = probe_result("spread", spread_tallies(per=45), target="127.0.3.1:50051")
    result["streams"] = streaming({name: (60, 300) for name in NAMES}, split)
    return [
        *four_scenarios(),
        {
            "scenario": "cilium-streams",
            "platform": "lab",
            "cluster": "grpclab-cilium",
            "path": "ClusterIP grpc-server lb-l7 → Envoy round_robin, per stream",
            "promise": "spread",
            "versions": {"envoy": "1.40.0"},
            "result": result,
        },
    ]


def test_the_json_model_gives_a_streaming_row_its_streams_and_messages_per_replica():
    document = report.build_report(five_scenarios(), generated_at=WHEN)
    jsonschema.validate(document, report.load_schema("report"))
    *unary, streams_row = document["scenarios"]
    assert all(doc["streams"] is None for doc in unary)
    streams = streams_row["streams"]
    assert streams["per_replica"] == {n: {"streams": 60, "messages": 300} for n in NAMES}
    assert (streams["streams"], streams["messages"], streams["split_streams"]) == (180, 900, 0)
    assert streams["one_replica_per_stream"] is True
    assert (
        streams["sentence"]
        == f"{SENTENCE}: every stream on one replica, 180 streams over 3 replicas."
    )
    # a report.json read back renders the same streams
    again = report.build_report(report.scenarios_of(document), generated_at=WHEN)
    assert again["scenarios"][-1]["streams"] == streams


def test_a_split_stream_is_said_plainly():
    document = report.build_report(five_scenarios(split=2), generated_at=WHEN)
    streams = document["scenarios"][-1]["streams"]
    assert streams["one_replica_per_stream"] is False
    assert streams["sentence"].endswith("2 of 180 streams had messages from more than one replica.")


def test_markdown_and_the_printed_table_show_streams_and_messages_per_replica():
    document = report.build_report(five_scenarios(), generated_at=WHEN)
    markdown = report.render_markdown(document)
    scenarios, streams = md_tables(markdown)
    assert [row["scenario"] for row in scenarios][-1] == "`cilium-streams`"
    assert md_verdicts(markdown)["cilium-streams"] == "PASS"
    assert streams == [{"replica": n, "streams": "60", "messages": "300"} for n in NAMES]
    assert (
        "Streams of `cilium-streams`: 180 server-streaming streams, 900 messages. "
        f"{SENTENCE}: every stream on one replica" in markdown
    )
    # what the compare play prints is the same, streams included
    table = report.markdown_table(document)
    assert table in markdown and SENTENCE in table and "| replica " in table


def test_a_report_without_streams_has_no_streams_block():
    document = report.build_report(four_scenarios(), generated_at=WHEN)
    assert len(md_tables(report.render_markdown(document))) == 1
    assert SENTENCE not in report.render_html(document, b"")


class _Streams(HTMLParser):
    """The cells of the page's streams tables, by scenario."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[str]] = {}
        self._into: str | None = None
        self._cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table" and attributes.get("class") == "streams":
            self._into = str(attributes["data-scenario"])
            self.tables[self._into] = []
        self._cell = self._into is not None and tag == "td"

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._into = None
        self._cell = False

    def handle_data(self, data: str) -> None:
        if self._cell and self._into:
            self.tables[self._into].append(data)


def test_html_shows_streams_and_messages_per_replica_and_the_sentence():
    document = report.build_report(five_scenarios(), generated_at=WHEN)
    page = report.render_html(document, b"\x89PNG")
    parser = _Streams()
    parser.feed(page)
    assert parser.tables == {"cilium-streams": [c for n in NAMES for c in (n, "60", "300")]}
    assert f"{SENTENCE}: every stream on one replica" in page


def test_report_json_keeps_the_streams(tmp_path):
    folder, _ = report.write_report(five_scenarios(), tmp_path, now=WHEN)
    written = json.loads((folder / "report.json").read_text())
    assert written["scenarios"][-1]["streams"]["per_replica"][NAMES[0]] == {
        "streams": 60,
        "messages": 300,
    }
