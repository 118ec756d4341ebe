"""The grpc_probe and churn roles' task files read as data (no process): every probe path waits
the same way first, the churn role's Docker calls name the engine, the L7 wait looks where Cilium
is and stops when no agent is there, no role file sets module_defaults, and no templated value is
a program. The issue-19 defects each have a check here or in a run (see each test)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ansible_cli import ROOT

PROBE = ROOT / "roles/grpc_probe/tasks"
CHURN = ROOT / "roles/churn/tasks"
MINE = [
    *sorted((ROOT / "roles/grpc_probe").rglob("*.yml")),
    *sorted((ROOT / "roles/churn").rglob("*.yml")),
    ROOT / "playbooks/churn.yml",
    ROOT / "playbooks/tasks/churn-run.yml",
    ROOT / "playbooks/vars/churn_matrix.yml",
]


def tasks(path: Path) -> list[dict]:
    """Every task of a file, blocks opened (block, rescue, always), in order."""
    found = []
    for task in yaml.safe_load(path.read_text()) or []:
        found.append(task)
        for part in ("block", "rescue", "always"):
            found += [t for t in task.get(part) or []]
            for inner in task.get(part) or []:
                for sub in ("block", "rescue", "always"):
                    found += inner.get(sub) or []
    return found


def included(path: Path) -> list[str]:
    names = []
    for task in tasks(path):
        for key in ("ansible.builtin.include_tasks", "ansible.builtin.import_tasks"):
            value = task.get(key)
            if value is not None:
                names.append(value["file"] if isinstance(value, dict) else value)
    return names


@pytest.mark.parametrize("entry", ["lab.yml", "kubernetes.yml", "start.yml"])
def test_every_probe_path_gets_ready_first(entry):
    # issue 19 defect 1: the churn path never ran the DNS and L7 waits the plain path ran
    names = included(PROBE / entry)
    assert names[0] == "ready.yml", names
    (dispatch,) = included(PROBE / "ready.yml")
    assert "'ready-' ~ grpclab_platform ~ '.yml', 'ready-kubernetes.yml'" in dispatch
    assert "l7-ready.yml" in included(PROBE / "ready-kubernetes.yml")
    text = (PROBE / "ready-kubernetes.yml").read_text()
    assert "Wait until cluster DNS answers" in text and "Cilium agent" in text


def test_the_plain_probe_dispatches_to_the_platforms_path():
    (run, verdict) = included(PROBE / "main.yml")
    assert "[grpclab_platform ~ '.yml', 'kubernetes.yml']" in run and verdict == "verdict.yml"


def test_no_task_file_branches_on_the_platform():
    for path in [*PROBE.glob("*.yml"), *CHURN.glob("*.yml")]:
        assert not re.search(r"when:.*grpclab_platform", path.read_text()), path


def test_the_churn_role_starts_and_collects_the_probe_through_grpc_probe():
    main = tasks(CHURN / "main.yml")
    used = [
        t["ansible.builtin.include_role"]["tasks_from"]
        for t in main
        if "ansible.builtin.include_role" in t
    ]
    assert used == ["start.yml", "collect.yml", "verdict.yml"]
    text = "".join(p.read_text() for p in CHURN.glob("*.yml"))
    assert "grpclab.probe" not in text and "grpclab-probe" not in text  # no probe command here


def test_the_settle_wait_is_the_whole_rollout():
    # issue 19 defect 2: waiting for Available=True returned at once after a rollout-restart
    text = (CHURN / "settle-kubernetes.yml").read_text()
    assert "until: __churn_deployment_info.resources" in text
    assert "grpclab.lab.deployment_settled" in text
    assert "wait_condition" not in text


def test_no_wait_for_with_a_float():
    # issue 19 defect 3: wait_for's timeout is an int; churn_at is a float
    for path in MINE:
        assert "ansible.builtin.wait_for" not in path.read_text(), path


def test_the_crash_names_the_docker_engine():
    # issue 19 defect 4: the crash's docker_container_exec got no docker_host
    docker = [
        t
        for t in tasks(CHURN / "kubernetes.yml")
        if any(key.startswith("community.docker.") for key in t)
    ]
    assert len(docker) == 2
    for task in docker:
        (args,) = [v for k, v in task.items() if k.startswith("community.docker.")]
        assert args["docker_host"] == "{{ grpclab_docker_host | default(omit) }}", task["name"]


def test_the_l7_wait_looks_where_cilium_is_and_stops_on_no_agent():
    # issue 19 defect 6: agents looked up in another namespace than the cilium role's: an empty
    # list, a loop of zero, a wait that checked nothing
    found = tasks(PROBE / "l7-ready.yml")
    names = [t["name"] for t in found]
    agents = found[names.index("Find the Cilium agents")]["kubernetes.core.k8s_info"]
    assert agents["namespace"] == "{{ grpclab_cilium_namespace }}"
    stop = found[names.index("Find the Cilium agents") + 1]
    assert "ansible.builtin.fail" in stop
    assert stop["when"] == "__grpc_probe_agents.resources | length == 0"
    assert "grpc_probe_cilium_namespace" not in (PROBE / "l7-ready.yml").read_text()


def test_no_role_file_sets_module_defaults():
    # the plays set them, once each (playbooks/scenarios/scenario.yml, churn.yml's matrix play)
    for path in MINE:
        if "roles" not in path.parts:
            continue
        assert not re.search(r"^\s*-?\s*module_defaults:", path.read_text(), re.MULTILINE), path


def test_each_lookup_is_written_once():
    text = {path: path.read_text() for path in MINE}
    for needle in (
        "query('grpclab.lab.get', 'services'",
        "label_selectors: [app=grpc-client]",
        "'dns:///' if grpc_probe_service == 'grpc-server-headless'",
        "Stop on a probe that could not run\n  ansible.builtin.fail",
    ):
        where = [str(p.relative_to(ROOT)) for p, t in text.items() if needle in t]
        assert len(where) == 1 and sum(t.count(needle) for t in text.values()) == 1, (needle, where)


def test_a_runs_server_age_outranks_the_scenario_definitions_left_by_earlier_runs():
    # max-age.yml, read with include_vars, sets the server's age (3 s on the lab) and stays in
    # the host's variables: as block variables (lower than include_vars) the next runs' own age
    # (0) lost, and every run after max-age had its servers close connections every 3 s (cilium-l4
    # scale-out then failed: connections moved to the new replicas). Include parameters rank
    # above include_vars.
    plays = yaml.safe_load((ROOT / "playbooks/churn.yml").read_text())
    (include,) = [
        task
        for play in plays
        for task in play.get("tasks") or []
        if task.get("ansible.builtin.include_tasks") == "tasks/churn-run.yml"
    ]
    for name in (
        "grpc_apps_server_max_connection_age",
        "grpc_apps_server_max_connection_age_grace",
        "churn_budgets",
        "churn_action",
    ):
        assert name in include["vars"], name
    for task in tasks(ROOT / "playbooks/tasks/churn-run.yml"):
        assert "grpc_apps_server_max_connection_age" not in (task.get("vars") or {}), task["name"]
