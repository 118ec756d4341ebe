"""``grpclab-probe --watch`` as a process, against three real Greeter servers behind a real Envoy,
scraped by a real Prometheus (Debian's) with the project's alert rules.

On its own loopback /24 (127.0.63.x) and ports outside the lab's plan (563xx), so it needs no
lab lock. One monitor watches the L7 listener (spread), one the L4 listener (pinned, expected
spread: GrpcTrafficPinned must fire); every PromQL expression of monitoring/grafana-dashboard.json
must return data from them.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import tls_ca
from prometheus import Prometheus, dashboard_expressions, start_prometheus, wait_for
from servers import (
    envoy_config,
    spawn,
    start_envoy,
    start_replicas,
    stop,
    write_envoy_config,
)
from shop_lab import REPLICAS, shop_lab

NET = "127.0.63"
PORT = 56351
L4, L7, ADMIN = (f"{NET}.11", 56352), (f"{NET}.12", 56352), (f"{NET}.10", 56359)
PROMETHEUS = (f"{NET}.30", 56390)
WINDOW = "2"


def _metrics_address(n: int) -> str:
    return f"{NET}.{20 + n}:{56360 + n}"


def _watch(log: Path, target: str, address: str, *args: str) -> subprocess.Popen:
    return spawn(
        [
            sys.executable, "-m", "grpclab.probe", "--watch", "--target", target,
            "--metrics-address", address, "--rate", "40", "--window", WINDOW,
            "--connections", "4", "--replicas", "3", "--timeout", "2", *args,
        ],
        log,
    )  # fmt: skip


def _scrape(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as answer:
        return answer.read().decode()


def _samples(text: str, name: str) -> dict[str, float]:
    """``name{labels}`` -> value of one metric in the exposition text."""
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, _, value = line.rpartition(" ")
            found[key[len(name) :]] = float(value)
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("watch")
    replicas = start_replicas([(f"replica-{i}", f"{NET}.{i}", PORT) for i in (1, 2, 3)], folder)
    processes: list[subprocess.Popen] = [r.process for r in replicas]
    prometheus: Prometheus | None = None
    try:
        config = write_envoy_config(
            folder / "envoy.yaml",
            envoy_config([(r.address, r.port) for r in replicas], L4, L7, ADMIN),
        )
        processes.append(start_envoy(config, ADMIN, folder / "envoy.log", listeners=[L4, L7]))
        spread = _watch(
            folder / "spread.log", f"{L7[0]}:{L7[1]}", _metrics_address(0), "--expect", "spread"
        )
        pinned = _watch(
            folder / "pinned.log", f"{L4[0]}:{L4[1]}", _metrics_address(1), "--expect", "spread"
        )
        processes += [pinned, spread]
        prometheus = start_prometheus(
            folder / "prometheus", PROMETHEUS, [_metrics_address(0), _metrics_address(1)]
        )
        yield {"folder": folder, "spread": spread, "pinned": pinned, "prometheus": prometheus}
    finally:
        if prometheus is not None:
            prometheus.stop()
        for process in reversed(processes):
            stop(process)


def test_the_l7_monitor_meets_spread_in_its_metrics(world: dict) -> None:
    prometheus: Prometheus = world["prometheus"]
    met = wait_for(
        lambda: prometheus.query(
            f'grpclab_probe_verdict{{expect="spread",instance="{_metrics_address(0)}"}} == 1'
        ),
        timeout=30,
    )
    assert met, (world["folder"] / "spread.log").read_text()
    text = _scrape(_metrics_address(0))
    ok = {k: v for k, v in _samples(text, "grpclab_probe_calls_total").items() if 'code="OK"' in k}
    assert len(ok) == 3 and all(v > 0 for v in ok.values()), text
    assert set(_samples(text, "grpclab_probe_connection_replicas").values()) == {3.0}, text
    assert _samples(text, "grpclab_probe_replicas_seen") == {"": 3.0}
    assert _samples(text, "grpclab_probe_window_seconds") == {"": float(WINDOW)}
    assert _samples(text, "grpclab_probe_latency_seconds_count")[""] > 0


def test_the_l4_monitor_fires_grpc_traffic_pinned(world: dict) -> None:
    prometheus: Prometheus = world["prometheus"]
    firing = wait_for(
        lambda: [a for a in prometheus.alerts("GrpcTrafficPinned") if a["state"] == "firing"],
        timeout=40,
    )
    assert firing, (world["folder"] / "pinned.log").read_text()
    assert {a["labels"]["instance"] for a in firing} == {_metrics_address(1)}
    assert "no longer spread" in firing[0]["annotations"]["summary"]
    text = _scrape(_metrics_address(1))
    assert set(_samples(text, "grpclab_probe_connection_replicas").values()) == {1.0}, text
    # one log line when the verdict changes, not one per window
    log = (world["folder"] / "pinned.log").read_text().splitlines()
    assert sum("window" in line for line in log) == 1, log


def test_every_dashboard_query_returns_data(world: dict) -> None:
    prometheus: Prometheus = world["prometheus"]
    expressions = dashboard_expressions()
    assert len(expressions) >= 8
    # rate() over [1m] needs two scrapes of a series: wait for the slowest (the p99)
    empty = wait_for(
        lambda: [expr for expr in expressions if not prometheus.query(expr)] or None, timeout=1
    )
    deadline = time.monotonic() + 30
    while empty and time.monotonic() < deadline:
        time.sleep(1)
        empty = [expr for expr in empty if not prometheus.query(expr)]
    assert not empty, f"no data for: {empty}"


def test_sigterm_stops_the_monitor_cleanly(world: dict) -> None:
    spread: subprocess.Popen = world["spread"]
    assert spread.poll() is None
    spread.send_signal(signal.SIGTERM)
    assert spread.wait(timeout=15) == 0
    log = (world["folder"] / "spread.log").read_text()
    assert "Traceback" not in log
    assert log.splitlines()[-1].endswith("windows judged"), log
    with pytest.raises(OSError):
        _scrape(_metrics_address(0))


def test_a_target_down_then_back_is_one_line_each(tmp_path: Path) -> None:
    """No server at first: one line when calls start failing, one when they succeed again."""
    target = (f"{NET}.41", PORT)
    watch = _watch(tmp_path / "watch.log", f"{target[0]}:{target[1]}", _metrics_address(2),
                   "--duration", "8")  # fmt: skip
    try:
        time.sleep(3)
        failing = _samples(_scrape(_metrics_address(2)), "grpclab_probe_calls_total")
        assert any('code="UNAVAILABLE"' in key and 'replica=""' in key for key in failing)
        replica = start_replicas([("late", *target)], tmp_path)[0]
        try:
            assert watch.wait(timeout=30) == 0
        finally:
            stop(replica.process)
    finally:
        stop(watch)
    lines = (tmp_path / "watch.log").read_text().splitlines()
    assert sum("failing" in line for line in lines) == 1, lines
    assert sum("succeed again" in line for line in lines) == 1, lines
    assert len(lines) <= 8, lines  # start, failing, back, a verdict or two, stopped


def test_a_metrics_address_in_use_is_one_line_and_exit_2() -> None:
    address = _metrics_address(3)
    host, port = address.split(":")
    with socket.socket() as taken:
        taken.bind((host, int(port)))
        taken.listen()
        done = subprocess.run(
            [sys.executable, "-m", "grpclab.probe", "--watch", "--target", f"{L7[0]}:{L7[1]}",
             "--metrics-address", address],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"grpclab-probe: error: --metrics-address {address}: cannot listen: Address already in use"
    ]
    assert done.stdout == ""


def _verdict_met(address: str, expect: str) -> bool:
    """The monitor at ``address`` says its last window met ``expect`` (False while it starts)."""
    try:
        text = _scrape(address)
    except OSError:
        return False
    return _samples(text, "grpclab_probe_verdict").get(f'{{expect="{expect}"}}') == 1.0


def test_the_monitor_watches_another_service_over_tls_by_a_reply_field(tmp_path: Path) -> None:
    """shop.Orders (types by reflection), identity from a reply field, through TLS with the CA
    the test made: the monitor's calls are the probe's, whatever the method and transport."""
    (tmp_path / "shop").mkdir()
    with shop_lab(tmp_path / "shop") as shop:
        ca = shop["ca"]
        address = _metrics_address(4)
        watch = _watch(
            tmp_path / "shop.log", shop["l7"], address, "--expect", "spread",
            "--call", "shop.Orders/Get", "-d", '{"orderId": "o-1"}',
            "--identity", "field:servedBy.pod", "-H", "x-token: secret-value",
        )  # fmt: skip
        tls = _watch(
            tmp_path / "tls.log", shop["tls"], _metrics_address(5), "--expect", "pinned",
            "--replicas", "1", "--call", "shop.Orders/Get", "--identity", "trailer:x-replica",
            "--cacert", str(ca["ca"]), "--server-name", tls_ca.SERVER_NAME,
        )  # fmt: skip
        try:
            spread = wait_for(lambda: _verdict_met(address, "spread"), timeout=30)
            assert spread, (tmp_path / "shop.log").read_text()
            text = _scrape(address)
            ok = {k for k in _samples(text, "grpclab_probe_calls_total") if 'code="OK"' in k}
            assert ok == {f'{{code="OK",replica="{name}"}}' for name in REPLICAS}, text
            pinned = wait_for(lambda: _verdict_met(_metrics_address(5), "pinned"), timeout=30)
            assert pinned, (tmp_path / "tls.log").read_text()
        finally:
            for process in (watch, tls):
                stop(process)
    log = (tmp_path / "shop.log").read_text()
    assert "secret-value" not in log and "Traceback" not in log, log


def test_replies_naming_no_replica_show_what_they_carried(tmp_path: Path) -> None:
    """An identity spec that names nothing: the window's verdict line says which specs were tried
    and what the first reply carried, so the user can write the right one."""
    (tmp_path / "shop").mkdir()
    with shop_lab(tmp_path / "shop") as shop:
        watch = _watch(
            tmp_path / "unnamed.log", shop["l7"], _metrics_address(6), "--expect", "spread",
            "--call", "shop.Orders/Get", "--identity", "header:x-nobody", "--duration", "4",
        )  # fmt: skip
        try:
            assert watch.wait(timeout=60) == 0
        finally:
            stop(watch)
    log = (tmp_path / "unnamed.log").read_text()
    assert "header:x-nobody" in log and "x-replica" in log, log
