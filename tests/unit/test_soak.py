"""The chaos soak's accounting (grpclab.churn.soak): windows, failed calls in and out of them,
convergence gaps, and the /proc parsers the leftovers and memory checks read."""

from __future__ import annotations

import pytest

from grpclab.churn import Budgets, soak

T0 = 1_800_000_000.0  # the probe's start, wall clock


def timeline(*failed_at: float, ok_every: float = 0.5, until: float = 30.0) -> dict:
    """Calls every ``ok_every`` s answered by replica r1, and one failed call at each time."""
    calls = [[i * ok_every, 0, "r1", "OK", 1.0] for i in range(int(until / ok_every))]
    calls += [[t, 1, None, "UNAVAILABLE", None] for t in failed_at]
    return {"start_unix": T0, "calls": sorted(calls)}


def test_each_kind_gets_the_cilium_recovery_budget_and_scale_out_none():
    assert soak.recovery_budget("delete-pod") == 10.0
    assert soak.recovery_budget("rollout-restart") == 10.0
    assert soak.recovery_budget("crash") == 10.0
    assert soak.recovery_budget("scale-in") == 10.0
    assert soak.recovery_budget("delete-pod", Budgets(recovery_s=3.0)) == 3.0
    assert soak.recovery_budget("scale-out") == 0.0  # adding replicas promises no failed call
    assert soak.recovery_budget("no-such-action") is None


def test_a_window_runs_from_the_lead_before_the_action_to_its_budget_after_its_end():
    [win] = soak.windows([soak.Taken("delete-pod", T0 + 5, T0 + 6)])
    assert (win.start_unix, win.end_unix) == (T0 + 5 - soak.LEAD_S, T0 + 6 + 10.0)


def test_failed_calls_inside_a_window_count_for_its_kind_and_others_are_outside():
    taken = [soak.Taken("crash", T0 + 5, T0 + 5.01), soak.Taken("scale-out", T0 + 20, T0 + 20.3)]
    # 4.5 s: within the lead before the crash; 15.0 s: the crash's last moment; 15.2 s: after it;
    # 20.1 s: during a scale-out, which promises no failed call
    acc = soak.account(timeline(4.5, 9.0, 15.0, 15.2, 20.1), soak.windows(taken))
    assert acc.calls == 60 + 5
    assert acc.failed == 5
    assert acc.inside == {"crash": 3}
    assert [round(at - T0, 2) for at, _ in acc.outside] == [15.2, 20.1]
    line = soak.outside_line(acc, T0)
    assert line.startswith("failed calls outside every action's window: 2 (at 15.20 s")


def test_a_call_before_the_lead_is_outside_and_no_failure_gives_no_line():
    acc = soak.account(timeline(3.9), soak.windows([soak.Taken("delete-pod", T0 + 5, T0 + 6)]))
    assert len(acc.outside) == 1 and not acc.inside
    assert soak.outside_line(soak.account(timeline(), []), T0) is None


def test_a_skipped_action_opens_no_window_and_an_unknown_one_an_empty_window():
    skipped = soak.Taken("proxy-restart", T0 + 5, T0 + 5, skipped="not here")
    assert soak.windows([skipped]) == []
    [empty] = soak.windows([soak.Taken("no-such-action", T0 + 5, T0 + 6)])
    assert empty.start_unix == empty.end_unix == T0 + 5
    acc = soak.account(timeline(5.5), [empty])
    assert len(acc.outside) == 1  # never silently inside


def test_overlapping_windows_count_a_call_once():
    taken = [soak.Taken("delete-pod", T0 + 5, T0 + 6), soak.Taken("crash", T0 + 8, T0 + 8)]
    acc = soak.account(timeline(9.0, 17.5), soak.windows(taken))
    assert acc.inside == {"delete-pod": 1, "crash": 1}
    assert acc.failed_inside == 2 and not acc.outside


def status(ready=("127.0.1.2", "127.0.1.3"), replicas=2, endpoints=None, fingerprint="f1"):
    pods = [
        {"name": f"p{i}", "deployment": "grpc-server", "ip": ip, "ready": True, "phase": "Running"}
        for i, ip in enumerate(ready)
    ]
    eps = [f"{ip}:50051" for ip in ready] if endpoints is None else endpoints
    return {
        "manifests": fingerprint,
        "error": "",
        "deployments": [
            {
                "name": "grpc-server",
                "namespace": "grpc-server",
                "replicas": replicas,
                "ready": len(ready),
                "updated": len(ready),
                "total": len(ready),
            }
        ],
        "pods": pods,
        "services": [
            {
                "name": "grpc-server",
                "namespace": "grpc-server",
                "type": "ClusterIP",
                "port": 50051,
                "endpoints": eps,
            },
            {
                "name": "grpc-server-headless",
                "namespace": "grpc-server",
                "type": "Headless",
                "port": 50051,
                "endpoints": eps,
            },
        ],
    }


