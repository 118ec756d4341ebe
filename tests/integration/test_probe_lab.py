"""The probe against real servers and a real Envoy: each path gives the verdict it promises.

Needs the lab addresses (127.0.1.1-3, 127.0.2.100-102): run under
``flock /tmp/grpclab-net.lock python -m pytest``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
from servers import envoy_binary, envoy_config, write_envoy_config

from grpclab import report
from grpclab.probe import cli as probe
from grpclab.probe.model import PINNED, SPREAD

REPLICA_NAMES = ["replica-1", "replica-2", "replica-3"]


def probe_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    """``grpclab.probe.main([... --json])`` in-process: exit status and the parsed document."""
    status = probe.main([*args, "--json"])
    out, err = capsys.readouterr()
    assert err == ""
    return status, json.loads(out)


def replicas_per_connection(result: dict) -> list[list[str]]:
    return [sorted(c["replicas"]) for c in result["connections"]]


# ---------------------------------------------------------------------------- Envoy config


def test_envoy_config_validates(tmp_path):
    config = write_envoy_config(
        tmp_path / "envoy.yaml",
        envoy_config(
            [("127.0.1.1", 50051), ("127.0.1.2", 50051), ("127.0.1.3", 50051)],
            ("127.0.2.101", 50051),
            ("127.0.2.102", 50051),
            ("127.0.2.100", 9901),
        ),
    )
    done = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK" in done.stdout + done.stderr


def test_envoy_validate_rejects_a_broken_config(tmp_path):
    config = envoy_config(
        [("127.0.1.1", 50051)],
        ("127.0.2.101", 50051),
        ("127.0.2.102", 50051),
        ("127.0.2.100", 9901),
    )
    config["static_resources"]["clusters"][0]["lb_policy"] = "NO_SUCH_POLICY"
    path = write_envoy_config(tmp_path / "broken.yaml", config)
    done = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0


# ---------------------------------------------------------------------------- the four paths


def test_l4_proxy_pins_each_connection(probe_targets, capsys):
    status, result = probe_json(
        capsys,
        "--target",
        probe_targets["l4"],
        "--calls",
        "200",
        "--expect",
        "pinned",
        "--replicas",
        "3",
    )
    assert status == 0, result["summary"]
    assert result["observed"] == PINNED and result["passed"]
    assert all(len(c["replicas"]) == 1 and c["calls"] == 50 for c in result["connections"])
    assert {r["name"] for r in result["replicas"]} <= set(REPLICA_NAMES)
    assert result["totals"] == {"calls": 200, "ok": 200, "failed": 0}


def test_l4_proxy_fails_expect_spread_with_exit_1(probe_targets, run_probe_cli):
    done = run_probe_cli(
        "--target",
        probe_targets["l4"],
        "--calls",
        "200",
        "--expect",
        "spread",
        "--replicas",
        "3",
        "--json",
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr == ""
    result = json.loads(done.stdout)  # the whole of stdout is one JSON document
    assert result["observed"] == PINNED and result["passed"] is False
    assert "expected spread: not met" in result["summary"]
    assert result["reasons"]


def test_l7_proxy_spreads_every_connection_with_equal_shares(probe_targets, capsys):
    status, result = probe_json(
        capsys,
        "--target",
        probe_targets["l7"],
        "--calls",
        "300",
        "--expect",
        "spread",
        "--replicas",
        "3",
    )
    assert status == 0, result["summary"]
    assert result["observed"] == SPREAD
    assert replicas_per_connection(result) == [REPLICA_NAMES] * 4
    assert [r["name"] for r in result["replicas"]] == REPLICA_NAMES
    for replica in result["replicas"]:  # Envoy round robin over one worker: equal to a call
        assert replica["share"] == pytest.approx(1 / 3, abs=0.02)
    assert result["jain_index"] > 0.99
    assert result["summary"].startswith("each of 4 connections reached all 3 replicas")


def test_l7_proxy_fails_expect_pinned_with_exit_1(probe_targets, run_probe_cli):
    done = run_probe_cli(
        "--target", probe_targets["l7"], "--calls", "120", "--expect", "pinned", "--replicas", "3"
    )
    assert done.returncode == 1, done.stderr
    assert "verdict      FAIL: expected pinned, observed spread" in done.stdout
    assert "replica-1" in done.stdout and "#" in done.stdout


def test_l7_with_many_calls_in_flight_still_spreads(probe_targets, capsys):
    status, result = probe_json(
        capsys,
        "--target",
        probe_targets["l7"],
        "--calls",
        "400",
        "--connections",
        "4",
        "--concurrency",
        "16",
        "--expect",
        "spread",
        "--replicas",
        "3",
    )
    assert status == 0, result["summary"]
    assert result["totals"]["ok"] == 400


def test_one_server_directly_is_pinned(probe_targets, capsys):
    status, result = probe_json(
        capsys, "--target", probe_targets["direct"], "--calls", "100", "--expect", "pinned"
    )
    assert status == 0
    assert result["observed"] == PINNED
    assert result["replicas"] == [
        {"name": "replica-1", "calls": 100, "share": 1.0, "connections": 4}
    ]
    assert result["replicas_assumed"] is True and result["warnings"]


def test_one_server_directly_fails_spread(probe_targets, capsys):
    status, result = probe_json(
        capsys,
        "--target",
        probe_targets["direct"],
        "--calls",
        "100",
        "--expect",
        "spread",
        "--replicas",
        "3",
    )
    assert status == 1
    assert result["summary"].startswith(
        "1 of 3 replicas served all 100 calls on each of 4 connections; expected spread: not met"
    )


def test_client_side_round_robin_spreads(probe_targets, capsys):
    status, result = probe_json(
        capsys,
        "--target",
        probe_targets["client_side"],
        "--calls",
        "300",
        "--lb",
        "round_robin",
        "--expect",
        "spread",
        "--replicas",
        "3",
    )
    assert status == 0, result["summary"]
    assert result["lb_policy"] == "round_robin"
    assert replicas_per_connection(result) == [REPLICA_NAMES] * 4


def test_client_side_pick_first_stays_on_the_first_address(probe_targets, capsys):
    status, result = probe_json(
        capsys, "--target", probe_targets["client_side"], "--calls", "100", "--expect", "pinned"
    )
    assert status == 0
    assert replicas_per_connection(result) == [["replica-1"]] * 4


def test_without_calls_the_probe_sizes_itself_for_the_replicas(probe_targets, capsys):
    status, result = probe_json(
        capsys, "--target", probe_targets["l7"], "--expect", "spread", "--replicas", "3"
    )
    assert status == 0, result["summary"]
    assert {
        k: result["calls"][k] for k in ("chosen", "per_connection", "concurrency", "source")
    } == {"chosen": 180, "per_connection": 45, "concurrency": 1, "source": "sized"}
    assert result["totals"]["calls"] == result["parameters"]["calls"] == 180
    jsonschema.validate(result, report.load_schema("probe-result"))


def test_a_paced_run_through_l4_stays_pinned_over_time(probe_targets, capsys):
    status, result = probe_json(
        capsys,
        "--target",
        probe_targets["l4"],
        "--duration",
        "1",
        "--rate",
        "200",
        "--expect",
        "pinned",
        "--replicas",
        "3",
    )
    assert status == 0, result["summary"]
    assert result["schema"] == "grpclab.probe/v2"
    assert [len(c["segments"]) for c in result["timeline"]["connections"]] == [1, 1, 1, 1]
    jsonschema.validate(result, report.load_schema("probe-result"))


def test_the_result_validates_against_the_report_schema(probe_targets, capsys):
    _, result = probe_json(capsys, "--target", probe_targets["l7"], "--calls", "60")
    jsonschema.validate(result, report.load_schema("probe-result"))


# ---------------------------------------------------------------------------- the commands


def test_the_console_script_and_python_m_run_the_same_probe(probe_targets):
    bin_dir = Path(sys.executable).parent
    for argv in ([str(bin_dir / "grpclab-probe")], [sys.executable, "-m", "grpclab.probe"]):
        done = subprocess.run(
            [
                *argv,
                "--target",
                probe_targets["l7"],
                "--calls",
                "240",
                "--expect",
                "spread",
                "--replicas",
                "3",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["schema"] == "grpclab.probe/v1"


# ---------------------------------------------------------------------------- connections


def _established_to(address: str, port: int) -> int:
    """ESTABLISHED TCP sockets of this process whose peer is ``address:port``."""
    import ipaddress
    import os

    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    wanted = ipaddress.IPv4Address(address)
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                remote, state, inode = fields[2], fields[3], fields[9]
                if state != "01" or inode not in inodes:  # 01 = ESTABLISHED
                    continue
                host_hex, port_hex = remote.split(":")
                # the kernel prints each 32-bit word of the address in host (little-endian) order
                raw = b"".join(
                    bytes.fromhex(host_hex[i : i + 8])[::-1] for i in range(0, len(host_hex), 8)
                )
                ip = ipaddress.ip_address(raw)
                if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
                    ip = ip.ipv4_mapped
                if ip == wanted and int(port_hex, 16) == port:
                    count += 1
    return count


def test_connections_are_distinct_tcp_connections(greeter_replicas):
    replica = greeter_replicas[1]
    before = _established_to(replica.address, replica.port)
    channels = probe.open_channels(replica.target, 4, "pick_first", connect_timeout=10)
    try:
        assert _established_to(replica.address, replica.port) - before == 4
        more = probe.open_channels(replica.target, 2, "pick_first", connect_timeout=10)
        assert _established_to(replica.address, replica.port) - before == 6
        for channel in more:
            channel.close()
    finally:
        for channel in channels:
            channel.close()
    deadline = time.monotonic() + 10
    while _established_to(replica.address, replica.port) > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _established_to(replica.address, replica.port) == before
