"""The lab's desired state: Namespace, Deployment and Service manifests, loaded and validated.

Every field of a manifest is either honoured by the lab node, or on the ``NOT_APPLICABLE`` list
(with the reason it means nothing on the lab), or an error naming the field: nothing is
silently ignored. The checks of a Deployment's and a Service's fields are
``grpclab.lab.manifestfields``. Pure functions: text in, dataclasses or a ``LabError`` out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from grpclab.lab.errors import LabError
from grpclab.lab.manifestfields import Doc, parse_deployment, parse_service
from grpclab.lab.objects import (
    Deployment,
    DesiredState,
    EnvVar,
    Probe,
    Service,
    ServicePort,
)

__all__ = [
    "Deployment",
    "DesiredState",
    "EnvVar",
    "Probe",
    "Service",
    "ServicePort",
    "load_files",
    "load_text",
    "manifest_files",
    "parse_documents",
]


API_VERSIONS = {"Namespace": "v1", "Service": "v1", "Deployment": "apps/v1"}


def parse_documents(
    documents: Iterable[Any],
    state: DesiredState | None = None,
    source: str = "",
    restarted_at: Mapping[str, str] | None = None,
) -> DesiredState:
    """Add the objects of ``documents`` (parsed YAML) to ``state``; LabError on the first
    field the node cannot honour."""
    state = state or DesiredState()
    seen = {
        f"{kind}/{obj.key}"
        for kind, objs in (("Deployment", state.deployments), ("Service", state.services))
        for obj in objs
    }
    for raw in documents:
        if raw is None:
            continue
        if not isinstance(raw, Mapping):
            raise LabError(f"{source or 'a manifest'}: a document is not a mapping")
        kind = raw.get("kind")
        if kind not in API_VERSIONS:
            raise LabError(
                f"{source or 'a manifest'}: kind {kind!r} is not supported by the lab "
                f"node (it runs {', '.join(API_VERSIONS)})"
            )
        doc = Doc(kind, raw)
        doc.keys(raw, "", {"apiVersion", "kind", "metadata", "spec"})
        if raw.get("apiVersion") != API_VERSIONS[kind]:
            raise doc.error("apiVersion", f"must be {API_VERSIONS[kind]}")
        if kind == "Namespace":
            meta = doc.keys(raw.get("metadata"), "metadata", {"name"})
            if "spec" in raw:
                raise doc.error("spec", "is not supported by the lab node")
            state.namespaces.append(doc.string(meta.get("name"), "metadata.name"))
            continue
        obj: Deployment | Service = (
            parse_deployment(doc, raw, restarted_at or {})
            if kind == "Deployment"
            else parse_service(doc, raw)
        )
        if f"{kind}/{obj.key}" in seen:
            raise doc.error("metadata.name", "is defined twice")
        seen.add(f"{kind}/{obj.key}")
        (state.deployments if kind == "Deployment" else state.services).append(obj)
    return state


def load_text(
    text: str,
    source: str,
    state: DesiredState | None = None,
    restarted_at: Mapping[str, str] | None = None,
) -> DesiredState:
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise LabError(
            f"{source}:{where} is not valid YAML: {getattr(error, 'problem', None) or error}"
        ) from error
    return parse_documents(documents, state, source, restarted_at)


def manifest_files(directory: str | Path) -> list[Path]:
    """The desired state's files, in name order (the order ClusterIPs are allocated in)."""
    return sorted(Path(directory).glob("*.yaml")) if Path(directory).is_dir() else []


def load_files(
    paths: Iterable[str | Path], restarted_at: Mapping[str, str] | None = None
) -> DesiredState:
    state = DesiredState()
    for path in paths:
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise LabError(f"{path}: cannot be read: {error.strerror}") from error
        load_text(text, str(path), state, restarted_at)
    return state
