"""The field-by-field checks of a lab manifest: a Deployment or a Service, read into its
dataclass.

Every field is either honoured by the lab node, or on the ``NOT_APPLICABLE`` list (with the
reason it means nothing on the lab), or an error naming the field: nothing is silently ignored.
Loading files and telling the kinds apart is ``grpclab.lab.manifests``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from grpclab.lab.errors import LabError
from grpclab.lab.names import template_hash
from grpclab.lab.objects import Deployment, EnvVar, Probe, Service, ServicePort

# the lab's pod range holds .1-.250; a rollout needs room for the surge
MAX_REPLICAS = 200
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
LB_L7 = "service.cilium.io/lb-l7"
LB_L7_ALGORITHM = "service.cilium.io/lb-l7-algorithm"
ALGORITHMS = ("round_robin", "least_request", "random")
FIELD_PATHS = ("metadata.name", "metadata.namespace", "status.podIP")

# field (by its path with [] for list items) -> why the lab node does not apply it
NOT_APPLICABLE: dict[str, str] = {
    "metadata.labels": "labels of a Deployment, Service or Namespace select nothing",
    "metadata.annotations": "annotations other than Cilium's are read by no lab component",
    "spec.revisionHistoryLimit": "the node keeps no old ReplicaSets",
    "spec.progressDeadlineSeconds": "rollout status takes --timeout instead",
    "spec.template.spec.automountServiceAccountToken": "there is no API server to talk to",
    "spec.template.spec.securityContext": "pods run as the node's user, without namespaces",
    "spec.template.spec.volumes[].name": "pods share the host's filesystem",
    "spec.template.spec.volumes[].emptyDir": "pods share the host's filesystem",
    "spec.template.spec.containers[].name": "one container per pod; its name is not used",
    "spec.template.spec.containers[].image": "pods run the installed grpclab package",
    "spec.template.spec.containers[].imagePullPolicy": "there are no images",
    "spec.template.spec.containers[].resources": "no cgroups: nothing is requested or limited",
    "spec.template.spec.containers[].securityContext": "pods run as the node's user",
    "spec.template.spec.containers[].volumeMounts": "pods share the host's filesystem",
    "spec.template.spec.containers[].ports[].name": "used only to resolve a named targetPort",
    "spec.template.spec.containers[].ports[].containerPort": "informational, as on Kubernetes",
    "spec.ports[].name": "one name per port, informational",
}


class Doc:
    """One manifest being read: its kind and name for messages, and field access that names the
    field path in every error."""

    def __init__(self, kind: str, raw: Mapping[str, Any]) -> None:
        meta = raw.get("metadata") if isinstance(raw.get("metadata"), Mapping) else {}
        self.kind = kind
        self.namespace = str(meta.get("namespace") or "default")
        self.name = str(meta.get("name") or "?")

    def error(self, path: str, problem: str) -> LabError:
        where = self.name if self.kind == "Namespace" else f"{self.namespace}/{self.name}"
        return LabError(f"{self.kind} {where}: {path} {problem}")

    def keys(self, obj: Any, path: str, honoured: Iterable[str]) -> Mapping[str, Any]:
        """``obj`` as a mapping whose keys are all honoured or not applicable."""
        if not isinstance(obj, Mapping):
            raise self.error(path or "the document", "must be a mapping")
        generic = re.sub(r"\[\d+\]", "[]", path)
        for key in obj:
            if key in honoured:
                continue
            if f"{generic}.{key}".lstrip(".") in NOT_APPLICABLE:
                continue
            raise self.error(f"{path}.{key}".lstrip("."), "is not supported by the lab node")
        return obj

    def integer(self, value: Any, path: str, low: int = 0, high: int = 2**31) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.error(path, f"must be an integer from {low} to {high}, not {value!r}")
        return value

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(path, f"must be a non-empty string, not {value!r}")
        return value

    def labels(self, value: Any, path: str) -> dict[str, str]:
        if not isinstance(value, Mapping) or not value:
            raise self.error(path, "must be a non-empty mapping of labels")
        return {str(k): str(v) for k, v in value.items()}

    def items(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.error(path, "must be a list")
        return value


def _probe(doc: Doc, raw: Any, path: str) -> Probe:
    raw = doc.keys(
        raw,
        path,
        {
            "grpc",
            "periodSeconds",
            "failureThreshold",
            "initialDelaySeconds",
            "timeoutSeconds",
            "successThreshold",
        },
    )
    if "grpc" not in raw:
        raise doc.error(path, "must be a grpc probe (the lab node runs no other kind)")
    grpc = doc.keys(raw["grpc"], f"{path}.grpc", {"port", "service"})
    if raw.get("successThreshold", 1) != 1:
        raise doc.error(f"{path}.successThreshold", "must be 1")
    return Probe(
        port=doc.integer(grpc.get("port"), f"{path}.grpc.port", 1, 65535),
        service=str(grpc.get("service", "")),
        period=doc.integer(raw.get("periodSeconds", 10), f"{path}.periodSeconds", 1),
        failure_threshold=doc.integer(
            raw.get("failureThreshold", 3), f"{path}.failureThreshold", 1
        ),
        initial_delay=doc.integer(raw.get("initialDelaySeconds", 0), f"{path}.initialDelaySeconds"),
        timeout=doc.integer(raw.get("timeoutSeconds", 1), f"{path}.timeoutSeconds", 1),
    )


def _env(doc: Doc, raw: Any, path: str) -> tuple[EnvVar, ...]:
    result = []
    for index, item in enumerate(doc.items(raw, path)):
        where = f"{path}[{index}]"
        item = doc.keys(item, where, {"name", "value", "valueFrom"})
        name = doc.string(item.get("name"), f"{where}.name")
        if "valueFrom" in item:
            source = doc.keys(item["valueFrom"], f"{where}.valueFrom", {"fieldRef"})
            ref = doc.keys(
                source.get("fieldRef"), f"{where}.valueFrom.fieldRef", {"fieldPath", "apiVersion"}
            )
            field_path = ref.get("fieldPath")
            if field_path not in FIELD_PATHS:
                raise doc.error(
                    f"{where}.valueFrom.fieldRef.fieldPath",
                    f"{field_path!r} is not supported by the lab node "
                    f"(it knows {', '.join(FIELD_PATHS)})",
                )
            result.append(EnvVar(name, field_path=field_path))
        else:
            result.append(EnvVar(name, value=str(item.get("value", ""))))
    return tuple(result)


def _percent_or_int(doc: Doc, value: Any, path: str, replicas: int, round_up: bool) -> int:
    if isinstance(value, str) and re.fullmatch(r"\d{1,3}%", value):
        share = int(value[:-1]) * replicas / 100
        return math.ceil(share) if round_up else math.floor(share)
    return doc.integer(value, path)


def _container(doc: Doc, raw: Any, path: str) -> dict[str, Any]:
    raw = doc.keys(
        raw, path, {"command", "args", "env", "ports", "readinessProbe", "livenessProbe"}
    )
    command = [str(part) for part in doc.items(raw.get("command", []), f"{path}.command")]
    command += [str(part) for part in doc.items(raw.get("args", []), f"{path}.args")]
    if not command:
        raise doc.error(f"{path}.command", "is required on the lab (there is no image entrypoint)")
    ports = {}
    for index, port in enumerate(doc.items(raw.get("ports", []), f"{path}.ports")):
        port = doc.keys(port, f"{path}.ports[{index}]", {"protocol"})
        if port.get("protocol", "TCP") != "TCP":
            raise doc.error(f"{path}.ports[{index}].protocol", "must be TCP")
        if "name" in port:
            ports[str(port["name"])] = doc.integer(
                port.get("containerPort"), f"{path}.ports[{index}].containerPort", 1, 65535
            )
    return {
        "command": tuple(command),
        "env": _env(doc, raw.get("env", []), f"{path}.env"),
        "ports": ports,
        "readiness": _probe(doc, raw["readinessProbe"], f"{path}.readinessProbe")
        if "readinessProbe" in raw
        else None,
        "liveness": _probe(doc, raw["livenessProbe"], f"{path}.livenessProbe")
        if "livenessProbe" in raw
        else None,
    }


def parse_deployment(
    doc: Doc, raw: Mapping[str, Any], restarted_at: Mapping[str, str]
) -> Deployment:
    meta = doc.keys(raw.get("metadata"), "metadata", {"name", "namespace"})
    spec = doc.keys(raw.get("spec"), "spec", {"replicas", "selector", "template", "strategy"})
    replicas = doc.integer(spec.get("replicas", 1), "spec.replicas", 0, MAX_REPLICAS)
    selector = doc.keys(spec.get("selector"), "spec.selector", {"matchLabels"})
    match = doc.labels(selector.get("matchLabels"), "spec.selector.matchLabels")
    template = doc.keys(spec.get("template"), "spec.template", {"metadata", "spec"})
    template_meta = doc.keys(
        template.get("metadata"), "spec.template.metadata", {"labels", "annotations"}
    )
    labels = doc.labels(template_meta.get("labels"), "spec.template.metadata.labels")
    if any(labels.get(key) != value for key, value in match.items()):
        raise doc.error("spec.selector.matchLabels", "does not match spec.template.metadata.labels")
    pod = doc.keys(
        template.get("spec"),
        "spec.template.spec",
        {"containers", "terminationGracePeriodSeconds", "restartPolicy", "volumes"},
    )
    if pod.get("restartPolicy", "Always") != "Always":
        raise doc.error("spec.template.spec.restartPolicy", "must be Always in a Deployment")
    for index, volume in enumerate(doc.items(pod.get("volumes", []), "spec.template.spec.volumes")):
        doc.keys(volume, f"spec.template.spec.volumes[{index}]", set())
        if "emptyDir" not in volume:
            raise doc.error(
                f"spec.template.spec.volumes[{index}]",
                "is not supported by the lab node (only emptyDir volumes are)",
            )
    containers = doc.items(pod.get("containers"), "spec.template.spec.containers")
    if len(containers) != 1:
        raise doc.error(
            "spec.template.spec.containers",
            "must hold exactly one container on the lab (a pod is one process)",
        )
    container = _container(doc, containers[0], "spec.template.spec.containers[0]")
    strategy = doc.keys(spec.get("strategy", {}), "spec.strategy", {"type", "rollingUpdate"})
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        raise doc.error("spec.strategy.type", "must be RollingUpdate on the lab")
    rolling = doc.keys(
        strategy.get("rollingUpdate", {}),
        "spec.strategy.rollingUpdate",
        {"maxSurge", "maxUnavailable"},
    )
    surge = _percent_or_int(
        doc,
        rolling.get("maxSurge", "25%"),
        "spec.strategy.rollingUpdate.maxSurge",
        replicas,
        round_up=True,
    )
    unavailable = _percent_or_int(
        doc,
        rolling.get("maxUnavailable", "25%"),
        "spec.strategy.rollingUpdate.maxUnavailable",
        replicas,
        round_up=False,
    )
    if surge == 0 and unavailable == 0:
        raise doc.error("spec.strategy.rollingUpdate", "maxSurge and maxUnavailable are both 0")
    # as an apply keeps the annotation `kubectl rollout restart` set, a re-rendered manifest
    # without it keeps the last restartedAt the node saw (``restarted_at``): no second rollout
    annotations = dict(template_meta.get("annotations") or {})
    stamp = annotations.get(RESTARTED_AT) or restarted_at.get(f"{doc.namespace}/{meta['name']}")
    if stamp and RESTARTED_AT not in annotations:
        annotations[RESTARTED_AT] = stamp
        template = {**template, "metadata": {**template_meta, "annotations": annotations}}
    seed = json.dumps([meta["name"], doc.namespace, template], sort_keys=True, default=str)
    return Deployment(
        name=doc.string(meta.get("name"), "metadata.name"),
        namespace=doc.namespace,
        replicas=replicas,
        selector=match,
        labels=labels,
        grace=float(
            doc.integer(
                pod.get("terminationGracePeriodSeconds", 30),
                "spec.template.spec.terminationGracePeriodSeconds",
            )
        ),
        max_surge=surge,
        max_unavailable=unavailable,
        template_hash=template_hash(seed),
        restarted_at=str(stamp or ""),
        **container,
    )


def parse_service(doc: Doc, raw: Mapping[str, Any]) -> Service:
    meta = doc.keys(raw.get("metadata"), "metadata", {"name", "namespace"})
    annotations = meta.get("annotations") or {}
    for key in annotations:
        if key.startswith("service.cilium.io/") and key not in (LB_L7, LB_L7_ALGORITHM):
            raise doc.error(f"metadata.annotations.{key}", "is not supported by the lab node")
    lb_l7 = annotations.get(LB_L7)
    if lb_l7 not in (None, "enabled", "disabled"):
        raise doc.error(f"metadata.annotations.{LB_L7}", f"must be enabled, not {lb_l7!r}")
    algorithm = annotations.get(LB_L7_ALGORITHM)
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise doc.error(
            f"metadata.annotations.{LB_L7_ALGORITHM}",
            f"must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}",
        )
    spec = doc.keys(raw.get("spec"), "spec", {"type", "clusterIP", "selector", "ports"})
    if spec.get("type", "ClusterIP") != "ClusterIP":
        raise doc.error("spec.type", "must be ClusterIP on the lab")
    cluster_ip = spec.get("clusterIP")
    if cluster_ip not in (None, "None"):
        raise doc.error("spec.clusterIP", "must be None or absent (the node allocates addresses)")
    ports = []
    for index, port in enumerate(doc.items(spec.get("ports"), "spec.ports")):
        where = f"spec.ports[{index}]"
        port = doc.keys(port, where, {"port", "targetPort", "protocol"})
        if port.get("protocol", "TCP") != "TCP":
            raise doc.error(f"{where}.protocol", "must be TCP")
        number = doc.integer(port.get("port"), f"{where}.port", 1, 65535)
        target = port.get("targetPort", number)
        if not isinstance(target, str):
            target = doc.integer(target, f"{where}.targetPort", 1, 65535)
        ports.append(ServicePort(number, target))
    if not ports:
        raise doc.error("spec.ports", "must list at least one port")
    return Service(
        name=doc.string(meta.get("name"), "metadata.name"),
        namespace=doc.namespace,
        headless=cluster_ip == "None",
        selector=doc.labels(spec.get("selector"), "spec.selector"),
        ports=tuple(ports),
        lb_l7=lb_l7 == "enabled",
        algorithm=algorithm,
    )
