"""The kind config, the Cilium Helm values and every Kubernetes manifest, rendered through Ansible
from the roles' real templates and defaults (tests/playbooks/test_kind_render.yml drives the
roles' own render steps), then validated: the manifests against the Kubernetes OpenAPI schemas
(kubernetes-validate), the kind config against kind's v1alpha4 Cluster fields, the Helm values
for the keys the kind and existing platforms rely on.

No Docker, kind or cluster is needed: nothing is applied. The only custom resource grpclab deals
with, CiliumEnvoyConfig, is never rendered (Cilium's operator creates it; grpc_apps only reads it),
so every manifest here is a core Kubernetes kind with a published schema.
"""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from ansible_cli import ROOT, run_tool

PLAYBOOK = ROOT / "tests" / "playbooks" / "test_kind_render.yml"

pytestmark = pytest.mark.slow

# kind's v1alpha4 config types (sigs.k8s.io/kind/pkg/apis/config/v1alpha4/types.go):
# the yaml names of the fields of Cluster, Node and Networking, and the enum values used here.
KIND_CLUSTER_FIELDS = {
    "kind",
    "apiVersion",
    "name",
    "nodes",
    "networking",
    "featureGates",
    "runtimeConfig",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
    "containerdConfigPatches",
    "containerdConfigPatchesJSON6902",
}
KIND_NODE_FIELDS = {
    "role",
    "image",
    "labels",
    "extraMounts",
    "extraPortMappings",
    "gpus",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
}
KIND_NETWORKING_FIELDS = {
    "ipFamily",
    "apiServerPort",
    "apiServerAddress",
    "podSubnet",
    "serviceSubnet",
    "disableDefaultCNI",
    "kubeProxyMode",
    "dnsSearch",
}
KIND_NODE_ROLES = {"control-plane", "worker"}
KIND_PROXY_MODES = {"iptables", "ipvs", "nftables", "none"}

# The Kubernetes version of the pinned kind node image; the schemas of that release.
NODE_IMAGE = yaml.safe_load((ROOT / "roles/cluster/defaults/main.yml").read_text())[
    "cluster_kind_node_image"
]
K8S_VERSION = NODE_IMAGE.split(":v", 1)[1].split("@", 1)[0]
EXISTING_INVENTORY = yaml.safe_load(
    (ROOT / "inventories/existing/group_vars/grpclab/cluster.yml").read_text()
)
DEFAULTS = {
    role: yaml.safe_load((ROOT / f"roles/{role}/defaults/main.yml").read_text())
    for role in ("grpclab", "cluster", "cilium", "grpc_apps", "grpc_probe")
}


