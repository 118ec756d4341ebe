"""The Greeter server's functions alone: its name, its address, its connection options (the
server as a real process: tests/integration/test_server.py)."""

from __future__ import annotations

import os

import pytest

from grpclab.apps import server
from grpclab.apps.server import connection_options, default_address, replica_name


def test_name_comes_from_flag_then_pod_name_then_hostname(monkeypatch):
    monkeypatch.setenv("POD_NAME", "grpc-server-abc-1")
    assert replica_name("explicit") == "explicit"
    assert replica_name() == "grpc-server-abc-1"
    monkeypatch.delenv("POD_NAME")
    assert replica_name() == os.uname().nodename


def test_connection_options_map_seconds_to_grpc_milliseconds_and_zero_is_off():
    assert connection_options(
        {
            "max_connection_age": 30,
            "max_connection_age_grace": 5,
            "max_connection_idle": 10,
            "keepalive_time": 20,
            "keepalive_timeout": 10,
        }
    ) == [
        ("grpc.max_connection_age_ms", 30000),
        ("grpc.max_connection_age_grace_ms", 5000),
        ("grpc.max_connection_idle_ms", 10000),
        ("grpc.keepalive_time_ms", 20000),
        ("grpc.keepalive_timeout_ms", 10000),
    ]
    assert connection_options({"max_connection_age": 0, "keepalive_time": 0.0004}) == [
        ("grpc.keepalive_time_ms", 1)
    ]
    assert connection_options({}) == []


def test_default_address_is_pod_ip_else_every_address(monkeypatch):
    monkeypatch.setenv("POD_IP", "10.244.1.7")
    assert default_address() == "10.244.1.7"
    monkeypatch.delenv("POD_IP")
    assert default_address() == "0.0.0.0"


@pytest.mark.parametrize(
    ("text", "count"),
    [("", 10), (" 3 ", 3), ("0", 0), ("10000", 10000), ("10001", None), ("-1", None), ("x", None)],
)
def test_greetings_asked_reads_the_examples_string_count(text, count):
    assert server.greetings_asked(text) == count
