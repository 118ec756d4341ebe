"""The real Cilium chart rendered with the cilium role's own Helm values, for kind and existing.

The values come out of the role's render step, run through ``ansible-playbook`` on the kind and
existing inventories as the real play runs it (tests/playbooks/test_kind_render.yml). Each set
is rendered with a real ``helm template`` through both published charts, cilium 1.19.5 (the
role's default ``cilium_chart_version``) and 1.15.4 (the walk-through's), and the result is
checked: cilium-config, the workloads the role waits for, two renders byte-identical, and every
object valid against the Kubernetes schemas (kubernetes-validate), custom resources skipped.

Where: the charts in GRPCLAB_CHARTS_DIR (default ``<repo>/../shared/charts``), helm from
GRPCLAB_HELM (default ``helm`` on PATH). Without either the tests skip and say why; with
GRPCLAB_CHART_TESTS=required (.ci/run sets it) that is a failure instead.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template
from ansible_cli import ROOT, run_tool

pytestmark = pytest.mark.slow

PLAYBOOK = ROOT / "tests" / "playbooks" / "test_kind_render.yml"
REQUIRED = os.environ.get("GRPCLAB_CHART_TESTS", "") == "required"
CHARTS_DIR = Path(os.environ.get("GRPCLAB_CHARTS_DIR") or ROOT.parent / "shared" / "charts")
HELM = os.environ.get("GRPCLAB_HELM") or shutil.which("helm") or ""
CHART_VERSIONS = ("1.19.5", "1.15.4")


def load(relative: str) -> dict:
    return yaml.safe_load((ROOT / relative).read_text())


CILIUM = load("roles/cilium/defaults/main.yml")
NAMESPACE = load("roles/grpclab/defaults/main.yml")["grpclab_cilium_namespace"]
# the Kubernetes of the pinned kind node image: the chart renders for it, the schemas are its
K8S_VERSION = (
    load("roles/cluster/defaults/main.yml")["cluster_kind_node_image"]
    .split(":v", 1)[1]
    .split("@", 1)[0]
)
# the API groups of Kubernetes itself; any other group is a custom resource (no schema)
BUILTIN_GROUPS = {"", "apps", "batch", "policy", "autoscaling"}


def missing() -> str:
    """Why the chart cannot be rendered here, or ''."""
    if not HELM:
        return "no helm (GRPCLAB_HELM unset and none on PATH)"
    try:
        version = subprocess.run(
            [HELM, "version", "--short"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as error:
        return f"helm {HELM} does not run: {error}"
    if version.returncode != 0:
        return f"helm {HELM} does not run: {version.stderr.strip()[:200]}"
    absent = [v for v in CHART_VERSIONS if not (CHARTS_DIR / f"cilium-{v}.tgz").is_file()]
    if absent:
        return f"no cilium-{', '.join(absent)}.tgz in {CHARTS_DIR} (GRPCLAB_CHARTS_DIR)"
    return ""


@pytest.fixture(scope="module", autouse=True)
def chart_tools() -> None:
    reason = missing()
    if reason:
        if REQUIRED:
            pytest.fail(f"GRPCLAB_CHART_TESTS=required, but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def helm_home(tmp_path_factory) -> dict[str, str]:
    """helm's config, cache and data in a temporary directory: nothing left in $HOME."""
    home = tmp_path_factory.mktemp("helm-home")
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    for name in ("CONFIG", "CACHE", "DATA"):
        env[f"HELM_{name}_HOME"] = str(home / name.lower())
    return env


