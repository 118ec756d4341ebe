"""The grpc_probe and churn roles' Python (the collection's filters, pure functions): the probe's
argv, its verdict dispatch, the line that runs it in the background, the settle test after a
churn action, the lab's action argv and the churn matrix's runs. No process, no port."""

from __future__ import annotations

import shlex
import sys
from types import SimpleNamespace

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_cli import ROOT

sys.path.insert(0, str(ROOT / "collections/ansible_collections/grpclab/lab/plugins/filter"))
from churn_lab_argv import churn_lab_argv
from churn_lanes import churn_lanes
from churn_runs import churn_runs
from daemonset_settled import daemonset_settled
from deployment_settled import deployment_settled
from probe_argv import probe_argv
from probe_background import background_script, probe_background
from probe_verdict import judge, parse

SETTINGS = {
    "duration": 0,
    "rate": 200,
    "calls": None,
    "concurrency": None,
    "connections": 4,
    "expect": "spread",
    "replicas": 3,
    "min_share": 0.5,
    "max_error_rate": 0.0,
    "timeout": 5.0,
    "lb": "pick_first",
}
TAIL = [
    "--connections",
    "4",
    "--expect",
    "spread",
    "--replicas",
    "3",
    "--min-share",
    "0.5",
    "--max-error-rate",
    "0.0",
    "--timeout",
    "5.0",
    "--connect-timeout",
    "5.0",
    "--lb",
    "pick_first",
    "--json",
]


def test_the_probe_sizes_its_calls_when_none_are_set():
    argv = probe_argv("10.0.0.1:50051", ["grpclab-probe"], SETTINGS)
    assert argv == ["grpclab-probe", "--target", "10.0.0.1:50051", *TAIL]


def test_calls_and_concurrency_only_when_set():
    argv = probe_argv("t:1", ["p"], {**SETTINGS, "calls": 60, "concurrency": 2})
    assert argv[3:7] == ["--calls", "60", "--concurrency", "2"]


def test_over_time_the_duration_and_rate_replace_the_calls():
    argv = probe_argv("t:1", ["p"], {**SETTINGS, "duration": "8", "rate": 100, "calls": 60})
    assert argv[3:7] == ["--duration", "8", "--rate", "100"] and "--calls" not in argv


@pytest.mark.parametrize(
    "expect, given", [("rotating", "none"), ("pinned", "pinned"), ("none", "none")]
)
def test_rotating_is_judged_by_the_role_so_the_probe_expects_none(expect, given):
    argv = probe_argv("t:1", ["p"], {**SETTINGS, "expect": expect})
    assert argv[argv.index("--expect") + 1] == given


def test_the_role_builds_the_argv_with_the_filter():
    # the role's vars/main.yml builds the same argv for the lab and the client pod
    text = (ROOT / "roles/grpc_probe/vars/main.yml").read_text()
    assert "grpclab.lab.probe_argv" in text
    assert max(len(line) for line in text.splitlines()) < 200


RESULT = {"schema": "grpclab.probe/v2", "passed": True, "summary": "ok", "timeline": {"x": 1}}


def test_the_verdict_is_the_probes_own_unless_rotating_or_churn():
    assert judge(RESULT, "spread") == RESULT
    run = SimpleNamespace(
        verdict_result=lambda result, rate: {**result, "judged": "rotating"},
        judge_result=lambda result, *args: {**result, "judged": args[:2]},
    )
    assert judge(RESULT, "rotating", run=run)["judged"] == "rotating"
    churn = {"remedy": "cilium", "action": "scale-out", "at_unix": "1.5", "before": ["a"]}
    # a churn run is judged around its action even when the promise is rotating
    assert judge(RESULT, "rotating", churn=churn, run=run)["judged"] == ("cilium", "scale-out")


def test_an_empty_output_is_one_line_not_a_json_traceback():
    with pytest.raises(AnsibleFilterError, match="printed no result"):
        parse("")
    assert parse('{"passed": false}') == {"passed": False}


