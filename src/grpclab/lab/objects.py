"""The objects of the lab's desired state, as the node reads them from the manifests."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Probe:
    """A ``grpc`` readiness or liveness probe."""

    port: int
    service: str = ""
    period: float = 10.0
    failure_threshold: int = 3
    initial_delay: float = 0.0
    timeout: float = 1.0


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str = ""
    field_path: str | None = None  # downward API: metadata.name, metadata.namespace, status.podIP


@dataclass(frozen=True)
class Deployment:
    name: str
    namespace: str
    replicas: int
    selector: dict[str, str]
    labels: dict[str, str]  # of the pod template
    command: tuple[str, ...]
    env: tuple[EnvVar, ...]
    ports: dict[str, int]  # named container ports
    readiness: Probe | None
    liveness: Probe | None
    grace: float
    max_surge: int
    max_unavailable: int
    template_hash: str
    restarted_at: str = ""  # the template's kubectl.kubernetes.io/restartedAt

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ServicePort:
    port: int
    target_port: int | str


@dataclass(frozen=True)
class Service:
    name: str
    namespace: str
    headless: bool
    selector: dict[str, str]
    ports: tuple[ServicePort, ...]
    lb_l7: bool
    algorithm: str | None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class DesiredState:
    namespaces: list[str] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