def helm_template(env: dict[str, str], version: str, *values: str) -> bytes:
    """``helm template`` of the real chart, as the role installs it (release, namespace)."""
    run = subprocess.run(
        [
            HELM,
            "template",
            CILIUM["cilium_release_name"],
            str(CHARTS_DIR / f"cilium-{version}.tgz"),
            "--namespace",
            NAMESPACE,
            "--kube-version",
            K8S_VERSION,
            *values,
        ],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    return run.stdout


def objects(rendered: bytes) -> dict[tuple[str, str], dict]:
    found = {}
    for doc in yaml.safe_load_all(rendered):
        if doc:
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, f"{key} rendered twice"
            found[key] = doc
    return found


def render_values(tmp_path_factory, inventory: str, **extra_vars) -> Path:
    """The role's render step through ansible-playbook; the state directory it wrote."""
    out = tmp_path_factory.mktemp(f"values-{inventory}")
    run = run_tool(
        "ansible-playbook",
        "-i",
        f"inventories/{inventory}",
        str(PLAYBOOK),
        "-e",
        json.dumps({"grpclab_state_dir": str(out), "grpclab_cni": "cilium", **extra_vars}),
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return out


# the role's variables on kind, in Ansible's order (later wins), for in-process renders
KIND_VARIABLE_FILES = (
    "roles/grpclab/defaults/main.yml",
    "roles/cilium/defaults/main.yml",
    "inventories/kind/group_vars/grpclab/*.yml",
    "roles/cilium/vars/main.yml",
    "roles/cilium/vars/kind.yml",
)


def trusted(value):
    """Variables as Ansible reads them from the role's files: their templates are evaluated."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {key: trusted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [trusted(item) for item in value]
    return value


@functools.cache
def collections_loaded() -> None:
    """The project's collection (grpclab.lab's filters) for the Templar, as ansible.cfg gives it.

    A unit test that imported the collection's code as a plain package (``ansible_collections``
    from sys.path) leaves it in sys.modules, where Ansible's collection finder would not look:
    the finder is installed on a clean slate.
    """
    for name in [m for m in sys.modules if m.partition(".")[0] == "ansible_collections"]:
        del sys.modules[name]
    init_plugin_loader([str(ROOT / "collections")])


def role_render(text: str, **variables) -> str:
    """TEXT templated with the cilium role's variables on kind (Ansible's own Templar)."""
    collections_loaded()
    values: dict = {}
    loader = DataLoader()
    for pattern in KIND_VARIABLE_FILES:
        for path in sorted(ROOT.glob(pattern)):
            values.update(trusted(loader.load_from_file(str(path)) or {}))
    values.update(grpclab_cni="cilium", **variables)  # as -e gives them
    return Templar(loader=loader, variables=values).template(trust_as_template(text))


VALUES_TEMPLATE = ROOT / "roles/cilium/templates/cilium-values.yaml.j2"


# kind and existing with every default of the role (existing: the inventory's AKS example), by
# ansible-playbook; and kind with a user's values that turn Hubble on and put Envoy inside the
# agent, rendered in process (test_the_in_process_render_is_the_plays: the same as the play's)
SCENARIOS = {
    "kind": ("kind", {}),
    "existing": ("existing", {}),
    "kind-hubble-agent-envoy": (
        None,
        {
            "cilium_hubble": True,
            "cilium_helm_values": {
                "envoy": {"enabled": False},
                "loadBalancer": {"l7": {"algorithm": "least_request"}},
            },
        },
    ),
}
LAB_CONFIG_TEMPLATE = ROOT / "roles/cilium/templates/cilium-config.yaml.j2"


def render_in_process(out: Path, **variables) -> Path:
    """The files of test_kind_render.yml's cilium steps, rendered with the Templar."""
    out.joinpath("cilium-values.yaml").write_text(
        role_render(VALUES_TEMPLATE.read_text(), **variables)
    )
    out.joinpath("cilium-lab-config.yaml").write_text(
        role_render(LAB_CONFIG_TEMPLATE.read_text(), **variables)
    )
    awaited = role_render("{{ __cilium_rollouts_awaited | to_json }}", **variables)
    out.joinpath("cilium-rollouts.json").write_text(awaited)
    return out


@pytest.fixture(scope="module")
def renders() -> dict:
    """Each scenario's values rendered once (pytest may set a parametrized fixture up again)."""
    return {}


