"""The plays are data, not copies: one scenario play for every scenario, each entry playbook
the prelude and that play with the scenario's name, compare importing the same play per
scenario; module_defaults set once per play, never in a role file (issue 15, steps 3 and 4)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(path.stem for path in (ROOT / "playbooks/vars/scenarios").glob("*.yml"))
SCENARIO_PLAY = "scenarios/scenario.yml"
GROUPS = {
    "group/kubernetes.core.k8s",
    "group/kubernetes.core.helm",
    "group/community.docker.docker",
}


def load(path: Path):
    return yaml.safe_load(path.read_text())


def test_each_scenario_has_a_short_entry_playbook_of_the_one_scenario_play() -> None:
    assert SCENARIOS == [
        "baseline",
        "cilium",
        "cilium-l4",
        "cilium-streams",
        "client-side",
        "max-age",
    ]
    for name in SCENARIOS:
        prelude, play = load(ROOT / "playbooks" / f"{name}.yml")
        assert prelude["ansible.builtin.import_playbook"] == "prelude.yml"
        assert prelude["vars"] == {"prelude_scenarios": [name]}
        assert play["ansible.builtin.import_playbook"] == SCENARIO_PLAY
        assert play["vars"] == {"grpclab_scenario": name}
        assert load(ROOT / "playbooks/vars/scenarios" / f"{name}.yml")["grpclab_scenario"] == name
    # the one scenario play: there is no other
    assert sorted(p.name for p in (ROOT / "playbooks/scenarios").glob("*.yml")) == ["scenario.yml"]


def test_compare_imports_the_same_play_per_scenario_without_enforcing() -> None:
    plays = load(ROOT / "playbooks/compare.yml")
    imports = [
        play for play in plays if play.get("ansible.builtin.import_playbook") == SCENARIO_PLAY
    ]
    assert [play["vars"]["grpclab_scenario"] for play in imports] == [
        "baseline",
        "cilium",
        "cilium-l4",
        "client-side",
        "cilium-streams",
    ]
    assert all(play["vars"]["grpc_probe_enforce"] is False for play in imports)
    assert plays[0]["vars"]["prelude_scenarios"] == [
        play["vars"]["grpclab_scenario"] for play in imports
    ]


def test_the_scenario_play_reads_the_scenario_data_and_sets_the_module_defaults() -> None:
    (play,) = load(ROOT / "playbooks" / SCENARIO_PLAY)
    assert play["vars_files"] == ["../vars/scenarios/{{ grpclab_scenario }}.yml"]
    assert set(play["module_defaults"]) == GROUPS
    assert [role["role"] for role in play["roles"]] == ["grpclab", "cluster", "cilium", "grpc_apps"]
    for name in ("cluster", "cilium", "grpc_apps"):
        assert name in next(r for r in play["roles"] if r["role"] == name)["tags"]


def test_teardown_sets_the_module_defaults_in_each_play() -> None:
    plays = [play for play in load(ROOT / "playbooks/teardown.yml") if "hosts" in play]
    assert len(plays) == 2
    assert all(set(play["module_defaults"]) == GROUPS for play in plays)


def test_no_role_file_of_the_cluster_cilium_or_apps_sets_module_defaults() -> None:
    for role in ("grpclab", "cluster", "cilium", "grpc_apps"):
        for path in (ROOT / "roles" / role).rglob("*.yml"):
            assert "module_defaults" not in path.read_text().replace(
                "the play's module_defaults", ""
            ), path.relative_to(ROOT)