def render(tmp_path_factory, inventory: str, **extra_vars) -> Path:
    """Run the render playbook against an inventory; return the state directory it wrote."""
    out = tmp_path_factory.mktemp(f"render-{inventory}")
    run = run_tool(
        "ansible-playbook",
        "-i",
        f"inventories/{inventory}",
        str(PLAYBOOK),
        "-e",
        json.dumps({"grpclab_state_dir": str(out), **extra_vars}),
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "Traceback" not in run.stdout + run.stderr
    return out


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifests(state_dir: Path) -> dict[tuple[str, str], dict]:
    """Every rendered object, by (kind, name); the files are the ones grpc_apps applies."""
    files = sorted((state_dir / "manifests").glob("*.yaml"))
    assert [f.stem for f in files] == sorted(DEFAULTS["grpc_apps"]["grpc_apps_manifests"])
    objects = {}
    for file in files:
        for doc in documents(file):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in objects, f"{key} rendered twice"
            objects[key] = doc
    return objects


@pytest.fixture(scope="module")
def kind_cilium(tmp_path_factory) -> Path:
    """kind, the cilium scenario, every default."""
    return render(tmp_path_factory, "kind", grpclab_cni="cilium")


@pytest.fixture(scope="module")
def kind_baseline(tmp_path_factory) -> Path:
    """kind, the baseline scenario, with a few variables changed."""
    return render(
        tmp_path_factory,
        "kind",
        grpclab_cni="default",
        grpclab_workers=1,
        grpc_apps_lb_l7=False,
        grpc_apps_client_enabled=False,
        grpc_apps_server_delay=0.25,
        grpclab_replicas=5,
        grpc_apps_server_grace_period=20,
        grpc_apps_server_max_connection_age=30,
        grpc_apps_server_max_connection_age_grace=5,
        grpc_apps_server_keepalive_time=20,
        grpc_apps_server_keepalive_timeout=10,
    )


@pytest.fixture(scope="module")
def existing_cilium(tmp_path_factory) -> Path:
    """existing, the inventory's AKS example (user chart values), an lb-l7 algorithm."""
    return render(
        tmp_path_factory,
        "existing",
        grpclab_cni="cilium",
        grpc_apps_lb_l7_algorithm="least_request",
    )


# --- kind config --------------------------------------------------------------------------


def check_kind_fields(config: dict) -> None:
    assert set(config) <= KIND_CLUSTER_FIELDS, set(config) - KIND_CLUSTER_FIELDS
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert set(config["networking"]) <= KIND_NETWORKING_FIELDS
    assert config["networking"]["kubeProxyMode"] in KIND_PROXY_MODES
    assert isinstance(config["networking"]["disableDefaultCNI"], bool)
    for node in config["nodes"]:
        assert set(node) <= KIND_NODE_FIELDS, set(node) - KIND_NODE_FIELDS
        assert node["role"] in KIND_NODE_ROLES
        assert node["image"] == NODE_IMAGE
        assert "@sha256:" in node["image"], "the node image is pinned by digest"


def test_kind_config_for_cilium_disables_the_default_cni_and_kube_proxy(kind_cilium):
    config = yaml.safe_load((kind_cilium / "kind-config.yaml").read_text())
    check_kind_fields(config)
    assert config["name"] == "grpclab-cilium"
    assert config["networking"] == {"disableDefaultCNI": True, "kubeProxyMode": "none"}
    roles = [node["role"] for node in config["nodes"]]
    workers = DEFAULTS["grpclab"]["grpclab_workers"]
    assert roles == ["control-plane"] + ["worker"] * workers
    assert roles.count("worker") == 3


def test_kind_config_for_the_baseline_keeps_kindnetd_and_kube_proxy(kind_baseline):
    config = yaml.safe_load((kind_baseline / "kind-config.yaml").read_text())
    check_kind_fields(config)
    assert config["name"] == "grpclab-baseline"
    assert config["networking"] == {"disableDefaultCNI": False, "kubeProxyMode": "iptables"}
    assert [node["role"] for node in config["nodes"]] == ["control-plane", "worker"]


def test_existing_renders_no_kind_config(existing_cilium):
    assert not (existing_cilium / "kind-config.yaml").exists()


# --- Cilium Helm values -------------------------------------------------------------------


def test_cilium_values_on_kind(kind_cilium):
    values = yaml.safe_load((kind_cilium / "cilium-values.yaml").read_text())
    assert values["kubeProxyReplacement"] is True
    assert values["k8sServiceHost"] == "grpclab-cilium-control-plane"
    assert values["k8sServicePort"] == 6443
    assert values["loadBalancer"]["l7"]["backend"] == "envoy"
    assert values["envoy"]["enabled"] is True
    assert values["ipam"]["mode"] == "kubernetes"
    assert values["image"]["pullPolicy"] == "IfNotPresent"
    assert values["operator"]["image"]["pullPolicy"] == "IfNotPresent"
    assert values["envoy"]["image"]["pullPolicy"] == "IfNotPresent"


def test_cilium_values_merge_the_users_values_last(existing_cilium):
    values = yaml.safe_load((existing_cilium / "cilium-values.yaml").read_text())
    inventory = EXISTING_INVENTORY
    # the AKS example's own keys, and its override of grpclab's ipam mode ...
    assert values["aksbyocni"] == {"enabled": True}
    assert values["ipam"]["mode"] == "cluster-pool"
    assert values["ipam"]["operator"] == inventory["cilium_helm_values"]["ipam"]["operator"]
    assert values["k8sServiceHost"] == inventory["cilium_k8s_service_host"]
    assert values["k8sServicePort"] == 443
    # ... merged recursively: grpclab's keys beside them are kept
    assert values["loadBalancer"]["l7"]["backend"] == "envoy"
    assert values["envoy"]["enabled"] is True
    assert values["kubeProxyReplacement"] is True


def test_cilium_values_make_nothing_new_at_render_time(kind_cilium, tmp_path_factory):
    # the chart's default hubble.tls.auto.method helm makes new certificates on every render,
    # and kubernetes.core.helm (through helm diff) would upgrade the release on every run
    values = yaml.safe_load((kind_cilium / "cilium-values.yaml").read_text())
    assert values["hubble"] == {"enabled": False}
    again = render(tmp_path_factory, "kind", grpclab_cni="cilium")
    first = (kind_cilium / "cilium-values.yaml").read_bytes()
    assert (again / "cilium-values.yaml").read_bytes() == first


def test_cilium_hubble_on_makes_its_certificates_in_the_cluster(tmp_path_factory):
    out = render(tmp_path_factory, "kind", grpclab_cni="cilium", cilium_hubble=True)
    hubble = yaml.safe_load((out / "cilium-values.yaml").read_text())["hubble"]
    assert hubble["enabled"] is True and hubble["relay"] == {"enabled": True}
    assert hubble["tls"]["auto"]["method"] == "cronJob"


# --- Kubernetes manifests -----------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["kind_cilium", "kind_baseline", "existing_cilium"])
def test_every_manifest_validates_against_the_kubernetes_schemas(scenario, request):
    version = K8S_VERSION
    if version not in kubernetes_validate.utils.all_versions():
        version = kubernetes_validate.latest_version()
    for obj in manifests(request.getfixturevalue(scenario)).values():
        # strict: no field the API server would drop (a typo in a probe or securityContext)
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_schema_check_catches_a_misspelt_field(kind_cilium):
    deployment = manifests(kind_cilium)[("Deployment", "grpc-server")]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


def test_namespaces_are_labelled_as_grpclabs(kind_cilium):
    objects = manifests(kind_cilium)
    for name in ("grpc-server", "grpc-client"):
        labels = objects[("Namespace", name)]["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "grpclab"


def test_server_deployment(kind_cilium):
    deployment = manifests(kind_cilium)[("Deployment", "grpc-server")]
    assert deployment["metadata"]["namespace"] == "grpc-server"
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "grpclab:0.1.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["command"][:3] == ["grpclab-server", "--port", "50051"]
    assert container["env"] == [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]
    # connection management is off by default: no flag
    assert not [arg for arg in container["command"] if "connection" in arg or "keepalive" in arg]
    assert container["readinessProbe"]["grpc"] == {"port": 50051}
    assert container["livenessProbe"]["grpc"] == {"port": 50051}
    assert set(container["resources"]) == {"requests", "limits"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    grace = DEFAULTS["grpc_apps"]["grpc_apps_server_grace_period"]
    assert container["command"][container["command"].index("--grace") + 1] == str(grace)
    # Kubernetes waits longer than the server drains
    margin = DEFAULTS["grpc_apps"]["grpc_apps_termination_margin"]
    assert pod["terminationGracePeriodSeconds"] == grace + margin


def test_server_deployment_follows_the_variables(kind_baseline):
    deployment = manifests(kind_baseline)[("Deployment", "grpc-server")]
    pod = deployment["spec"]["template"]["spec"]
    command = pod["containers"][0]["command"]
    assert deployment["spec"]["replicas"] == 5
    assert command[command.index("--grace") + 1] == "20"
    assert command[command.index("--delay") + 1] == "0.25"
    assert command[command.index("--max-connection-age") + 1] == "30"
    assert command[command.index("--max-connection-age-grace") + 1] == "5"
    assert command[command.index("--keepalive-time") + 1] == "20"
    assert command[command.index("--keepalive-timeout") + 1] == "10"
    assert "--max-connection-idle" not in command  # 0: off, not passed
    assert pod["terminationGracePeriodSeconds"] == 25


def check_services(objects: dict) -> dict[str, dict]:
    services = {name: obj for (kind, name), obj in objects.items() if kind == "Service"}
    assert set(services) == {"grpc-server", "grpc-server-l4", "grpc-server-headless"}
    for service in services.values():
        # one port, equal to its target port (Cilium bugs #27935, #27516, #27315)
        (port,) = service["spec"]["ports"]
        assert port["port"] == port["targetPort"] == 50051
        assert service["spec"]["selector"] == {"app": "grpc-server"}
    assert services["grpc-server-headless"]["spec"]["clusterIP"] == "None"
    assert "clusterIP" not in services["grpc-server"]["spec"]
    assert "annotations" not in services["grpc-server-l4"]["metadata"]
    assert "annotations" not in services["grpc-server-headless"]["metadata"]
    return services


def test_grpc_server_is_annotated_lb_l7(kind_cilium):
    services = check_services(manifests(kind_cilium))
    annotations = services["grpc-server"]["metadata"]["annotations"]
    assert annotations == {"service.cilium.io/lb-l7": "enabled"}


def test_grpc_server_carries_the_algorithm_when_set(existing_cilium):
    services = check_services(manifests(existing_cilium))
    assert services["grpc-server"]["metadata"]["annotations"] == {
        "service.cilium.io/lb-l7": "enabled",
        "service.cilium.io/lb-l7-algorithm": "least_request",
    }


def test_grpc_server_without_lb_l7_has_no_annotation(kind_baseline):
    services = check_services(manifests(kind_baseline))
    assert "annotations" not in services["grpc-server"]["metadata"]


def test_client_runs_the_walk_through_client(kind_cilium):
    deployment = manifests(kind_cilium)[("Deployment", "grpc-client")]
    assert deployment["metadata"]["namespace"] == "grpc-client"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "grpc-client"  # grpc_probe execs the probe in this container
    assert container["command"] == ["grpclab-client", "--interval", "1"]
    assert container["env"] == [{"name": "SERVER_URL", "value": "grpc-server.grpc-server:50051"}]


def test_client_disabled_leaves_a_pod_for_the_probe(kind_baseline):
    deployment = manifests(kind_baseline)[("Deployment", "grpc-client")]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["sleep", "infinity"]


def test_existing_uses_the_registry_image(existing_cilium):
    inventory = EXISTING_INVENTORY
    for name in ("grpc-server", "grpc-client"):
        deployment = manifests(existing_cilium)[("Deployment", name)]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == inventory["grpc_apps_image"]