def scenario_values(renders: dict, tmp_path_factory, name: str) -> Path:
    if name not in renders:
        inventory, extra_vars = SCENARIOS[name]
        if inventory is None:
            out = tmp_path_factory.mktemp(f"values-{name}")
            renders[name] = render_in_process(out, **extra_vars)
        else:
            # the plays of every inventory at once (independent runs, one per core)
            plays = {k: v for k, v in SCENARIOS.items() if v[0] is not None and k not in renders}
            with ThreadPoolExecutor(len(plays)) as pool:
                done = {
                    key: pool.submit(render_values, tmp_path_factory, inv, **more)
                    for key, (inv, more) in plays.items()
                }
            renders.update({key: future.result() for key, future in done.items()})
    return renders[name]


@pytest.fixture(params=list(SCENARIOS))
def scenario(request, renders, tmp_path_factory) -> tuple[str, Path]:
    return request.param, scenario_values(renders, tmp_path_factory, request.param)


@pytest.fixture(params=CHART_VERSIONS)
def rendered(request, renders, scenario, helm_home) -> dict:
    """The chart of one version rendered twice with one scenario's values."""
    name, state = scenario
    key = (name, request.param)
    if key not in renders:
        renders[key] = render_chart(helm_home, name, state, request.param)
    return renders[key]


def render_chart(env: dict[str, str], name: str, state: Path, version: str) -> dict:
    values = state / "cilium-values.yaml"
    first = helm_template(env, version, "--values", str(values))
    again = helm_template(env, version, "--values", str(values))
    return {
        "scenario": name,
        "version": version,
        "state": state,
        "values": yaml.safe_load(values.read_text()),
        "first": first,
        "again": again,
        "objects": objects(first),
    }


def test_the_roles_default_chart_is_rendered():
    assert CILIUM["cilium_chart_version"] in CHART_VERSIONS