def test_the_exit_code_file_appears_whole():
    # issue 19 defect 5: `echo $? > rc` creates rc empty before writing it; a poll in that gap
    # read '' (int 0: a failed probe passed). The code goes to a file aside, then is renamed.
    script = background_script(["grpclab-probe", "--target", "a b"], "/tmp/x")
    assert "echo $? > /tmp/x.rc.tmp" in script and "mv -f /tmp/x.rc.tmp /tmp/x.rc" in script
    assert "> /tmp/x.rc;" not in script and "> /tmp/x.rc)" not in script
    assert "'a b'" in script
    line = probe_background(["p"], "/tmp/x")
    assert shlex.split(line) == ["sh", "-c", background_script(["p"], "/tmp/x")]


def deployment(generation=2, observed=2, wanted=3, **status):
    counts = {
        "replicas": wanted,
        "updatedReplicas": wanted,
        "readyReplicas": wanted,
        "availableReplicas": wanted,
        **status,
    }
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": wanted},
        "status": {
            "observedGeneration": observed,
            **counts,
            "conditions": [{"type": "Available", "status": "True"}],
        },
    }


def test_a_rollout_is_settled_only_when_every_replica_is_new_and_ready():
    # issue 19 defect 2: Available=True holds through a rolling update with 3 replicas
    assert deployment_settled(deployment())
    assert not deployment_settled(deployment(observed=1))  # the controller has not seen it yet
    assert not deployment_settled(deployment(updatedReplicas=1))  # old pods still serve
    assert not deployment_settled(deployment(replicas=4))  # one old left
    assert not deployment_settled(deployment(readyReplicas=2, availableReplicas=2))
    assert not deployment_settled(None)
    assert deployment_settled(
        {
            "metadata": {"generation": 3},
            "spec": {"replicas": 0},
            "status": {"observedGeneration": 3},
        }
    )


def test_the_lab_action_argv():
    head = ["py", "-m", "grpclab.lab", "--state-dir", "/s"]
    assert churn_lab_argv("scale-out", "py", "/s", "grpc-server", "ns", replicas=5) == [
        *head,
        "scale",
        "deployment",
        "grpc-server",
        "--replicas",
        "5",
        "-n",
        "ns",
    ]
    assert churn_lab_argv("delete-pod", "py", "/s", "d", "ns", victim={"name": "p1"}) == [
        *head,
        "delete",
        "pod",
        "p1",
        "-n",
        "ns",
    ]
    assert churn_lab_argv("rollout-restart", "py", "/s", "d", "ns")[5:] == [
        "rollout",
        "restart",
        "deployment",
        "d",
        "-n",
        "ns",
    ]
    # the proxy's DaemonSet, in kube-system: on the lab, the node's Envoy
    assert churn_lab_argv("proxy-restart", "py", "/s", "d", "ns", proxy="kube-proxy") == [
        *head,
        *("rollout", "restart", "daemonset", "kube-proxy", "-n", "kube-system"),
    ]
    crash = churn_lab_argv("crash", "py", "/s", "d", "ns", victim={"name": "p1", "pid": 42})
    assert crash[:2] == ["py", "-c"] and crash[-1] == "42"
    with pytest.raises(AnsibleFilterError, match="no churn action 'nap'"):
        churn_lab_argv("nap", "py", "/s", "d", "ns")


def daemonset(generation=2, observed=2, desired=3, **status):
    counts = {
        "desiredNumberScheduled": desired,
        "updatedNumberScheduled": desired,
        "numberAvailable": desired,
        "numberReady": desired,
        **status,
    }
    return {
        "metadata": {"generation": generation},
        "status": {"observedGeneration": observed, **counts},
    }


