"""Prerequisites of the kind and existing platforms, as pure checks over what was found.

The Ansible module grpclab.lab.prerequisites gathers the facts (tool versions, the Docker
endpoint's answer, the kubernetes.core version, inotify limits) and hands them to `problems`,
which names every missing prerequisite on a line of its own, with how to get it.

The Docker endpoint is resolved the way the docker CLI resolves it (DOCKER_HOST, else the
DOCKER_CONTEXT or current context's endpoint, else the default socket), so the check and the
community.docker modules, which get the same endpoint, talk to the same engine.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
DOCKER_HOW = (
    "start it (sudo systemctl start docker, or Docker Desktop) and let your user use it "
    "(docker group); to install: https://docs.docker.com/engine/install/"
)
# kind's known issues: the values that let several clusters' nodes run (Pod errors due to
# "too many open files")
INOTIFY_RECOMMENDED = {"max_user_watches": 524288, "max_user_instances": 512}
VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class DockerEndpoint:
    host: str
    source: str


class EndpointError(ValueError):
    """The docker CLI's configuration names an endpoint that cannot be read."""


def docker_endpoint(env: Mapping[str, str], home: Path) -> DockerEndpoint:
    """The engine the docker CLI would talk to, and what chose it."""
    if env.get("DOCKER_HOST"):
        return DockerEndpoint(env["DOCKER_HOST"], "DOCKER_HOST")
    config_dir = Path(env.get("DOCKER_CONFIG") or home / ".docker")
    name = env.get("DOCKER_CONTEXT") or ""
    source = "DOCKER_CONTEXT"
    if not name:
        source = f"the current context in {config_dir / 'config.json'}"
        try:
            config = json.loads((config_dir / "config.json").read_text())
        except FileNotFoundError:
            config = {}
        except (OSError, ValueError) as error:
            raise EndpointError(f"cannot read {config_dir / 'config.json'}: {error}") from None
        name = config.get("currentContext", "") if isinstance(config, dict) else ""
    if not name or name == "default":
        return DockerEndpoint(DEFAULT_DOCKER_HOST, "the default socket")
    # the CLI keeps each context's metadata under the sha256 of its name
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config_dir / "contexts" / "meta" / digest / "meta.json"
    try:
        host = json.loads(meta.read_text())["Endpoints"]["docker"]["Host"]
    except FileNotFoundError:
        raise EndpointError(
            f"docker context {name!r} ({source}) does not exist: no {meta}"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise EndpointError(
            f"docker context {name!r}: no docker endpoint in {meta} ({error})"
        ) from None
    return DockerEndpoint(host, f"docker context {name}")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def docker_server_version(host: str, timeout: float = 10.0) -> str:
    """The engine's version at a unix:// or tcp:// endpoint; OSError when it does not answer."""
    if host.startswith("unix://"):
        path = host.removeprefix("unix://")
        connection: http.client.HTTPConnection = _UnixConnection(path, timeout)
    elif host.startswith(("tcp://", "http://")):
        address = host.split("://", 1)[1].rstrip("/")
        connection = http.client.HTTPConnection(address, timeout=timeout)
    else:
        raise OSError(f"endpoint {host} is not unix:// or tcp://: grpclab checks only those")
    try:
        connection.request("GET", "/version")
        response = connection.getresponse()
        body = response.read()
    except FileNotFoundError:
        raise OSError("no such socket") from None
    except PermissionError:
        raise OSError("permission denied on the socket") from None
    except ConnectionRefusedError:
        raise OSError("connection refused") from None
    except http.client.HTTPException as error:
        raise OSError(f"no Docker API at {host}: {error}") from None
    finally:
        connection.close()
    if response.status != 200:
        raise OSError(f"{host} answered HTTP {response.status}")
    try:
        return str(json.loads(body)["Version"])
    except (ValueError, KeyError, TypeError):
        raise OSError(f"no Docker API at {host}") from None


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = VERSION.search(text or "")
    return tuple(int(part) for part in match.groups()) if match else None  # type: ignore[return-value]


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


@dataclass(frozen=True)
class Tool:
    name: str
    minimum: str
    how: str


@dataclass
class Found:
    """What was found on the controller. None: not looked at; "" or False: looked, missing."""

    tools: dict[str, str] = field(default_factory=dict)  # name -> version output ("" when absent)
    docker: str | None = None  # the engine's version, or None when not needed
    docker_error: str = ""
    docker_endpoint: DockerEndpoint | None = None
    kubernetes_client_error: str = ""
    kubernetes_core: str = ""
    inotify: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Wanted:
    tools: tuple[Tool, ...]
    docker: bool
    helm4_kubernetes_core_min: str = "6.4.0"
    kind_clusters: int = 1
    python: str = "python"


def problems(wanted: Wanted, found: Found) -> tuple[list[str], list[str]]:
    """(errors, warnings): one line each, saying what is missing and how to get it."""
    errors: list[str] = []
    warnings: list[str] = []
    if wanted.docker and found.docker_error:
        where = found.docker_endpoint
        place = f" at {where.host} ({where.source})" if where else ""
        errors.append(f"Docker daemon not reachable{place}: {found.docker_error}; {DOCKER_HOW}")
    if found.kubernetes_client_error:
        errors.append(
            f"Python kubernetes client not importable by {wanted.python} "
            f"({found.kubernetes_client_error}): "
            "run pip install -e . in that environment"
        )
    for tool in wanted.tools:
        version = parse_version(found.tools.get(tool.name, ""))
        minimum = parse_version(tool.minimum) or (0, 0, 0)
        if version is None:
            errors.append(
                f"{tool.name} not found (or it did not answer '{tool.name} version'); "
                f"install {tool.name} >= {tool.minimum}: {tool.how}"
            )
        elif version < minimum:
            errors.append(
                f"{tool.name} {version_text(version)} is older than {tool.minimum}: "
                f"upgrade it: {tool.how}"
            )
        elif tool.name == "helm" and version >= (4, 0, 0):
            collection = parse_version(found.kubernetes_core) or (0, 0, 0)
            needed = wanted.helm4_kubernetes_core_min
            if collection < (parse_version(needed) or (0, 0, 0)):
                errors.append(
                    f"helm {version_text(version)} is Helm 4, which the helm modules of "
                    f"kubernetes.core {found.kubernetes_core or 'unknown'} do not support "
                    f"(Helm 4 needs kubernetes.core >= "
                    f"{needed}): install Helm 3 ({tool.how}), or kubernetes.core >= {needed}"
                )
    errors_or_warnings = errors if wanted.kind_clusters > 1 else warnings
    low = {
        key: value
        for key, value in found.inotify.items()
        if key in INOTIFY_RECOMMENDED and value < INOTIFY_RECOMMENDED[key]
    }
    if low:
        settings = " ".join(f"fs.inotify.{key}={INOTIFY_RECOMMENDED[key]}" for key in sorted(low))
        now = ", ".join(f"{key} {value}" for key, value in sorted(low.items()))
        errors_or_warnings.append(
            f"inotify limits too low for {wanted.kind_clusters} kind cluster(s) ({now}): "
            f"sudo sysctl {settings} (and the same lines in /etc/sysctl.d/ to keep them)"
        )
    return errors, warnings
