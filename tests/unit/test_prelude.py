"""The prelude's judgements in Python (collection plugin_utils/prelude.py and its filters): the
renames kept as data and refused in one line, the inputs checked against the argument specs
alone and with each scenario, the lab's replica cap, the lab node's planned addresses."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))
from ansible_collections.grpclab.lab.plugins.filter.lab_addresses import lab_addresses  # noqa: E402
from ansible_collections.grpclab.lab.plugins.filter.one_line import one_line  # noqa: E402
from ansible_collections.grpclab.lab.plugins.plugin_utils import prelude  # noqa: E402

RENAMED = yaml.safe_load((ROOT / "playbooks/vars/renamed.yml").read_text())["renamed"]
# every rename of the 0.2.0 layout (the helpers' common brief), old -> new
RENAMES_0_2 = {
    "kind_cluster_state": "cluster_state",
    "kind_cluster_kind_command": "cluster_kind_command",
    "kind_cluster_node_image": "cluster_kind_node_image",
    "kind_cluster_nodes_ready_timeout": "cluster_nodes_ready_timeout",
    "kind_cluster_workers": "grpclab_workers",
    "cilium_namespace": "grpclab_cilium_namespace",
    "grpc_probe_cilium_namespace": "grpclab_cilium_namespace",
    "grpc_probe_churn": "churn_action",
    "grpc_probe_churn_at": "churn_at",
    "grpc_probe_churn_duration": "churn_duration",
    "grpc_probe_churn_deployment": "churn_deployment",
    "grpc_probe_churn_remedy": "churn_remedy",
    "grpc_probe_churn_budgets": "churn_budgets",
    **{
        f"kind_cluster_lab_{name}": f"cluster_lab_{name}"
        for name in (
            "envoy_binary",
            "envoy_concurrency",
            "envoy_log_level",
            "dns_address",
            "ready_timeout",
            "stop_timeout",
        )
    },
}


def test_renamed_yml_holds_every_rename_with_its_versions() -> None:
    entries = prelude.check_renames(RENAMED)
    by_old = {entry["old"]: entry for entry in entries}
    for old, new in RENAMES_0_2.items():
        assert by_old[old]["new"] == new, old
        assert (by_old[old]["since"], by_old[old]["removed_in"]) == ("0.2.0", "0.4.0"), old
    # the renames the prelude refused before 0.2.0 are there too, pointing at today's names
    assert by_old["grpc_apps_replicas"]["new"] == "grpclab_replicas"
    assert by_old["cilium_lab_envoy_log_level"]["new"] == "cluster_lab_envoy_log_level"
    for entry in entries:
        assert re.fullmatch(r"\d+\.\d+\.\d+", entry["since"])
        assert entry["removed_in"] > entry["since"]


def test_no_new_name_is_itself_renamed() -> None:
    olds = {entry["old"] for entry in RENAMED}
    assert [entry["new"] for entry in RENAMED if entry.get("new") in olds] == []


def test_every_new_name_is_an_option_of_a_spec_or_a_churn_variable() -> None:
    options = set()
    specs = [
        *ROOT.glob("roles/*/meta/argument_specs.yml"),
        ROOT / "playbooks/vars/argument_specs.yml",
    ]
    for spec in specs:
        options |= set(yaml.safe_load(spec.read_text())["argument_specs"]["main"]["options"])
    missing = {entry["new"] for entry in RENAMED if "new" in entry} - options
    # the churn role's variables arrive with the churn branch
    assert {name for name in missing if not name.startswith("churn_")} == set()


def test_an_old_name_is_refused_in_one_line_naming_the_new_one() -> None:
    line = prelude.refuse_renamed(RENAMED, ["grpclab_platform", "kind_cluster_workers"])
    assert line == (
        "kind_cluster_workers is now called grpclab_workers (renamed in 0.2.0, the "
        "old name goes in 0.4.0): rename them where they are set (-e, inventory)"
    )
    assert "\n" not in line
    assert prelude.refuse_renamed(RENAMED, ["grpclab_workers", "cluster_state"]) == ""


def test_a_variable_that_is_gone_is_refused_saying_why() -> None:
    # the lab's Envoy admin address: a unix socket in the state directory now, no variable
    given = ["cluster_lab_envoy_admin_address", "kind_cluster_lab_envoy_admin_address"]
    line = prelude.refuse_renamed(RENAMED, given)
    why = "the lab's Envoy admin is a unix socket now"
    assert line == (
        f"kind_cluster_lab_envoy_admin_address is gone since 0.2.0 ({why}); "
        f"cluster_lab_envoy_admin_address is gone since 0.3.0 ({why}): "
        "remove or rename them where they are set (-e, inventory)"
    )
    options = set()
    for spec in ROOT.glob("roles/*/meta/argument_specs.yml"):
        options |= set(yaml.safe_load(spec.read_text())["argument_specs"]["main"]["options"])
    assert "cluster_lab_envoy_admin_address" not in options
    with pytest.raises(ValueError, match="lacks gone"):
        prelude.check_renames([{"old": "a", "gone": "", "since": "1", "removed_in": "2"}])


def test_a_bad_rename_entry_is_an_error() -> None:
    with pytest.raises(ValueError, match="lacks removed_in"):
        prelude.check_renames([{"old": "a", "new": "b", "since": "0.2.0"}])
    with pytest.raises(ValueError, match="listed twice"):
        prelude.check_renames([{"old": "a", "new": "b", "since": "1", "removed_in": "2"}] * 2)


def validate(options, provided):
    return list(ArgumentSpecValidator(dict(options)).validate(dict(provided)).error_messages)


SPECS = {
    "playbooks": {"grpclab_scenario": {"type": "str", "choices": ["cilium", "baseline"]}},
    "grpc_apps": {
        "grpc_apps_lb_l7": {"type": "bool"},
        "grpc_apps_server_max_connection_age": {"type": "float"},
    },
}


def test_inputs_are_checked_alone_then_with_each_scenario_each_error_once() -> None:
    scenarios = {
        "cilium": {"grpclab_scenario": "cilium", "grpc_apps_lb_l7": "sometimes"},
        "baseline": {"grpclab_scenario": "baseline", "other": 1},
    }
    errors = prelude.input_errors(SPECS, scenarios, lambda options: {}, validate)
    assert len(errors) == 1 and errors[0].endswith("(scenario cilium)"), errors
    assert "grpc_apps_lb_l7" in errors[0]
    # a bad -e value is said once, not once per scenario
    given = {"grpclab_scenario": "canary"}
    errors = prelude.input_errors(
        SPECS,
        {"baseline": {}},
        lambda options: {name: value for name, value in given.items() if name in options},
        validate,
    )
    assert errors == ["value of grpclab_scenario must be one of: cilium, baseline, got: canary"]


def test_a_scenario_value_the_play_renders_is_left_to_the_role() -> None:
    scenarios = {"max-age": {"grpc_apps_server_max_connection_age": "{{ ages[grpclab_platform] }}"}}
    assert prelude.input_errors(SPECS, scenarios, lambda options: {}, validate) == []


def test_spec_path_takes_the_first_roles_path_that_has_the_role(tmp_path: Path) -> None:
    assert prelude.spec_path("cluster", [str(tmp_path), str(ROOT / "roles")]) == (
        ROOT / "roles/cluster/meta/argument_specs.yml"
    )
    with pytest.raises(ValueError, match="role nowhere not found"):
        prelude.spec_path("nowhere", [str(tmp_path)])


CAPACITY = {
    "by_range": 198,
    "by_memory": 40,
    "pod_range": 250,
    "per_pod_mb": 60,
    "available_mb": 2400,
}


def test_the_replica_cap_says_which_limit_in_one_line() -> None:
    assert prelude.replica_cap(3, CAPACITY) == ""
    assert prelude.replica_cap(199, CAPACITY) == (
        "grpclab_replicas=199 is more than the lab can run: its pod range of 250 addresses holds "
        "at most 198 replicas with a rollout's surge and the client; kind and existing have no "
        "such cap"
    )
    assert prelude.replica_cap("41", CAPACITY) == (
        "grpclab_replicas=41 is more than the lab can run: at about 60 MB each they need 2460 MB "
        "and 2400 MB are available, enough for 40; kind and existing have no such cap"
    )


def test_the_lab_node_binds_a_pod_per_replica_and_the_client_then_two_services() -> None:
    assert lab_addresses("127.0.1", "127.0.2", 2, "50051", ["127.0.2.253:10053"]) == [
        "127.0.1.1:50051",
        "127.0.1.2:50051",
        "127.0.1.3:50051",
        "127.0.2.1:50051",
        "127.0.2.2:50051",
        "127.0.2.253:10053",
    ]


def test_one_line_squeezes_whitespace_and_cuts() -> None:
    assert one_line("a\n  b\tc") == "a b c"
    assert one_line("x" * 200, 10) == "xxxxxxx..."
    assert one_line(None) == ""