def test_a_daemonset_is_settled_only_when_every_node_runs_a_new_ready_pod():
    # proxy-restart's wait on kind and existing (cilium-envoy, cilium, kube-proxy)
    assert daemonset_settled(daemonset())
    assert not daemonset_settled(daemonset(observed=1))  # the controller has not seen it yet
    assert not daemonset_settled(daemonset(updatedNumberScheduled=2))  # an old pod on a node
    assert not daemonset_settled(daemonset(numberReady=2))  # the new pod not ready yet
    assert not daemonset_settled(daemonset(numberAvailable=2))
    assert not daemonset_settled(daemonset(desired=0))  # nothing scheduled: no proxy runs
    assert not daemonset_settled(None)


MATRIX = yaml.safe_load((ROOT / "playbooks/vars/churn_matrix.yml").read_text())["churn_matrix"]


def test_the_matrix_runs_every_remedy_against_every_action():
    runs = churn_runs(MATRIX)
    assert len(runs) == 24  # 6 remedies x 4 actions
    assert [(r["remedy"], r["action"]) for r in runs[:3]] == [
        ("baseline", "scale-out"),
        ("baseline", "delete-pod"),
        ("baseline", "rollout-restart"),
    ]
    by = {(r["remedy"], r["action"]): r for r in runs}
    assert by["baseline", "scale-out"] == {
        "remedy": "baseline",
        "scenario": "baseline",
        "action": "scale-out",
        "at": 3,
        "duration": 10,
        "connections": 4,
        "max_age": 0,
        "max_age_grace": 0,
        "budgets": {},
        "cni": None,
    }
    assert by["client-side", "rollout-restart"]["duration"] != 10  # waits for re-resolution
    assert by["client-side", "scale-out"]["duration"] == 10
    assert by["client-side-max-age", "delete-pod"]["scenario"] == "client-side"
    assert by["max-age", "scale-out"]["max_age"] == "scenario"
    # proxy-restart promises no rotation and waits for no re-resolution: a plain run
    assert {r["duration"] for r in runs if r["action"] == "proxy-restart"} == {10}


def test_a_remedy_or_an_action_is_one_entry():
    matrix = {
        **MATRIX,
        "actions": [*MATRIX["actions"], "crash"],
        "remedies": [*MATRIX["remedies"], {"remedy": "cilium-fast", "scenario": "cilium", "at": 1}],
    }
    runs = churn_runs(matrix)
    assert len(runs) == 7 * 5
    assert {r["at"] for r in runs if r["remedy"] == "cilium-fast"} == {1}


def test_a_selection_keeps_those_runs_and_refuses_unknown_names():
    runs = churn_runs(MATRIX, remedies="cilium,baseline", actions=["scale-out"])
    assert [(r["remedy"], r["action"]) for r in runs] == [
        ("baseline", "scale-out"),
        ("cilium", "scale-out"),
    ]
    with pytest.raises(AnsibleFilterError, match="no remedy nope: it has baseline, max-age"):
        churn_runs(MATRIX, remedies=["nope"])
    with pytest.raises(AnsibleFilterError, match="no action scale-sideways"):
        churn_runs(MATRIX, actions="scale-sideways")


def test_any_service_options_only_when_set():
    # the role's defaults: empty strings, empty lists, null, false - nothing added
    unset = {"call": "", "data": "", "identity": [], "headers": [], "messages": None}
    unset |= {"tls": False, "cacert": "", "cert": "", "key": "", "server_name": ""}
    argv = probe_argv("t:1", ["p"], {**SETTINGS, **unset, "authority": ""})
    assert argv == ["p", "--target", "t:1", *TAIL]