def clusters(*hosts: str, health: str = "HEALTHY") -> dict:
    return {
        "cluster_statuses": [
            {
                "name": "grpc-server.grpc-server.50051",
                "host_statuses": [
                    {
                        "address": {"socket_address": {"address": h, "port_value": 50051}},
                        "health_status": {"eds_health_status": health},
                    }
                    for h in hosts
                ],
            }
        ]
    }


def gaps(st, hosts, replicas=2, fingerprint="f1"):
    return soak.convergence_gaps(st, fingerprint, "grpc-server", replicas, soak.envoy_hosts(hosts))


def test_a_converged_lab_has_no_gap():
    assert gaps(status(), clusters("127.0.1.2", "127.0.1.3")) == []
    assert gaps(status(), clusters("127.0.1.2", "127.0.1.3"), replicas=None) == []


@pytest.mark.parametrize(
    ("st", "hosts", "replicas", "fingerprint", "gap"),
    [
        (status(), clusters("127.0.1.2", "127.0.1.3"), 3, "f1", "desired 3"),
        (status(), clusters("127.0.1.2", "127.0.1.3"), 2, "f2", "not read the current"),
        (status(), clusters("127.0.1.2"), 2, "f1", "hosts missing 127.0.1.3:50051"),
        (
            status(),
            clusters("127.0.1.2", "127.0.1.3", "127.0.1.9"),
            2,
            "f1",
            "hosts extra 127.0.1.9:50051",
        ),
        (
            status(endpoints=["127.0.1.2:50051"]),
            clusters("127.0.1.2"),
            2,
            "f1",
            "service grpc-server: endpoints missing 127.0.1.3:50051",
        ),
        (status(), clusters("127.0.1.2", "127.0.1.3", health="UNHEALTHY"), 2, "f1", "not healthy"),
        (status(), {"cluster_statuses": []}, 2, "f1", "Envoy has no cluster"),
    ],
)
def test_each_gap_from_the_desired_state_is_named(st, hosts, replicas, fingerprint, gap):
    found = gaps(st, hosts, replicas, fingerprint)
    assert any(gap in line for line in found), found


def test_a_pod_not_ready_is_a_gap():
    st = status()
    st["pods"][1]["ready"] = False
    st["services"][0]["endpoints"] = ["127.0.1.2:50051"]
    found = gaps(st, clusters("127.0.1.2"))
    assert any("not Ready or terminating: p1" in line for line in found), found


TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid
   0: 0102007F:C383 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0
   1: 0102007F:C383 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0
   2: 0109007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0
"""
TCP6 = """  sl  local_address                         remote_address                        st
   0: 0000000000000000FFFF00000201007F:C383 00000000000000000000000000000000:0000 0A
"""


def test_listeners_are_read_from_proc_net_within_the_networks_only():
    # 127.0.2.1:50051 listening (v4), 127.0.1.2:50051 (v4-mapped v6); 127.0.9.1 is elsewhere;
    # the established connection is no listener
    assert soak.listening([TCP, TCP6], ["127.0.1", "127.0.2"]) == {
        "127.0.2.1:50051",
        "127.0.1.2:50051",
    }


def test_rss_and_its_check():
    assert soak.rss_kib("Name:\tenvoy\nVmRSS:\t   70552 kB\nThreads: 9\n") == 70552
    assert soak.rss_kib("Name:\tzombie\n") == 0
    assert soak.rss_line("Envoy", 1000, 1100) is None
    line = soak.rss_line("Envoy", 1000, 1101)
    assert line.startswith("RSS of Envoy grew +10.1%")
    assert soak.rss_line("node", 1000, 500) is None


def test_extra_names_what_is_left_over():
    assert soak.extra_line("pid files", {"a.pid"}, {"a.pid"}) is None
    assert (
        soak.extra_line("pid files", {"a.pid"}, {"b.pid", "a.pid"}) == "left over: pid files b.pid"
    )
    assert soak.percentiles([3.0, 1.0, 2.0]) == (2.0, 3.0)
    assert soak.percentiles([]) is None