def test_cilium_config_balances_l7_with_envoy_without_kube_proxy(rendered):
    config = rendered["objects"][("ConfigMap", "cilium-config")]["data"]
    assert config["loadbalancer-l7"] == "envoy"
    assert config["kube-proxy-replacement"] == "true"
    assert config["enable-l7-proxy"] == "true"
    assert config["ipam"] == rendered["values"]["ipam"]["mode"]
    # the agent reaches the API server directly, at the host the role set
    agent = rendered["objects"][("DaemonSet", "cilium")]["spec"]["template"]["spec"]
    (container,) = [c for c in agent["containers"] if c["name"] == "cilium-agent"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["KUBERNETES_SERVICE_HOST"] == rendered["values"]["k8sServiceHost"]
    assert env["KUBERNETES_SERVICE_PORT"] == str(rendered["values"]["k8sServicePort"])


def test_the_lab_applies_what_the_chart_writes_into_cilium_config(rendered):
    # the lab node has no chart: the cilium role writes the keys itself, from the same values
    lab = yaml.safe_load((rendered["state"] / "cilium-lab-config.yaml").read_text())
    config = rendered["objects"][("ConfigMap", "cilium-config")]["data"]
    assert lab == {key: config[key] for key in lab}
    expected = "least_request" if "hubble" in rendered["scenario"] else "round_robin"
    assert config["loadbalancer-l7-algorithm"] == expected


def test_the_workloads_the_role_waits_for_are_the_charts(rendered):
    awaited = json.loads((rendered["state"] / "cilium-rollouts.json").read_text())
    made = {key for key in rendered["objects"] if key[0] in {"DaemonSet", "Deployment"}}
    assert {(w["kind"], w["name"]) for w in awaited} == made - {("Deployment", "hubble-relay")}
    envoy = ("DaemonSet", "cilium-envoy") in made
    config = rendered["objects"][("ConfigMap", "cilium-config")]["data"]
    # grpclab's envoy.enabled: true makes the DaemonSet in both charts (1.15's default is off);
    # a user's false puts Envoy inside the agent
    assert envoy == (rendered["scenario"] != "kind-hubble-agent-envoy")
    assert config["external-envoy-proxy"] == str(envoy).lower()


def test_hubble_is_on_only_when_asked_with_its_certificates_made_in_the_cluster(rendered):
    made = rendered["objects"]
    if rendered["scenario"] == "kind-hubble-agent-envoy":
        assert ("Deployment", "hubble-relay") in made
        assert ("CronJob", "hubble-generate-certs") in made
    else:
        assert not [key for key in made if "hubble" in key[1]]
    assert not [key for key in made if key[0] == "Secret"], "no certificate made at render time"


def test_two_renders_are_byte_identical(rendered):
    # kubernetes.core.helm upgrades when helm diff sees a change: a fresh certificate is one
    assert rendered["first"] == rendered["again"]


def test_the_charts_own_defaults_make_new_certificates_on_every_render(helm_home):
    # what the byte-identical check guards against: hubble on, tls.auto.method helm (the default)
    for version in CHART_VERSIONS:
        first = helm_template(helm_home, version, "--set", "hubble.enabled=true")
        assert first != helm_template(helm_home, version, "--set", "hubble.enabled=true")


def test_the_in_process_render_is_the_plays(renders, tmp_path_factory):
    state = scenario_values(renders, tmp_path_factory, "kind")
    # the template module writes one newline at the end, where the Templar leaves two
    here = role_render(VALUES_TEMPLATE.read_text()).rstrip("\n")
    assert here == (state / "cilium-values.yaml").read_text().rstrip("\n")


# a user's cilium_helm_values that decide whether the chart makes ds/cilium-envoy
ENVOY_CASES = {
    "envoy-off": {"envoy": {"enabled": False}},
    "envoy-null": {"envoy": {"enabled": None}},
    "envoy-null-old-compatibility": {"envoy": {"enabled": None}, "upgradeCompatibility": "1.15"},
}


@pytest.mark.parametrize("version", CHART_VERSIONS)
@pytest.mark.parametrize("case", list(ENVOY_CASES))
def test_the_role_waits_for_cilium_envoy_exactly_when_the_chart_makes_it(
    case, version, helm_home, tmp_path
):
    given = {"cilium_helm_values": ENVOY_CASES[case], "cilium_chart_version": version}
    values = tmp_path / "cilium-values.yaml"
    values.write_text(role_render(VALUES_TEMPLATE.read_text(), **given))
    made = objects(helm_template(helm_home, version, "--values", str(values)))
    awaited = role_render("{{ __cilium_rollouts_awaited | to_json }}", **given)
    waits = {"kind": "DaemonSet", "name": "cilium-envoy"} in json.loads(awaited)
    assert waits == (("DaemonSet", "cilium-envoy") in made)


@pytest.mark.parametrize("version", CHART_VERSIONS)
def test_the_chart_refuses_l7_balancing_without_the_l7_proxy(version, helm_home, tmp_path):
    # the other way the chart drops ds/cilium-envoy: no render, so no role wait to size for it
    values = tmp_path / "cilium-values.yaml"
    values.write_text(
        role_render(VALUES_TEMPLATE.read_text(), cilium_helm_values={"l7Proxy": False})
    )
    with pytest.raises(AssertionError, match=r"requires \.Values\.l7Proxy to be set to 'true'"):
        helm_template(helm_home, version, "--values", str(values))


def test_every_object_validates_against_the_kubernetes_schemas(rendered):
    validated = []
    for obj in rendered["objects"].values():
        group = obj["apiVersion"].rpartition("/")[0]
        if group not in BUILTIN_GROUPS and not group.endswith(".k8s.io"):
            continue  # a custom resource: no published schema
        # strict: a field the API server would drop is an error
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        validated.append(obj["kind"])
    assert {"DaemonSet", "Deployment", "ConfigMap", "ClusterRole"} <= set(validated)
