"""proxy-restart's promises per remedy, judged on synthetic timelines
(tests/support/churn_timelines.py), and the lab node's hot-restart Envoy command line."""

from __future__ import annotations

import zlib

import pytest
from churn_timelines import BEFORE, pinned, timeline

from grpclab.churn import FAILED_CALLS, KEPT, RECOVERY, Action, Budgets, expectations, judge
from grpclab.lab import nodestartup
from grpclab.lab.envoyconfig import PARENT_SHUTDOWN_S, envoy_argv

RESTART = Action("proxy-restart", 3.0, frozenset(BEFORE), frozenset(BEFORE))


def reconnected(t: float, conn: int, k: int) -> str:
    """Each connection broke at the restart and was balanced again, to another replica."""
    return BEFORE[(conn + (1 if t >= 3.0 else 0)) % len(BEFORE)]


def dropped(t: float, conn: int, k: int) -> str:
    """The restart cut every connection for 0.2 s: those calls failed, then they came back."""
    return "UNAVAILABLE" if 3.0 <= t < 3.2 else BEFORE[conn % len(BEFORE)]


def metrics(remedy: str) -> dict[str, float | None]:
    return {e.metric: e.budget for e in expectations(remedy, "proxy-restart")}


def test_each_remedy_promises_what_its_path_does_through_a_proxy_restart():
    assert metrics("baseline") == metrics("cilium-l4") == {KEPT: 0, FAILED_CALLS: 0, RECOVERY: 10}
    assert metrics("cilium") == {FAILED_CALLS: None, RECOVERY: 10}  # measured, not promised
    for remedy in ("max-age", "client-side", "client-side-max-age"):
        assert metrics(remedy) == {FAILED_CALLS: 0, RECOVERY: 10}, remedy


@pytest.mark.parametrize("remedy", ["baseline", "cilium-l4"])
def test_an_l4_connection_that_survives_keeps_its_replica_and_one_that_moved_fails(remedy):
    kept = judge(timeline(pinned), remedy, RESTART)
    assert kept.passed, kept.line
    assert "every connection kept its replica (4 of 4)" in kept.line
    moved = judge(timeline(reconnected), remedy, RESTART)
    assert not moved.passed
    assert moved.line.endswith("not met, 4 of 4 connections moved to another replica")
    assert moved.figures.moved == 4


def test_cilium_records_the_calls_a_restart_cost_and_holds_the_recovery():
    cut = judge(timeline(dropped), "cilium", RESTART)
    assert cut.passed, cut.line  # 8 calls lost: a figure, no budget
    assert cut.figures.failed == {"UNAVAILABLE": 8}
    assert "(1 figure not judged: no budget)" in cut.line
    held = judge(timeline(dropped), "cilium", RESTART, Budgets(l7_proxy_failed_calls=0))
    assert not held.passed and "not met, 8 failed calls (UNAVAILABLE 8)" in held.line
    slow = judge(timeline(dropped), "cilium", RESTART, Budgets(recovery_s=0.1))
    assert not slow.passed and "calls succeeded again on every connection after" in slow.line


def test_without_a_proxy_in_the_path_a_lost_call_breaks_the_promise():
    verdict = judge(timeline(dropped), "client-side", RESTART)
    assert not verdict.passed and "not met, 8 failed calls" in verdict.line


def test_the_lab_envoy_hot_restarts_and_other_envoys_do_not():
    plain = envoy_argv("envoy", "/c.yaml")
    assert "--disable-hot-restart" in plain and "--restart-epoch" not in plain
    argv = envoy_argv("envoy", "/c.yaml", hot_restart=(1234, 2, "envoy/hot-restart"))
    assert "--disable-hot-restart" not in argv
    flags = dict(zip(argv[5::2], argv[6::2], strict=False))
    assert flags["--base-id"] == "1234" and flags["--restart-epoch"] == "2"
    assert flags["--socket-path"] == "envoy/hot-restart" and flags["--socket-mode"] == "600"
    assert argv[argv.index("--drain-strategy") + 1] == "immediate"
    # the old Envoy keeps L4 connections longer than a churn run
    assert int(argv[argv.index("--parent-shutdown-time-s") + 1]) == PARENT_SHUTDOWN_S >= 30
    assert "--skip-hot-restart-on-no-parent" in argv and argv[-2:] == ["--log-level", "warn"]


def test_each_cluster_keeps_its_own_base_id_and_skips_one_in_use(tmp_path, monkeypatch):
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(nodestartup, "SHARED_MEMORY", shm)
    one, two = tmp_path / "one", tmp_path / "two"
    for state in (one, two):
        (state / "envoy").mkdir(parents=True)
    first = nodestartup.hot_restart_base_id(one)
    assert nodestartup.hot_restart_base_id(one) == first  # kept in envoy/base-id
    assert (one / "envoy" / "base-id").read_text() == f"{first}\n"
    # another cluster's Envoy holds the memory of the id this one's hash gives: the next one
    taken = 1000 + zlib.crc32(str(two.resolve()).encode()) % 100_000
    (shm / f"envoy_shared_memory_{taken * 10}").write_text("")
    assert nodestartup.hot_restart_base_id(two) == taken + 1


def test_envoy_epoch_reads_server_info_and_says_what_else_it_got():
    info = '{"state": "LIVE", "command_line_options": {"restart_epoch": 3}}'
    assert nodestartup.envoy_epoch(info) == "LIVE 3"
    assert nodestartup.envoy_epoch("unreachable (refused)") == "unreachable (refused)"
    assert nodestartup.envoy_epoch('{"state": "PRE_INITIALIZING"}').startswith('{"state"')
