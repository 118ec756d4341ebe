"""The controllers' decisions, as pure functions: what a Deployment's rollout does next, which
pods are a Service's endpoints, and whether a Service is L4 or L7."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from grpclab.lab.manifests import Deployment, Service

L7_SWITCH = "loadbalancer-l7"
L7_ALGORITHM = "loadbalancer-l7-algorithm"


class PodView(Protocol):
    name: str
    ip: str
    ready: bool
    terminating: bool
    template_hash: str
    created: float
    deployment: Deployment


@dataclass
class Plan:
    """What to do now for one Deployment: pods to create (how many) and pods to terminate."""

    create: int = 0
    terminate: list[str] = field(default_factory=list)


def _newest_first(pods: Sequence[PodView]) -> list[PodView]:
    # not Ready first, then the youngest, as a ReplicaSet picks the pods to delete
    return sorted(pods, key=lambda pod: (pod.ready, -pod.created))


def plan_rollout(deployment: Deployment, pods: Sequence[PodView]) -> Plan:
    """The ReplicaSet/Deployment controllers' next step under maxSurge and maxUnavailable.

    ``pods`` are the Deployment's pods that are not terminating."""
    plan = Plan()
    new = [pod for pod in pods if pod.template_hash == deployment.template_hash]
    old = [pod for pod in pods if pod.template_hash != deployment.template_hash]
    wanted = deployment.replicas
    if len(new) > wanted:
        plan.terminate += [pod.name for pod in _newest_first(new)[: len(new) - wanted]]
        new = [pod for pod in new if pod.name not in plan.terminate]
    if not old:
        plan.create = max(0, wanted - len(new))
        return plan
    room = wanted + deployment.max_surge - len(new) - len(old)
    plan.create = max(0, min(wanted - len(new), room))
    # old pods that are not Ready count for nothing: they go first
    unready_old = [pod for pod in old if not pod.ready]
    plan.terminate += [pod.name for pod in unready_old]
    ready_old = _newest_first([pod for pod in old if pod.ready])
    available = sum(pod.ready for pod in new) + len(ready_old)
    can_remove = available - (wanted - deployment.max_unavailable)
    plan.terminate += [pod.name for pod in ready_old[: max(0, can_remove)]]
    return plan


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def endpoints(service: Service, pods: Sequence[PodView]) -> list[tuple[str, int]]:
    """Ready, not terminating pods of the Service's namespace matching its selector, per port."""
    result = []
    for pod in sorted(pods, key=lambda pod: pod.name):
        if (
            pod.ready
            and not pod.terminating
            and pod.deployment.namespace == service.namespace
            and selects(service.selector, pod.deployment.labels)
        ):
            for port in service.ports:
                target = port.target_port
                if isinstance(target, str):
                    if target not in pod.deployment.ports:
                        continue
                    target = pod.deployment.ports[target]
                result.append((pod.ip, target))
    return result


def l7_mode(service: Service, cilium: Mapping[str, object] | None) -> tuple[bool, str | None]:
    """(L7?, algorithm): L7 only where the cluster runs Cilium with loadbalancer-l7: envoy and
    the Service is annotated lb-l7: enabled; the algorithm is the annotation's, else Cilium's
    default."""
    if not cilium or cilium.get(L7_SWITCH) != "envoy" or not service.lb_l7:
        return False, None
    default = cilium.get(L7_ALGORITHM) or "round_robin"
    return True, service.algorithm or str(default)


def cluster_name(service: Service, port: int) -> str:
    return f"{service.namespace}.{service.name}.{port}"
