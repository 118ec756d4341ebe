"""playbooks/verify.yml on kind and existing, without a cluster: syntax-checked, and its probe
pod's objects rendered through the grpc_probe role's real render step (test_verify_render.yml),
then validated against the Kubernetes OpenAPI schemas (kubernetes-validate) and for least
privilege; the probe's command as the pod runs it; the RBAC of docs/verify.md validated too and
checked against what the runbook does. (The lab runs it for real: test_lab_playbooks.py.)
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from ansible_cli import ROOT, run_tool

PLAYBOOK = ROOT / "tests" / "playbooks" / "test_verify_render.yml"
NODE_IMAGE = yaml.safe_load((ROOT / "roles/cluster/defaults/main.yml").read_text())[
    "cluster_kind_node_image"
]
K8S_VERSION = NODE_IMAGE.split(":v", 1)[1].split("@", 1)[0]
if K8S_VERSION not in kubernetes_validate.utils.all_versions():
    K8S_VERSION = kubernetes_validate.latest_version()

pytestmark = pytest.mark.slow


def render(out: Path, inventory: str, **extra_vars) -> tuple[list[dict], list[str]]:
    run = run_tool(
        "ansible-playbook",
        "-i",
        f"inventories/{inventory}",
        str(PLAYBOOK),
        "-e",
        json.dumps({"grpclab_state_dir": str(out), **extra_vars}),
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    objects = json.loads((out / "objects.json").read_text())
    argv = json.loads((out / "argv.json").read_text())
    return objects, argv


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("verify-tls")
    files = {"cacert": "ca.pem", "cert": "client.pem", "key": "client.key"}
    for key, name in files.items():
        (folder / name).write_text(f"-----BEGIN TEST {key.upper()}-----\nAAAA\n-----END-----\n")
    return {key: folder / name for key, name in files.items()}


@pytest.fixture(scope="module")
def kind_plain(tmp_path_factory):
    return render(
        tmp_path_factory.mktemp("verify-kind"),
        "kind",
        grpc_probe_target="orders.shop:50051",
        grpc_probe_call="shop.Orders/Get",
        grpc_probe_replicas=4,
    )


@pytest.fixture(scope="module")
def existing_tls(tmp_path_factory, tls_files):
    return render(
        tmp_path_factory.mktemp("verify-existing"),
        "existing",
        grpc_probe_target="dns:///orders.shop.svc.cluster.local:443",
        grpc_probe_cacert=str(tls_files["cacert"]),
        grpc_probe_cert=str(tls_files["cert"]),
        grpc_probe_key=str(tls_files["key"]),
        grpc_probe_server_name="orders.internal",
        grpc_probe_headers=["authorization: Bearer s3cret"],
        grpc_probe_namespace_create=False,
        grpc_probe_image="registry.example/grpclab:0.1.0",
    )


def by_kind(objects: list[dict]) -> dict[str, dict]:
    return {obj["kind"]: obj for obj in objects}


@pytest.mark.parametrize("inventory", ["kind", "existing"])
def test_verify_playbook_passes_the_syntax_check(inventory):
    run = run_tool(
        "ansible-playbook",
        "-i",
        f"inventories/{inventory}",
        "playbooks/verify.yml",
        "--syntax-check",
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("rendered", ["kind_plain", "existing_tls"])
def test_every_object_validates_against_the_kubernetes_schemas(rendered, request):
    objects, _ = request.getfixturevalue(rendered)
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_the_schema_check_catches_a_misspelt_field(kind_plain):
    pod = copy.deepcopy(by_kind(kind_plain[0])["Pod"])
    pod["spec"]["automountServiceAcountToken"] = pod["spec"].pop("automountServiceAccountToken")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


@pytest.mark.parametrize("rendered", ["kind_plain", "existing_tls"])
def test_the_probe_pod_has_least_privilege(rendered, request):
    pod = by_kind(request.getfixturevalue(rendered)[0])["Pod"]
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 900  # gone by itself even if the play is killed
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = spec["containers"]
    assert container["name"] == "probe"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["command"] == ["sleep", "900"]
    assert "privileged" not in security and "hostNetwork" not in spec


def test_kind_makes_its_own_namespace_and_no_secret_without_tls(kind_plain):
    objects, argv = kind_plain
    assert [obj["kind"] for obj in objects] == ["Namespace", "Pod"]
    namespace, pod = objects
    assert namespace["metadata"]["name"] == pod["metadata"]["namespace"] == "grpclab-verify"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert pod["spec"]["containers"][0]["image"] == "grpclab:0.1.0"
    assert [m["name"] for m in pod["spec"]["containers"][0]["volumeMounts"]] == ["tmp"]
    # the Service named as <service>.<namespace>:<port> is dialled by its cluster DNS name
    assert argv[:3] == ["grpclab-probe", "--target", "orders.shop.svc.cluster.local:50051"]
    assert argv[argv.index("--replicas") + 1] == "4"
    assert argv[argv.index("--call") + 1] == "shop.Orders/Get"
    assert "--tls" not in argv and "-H" not in argv


def test_existing_mounts_the_tls_files_from_a_secret(existing_tls, tls_files):
    objects, argv = existing_tls
    # grpc_probe_namespace_create false: the namespace is the user's (a namespaced Role)
    assert [obj["kind"] for obj in objects] == ["Secret", "Pod"]
    secret, pod = objects
    assert set(secret["data"]) == {"ca.crt", "tls.crt", "tls.key"}
    assert secret["data"]["tls.key"] != tls_files["key"].read_text()  # base64, as a Secret holds it
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "registry.example/grpclab:0.1.0"
    (tls,) = [m for m in container["volumeMounts"] if m["name"] == "tls"]
    assert tls["readOnly"] is True
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == "tls"]
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    mount = tls["mountPath"]
    for flag, name in (("--cacert", "ca.crt"), ("--cert", "tls.crt"), ("--key", "tls.key")):
        assert argv[argv.index(flag) + 1] == f"{mount}/{name}"
    assert argv[argv.index("--target") + 1] == "dns:///orders.shop.svc.cluster.local:443"
    assert argv[argv.index("--server-name") + 1] == "orders.internal"
    assert argv[argv.index("-H") + 1] == "authorization: Bearer s3cret"


def test_every_task_that_carries_the_headers_is_no_log():
    # the argv holds the header values: each task that runs it hides its result
    tasks = ROOT / "roles/grpc_probe/tasks"
    for path in sorted(tasks.glob("*.yml")):
        for task in yaml.safe_load(path.read_text()) or []:
            for inner in [task, *task.get("block", []), *task.get("always", [])]:
                text = json.dumps(inner.get("ansible.builtin.command", {}))
                text += json.dumps(inner.get("kubernetes.core.k8s_exec", {}))
                if "__grpc_probe_argv" in text or "__grpc_probe_background_argv" in text:
                    assert inner.get("no_log") == "{{ __grpc_probe_no_log }}", (path.name, inner)


# --- the RBAC of docs/verify.md ---------------------------------------------------------------


def rbac_documents() -> list[dict]:
    text = (ROOT / "docs/verify.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    return [doc for block in blocks for doc in yaml.safe_load_all(block) if doc]


def test_the_documented_rbac_validates_against_the_kubernetes_schemas():
    documents = rbac_documents()
    assert {doc["kind"] for doc in documents} >= {"Role", "RoleBinding", "ClusterRole"}
    for doc in documents:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def granted(kind: str) -> dict[str, set[str]]:
    rules = [r for doc in rbac_documents() if doc["kind"] == kind for r in doc["rules"]]
    found: dict[str, set[str]] = {}
    for rule in rules:
        for resource in rule["resources"]:
            found.setdefault(resource, set()).update(rule["verbs"])
    return found


def test_the_role_grants_what_the_runbook_does_and_no_more():
    role = granted("Role")
    # the pod: made, waited for, removed; the probe run in it by exec (websocket: get, and
    # create since Kubernetes 1.35); the TLS Secret made and removed
    assert role == {
        "pods": {"create", "delete", "get", "list", "watch"},
        "pods/exec": {"create", "get"},
        "secrets": {"create", "delete", "get"},
    }
    # verify.yml making its own namespace needs namespaces at cluster scope
    assert granted("ClusterRole") == {"namespaces": {"create", "delete", "get"}}