def test_any_service_options_in_the_probes_flag_names():
    argv = probe_argv(
        "orders.shop:50051",
        ["grpclab-probe"],
        {
            **SETTINGS,
            "call": "shop.Orders/Get",
            "data": {"id": "42", "tags": ["a"]},
            "identity": ["trailer:x-served-by", "field:pod.name~^(\\S+)"],
            "messages": 5,
            "tls": "True",
            "cacert": "/etc/grpclab-probe/tls/ca.crt",
            "cert": "/etc/grpclab-probe/tls/tls.crt",
            "key": "/etc/grpclab-probe/tls/tls.key",
            "server_name": "orders.internal",
            "authority": "orders",
            "headers": ["authorization: Bearer s3cret", "x-tenant: 7"],
        },
    )
    tail = argv[argv.index("--json") + 1 :]
    assert tail == [
        "--call",
        "shop.Orders/Get",
        "-d",
        '{"id":"42","tags":["a"]}',
        "--identity",
        "trailer:x-served-by",
        "--identity",
        "field:pod.name~^(\\S+)",
        "--messages",
        "5",
        "--tls",
        "--cacert",
        "/etc/grpclab-probe/tls/ca.crt",
        "--cert",
        "/etc/grpclab-probe/tls/tls.crt",
        "--key",
        "/etc/grpclab-probe/tls/tls.key",
        "--server-name",
        "orders.internal",
        "--authority",
        "orders",
        "-H",
        "authorization: Bearer s3cret",
        "-H",
        "x-tenant: 7",
    ]


def test_json_text_data_is_passed_as_it_is():
    argv = probe_argv("t:1", ["p"], {**SETTINGS, "data": '{"name": "x"}'})
    assert argv[argv.index("-d") + 1] == '{"name": "x"}'


SCENARIO_CNI = {
    "baseline": "default",
    "max-age": "default",
    "cilium": "cilium",
    "cilium-l4": "cilium",
    "client-side": "cilium",
}
TWO_CLUSTERS = {
    "default": {"name": "grpclab-baseline", "key": "b/kubeconfig kind-grpclab-baseline"},
    "cilium": {"name": "grpclab-cilium", "key": "c/kubeconfig kind-grpclab-cilium"},
}


def test_the_matrix_is_one_lane_per_cluster_each_in_the_matrix_order():
    runs = churn_runs(MATRIX)
    lanes = churn_lanes(runs, SCENARIO_CNI, TWO_CLUSTERS)
    assert [lane["name"] for lane in lanes] == ["grpclab-baseline", "grpclab-cilium"]
    baseline, cilium = (lane["runs"] for lane in lanes)
    # client-side takes the baseline cluster (its cni in the matrix), client-side-max-age its
    # scenario's: the lanes even out
    assert list(dict.fromkeys(r["remedy"] for r in baseline)) == [
        "baseline",
        "max-age",
        "client-side",
    ]
    assert list(dict.fromkeys(r["remedy"] for r in cilium)) == [
        "cilium",
        "cilium-l4",
        "client-side-max-age",
    ]
    assert {r["cni"] for r in baseline} == {"default"} and {r["cni"] for r in cilium} == {"cilium"}
    # every run once, with its place in the matrix
    indexes = sorted(r["index"] for lane in lanes for r in lane["runs"])
    assert indexes == list(range(len(runs)))
    for lane in lanes:
        assert [r["index"] for r in lane["runs"]] == sorted(r["index"] for r in lane["runs"])
        assert all(runs[r["index"]]["remedy"] == r["remedy"] for r in lane["runs"])


def test_two_cnis_on_one_real_cluster_are_one_lane():
    # an existing cluster: one kubeconfig and context for both CNIs
    same = {cni: {"name": f"grpclab-{cni}", "key": "~/.kube/x grpclab"} for cni in TWO_CLUSTERS}
    runs = churn_runs(MATRIX)
    (lane,) = churn_lanes(runs, SCENARIO_CNI, same)
    assert lane["name"] == "grpclab-default+grpclab-cilium"
    assert [r["index"] for r in lane["runs"]] == list(range(len(runs)))


def test_a_run_whose_cluster_is_unknown_is_refused():
    with pytest.raises(AnsibleFilterError, match="baseline scale-out: no CNI known"):
        churn_lanes(churn_runs(MATRIX), {}, TWO_CLUSTERS)
    with pytest.raises(AnsibleFilterError, match="no cluster known for CNI default"):
        churn_lanes(churn_runs(MATRIX), SCENARIO_CNI, {"cilium": TWO_CLUSTERS["cilium"]})
