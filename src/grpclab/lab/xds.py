"""Filesystem xDS: the node proxy's listeners, clusters and endpoints, as files Envoy watches.

Layout under ``<state_dir>/envoy/``: ``envoy.yaml`` (bootstrap), ``lds.yaml``, ``cds.yaml``,
``eds/<cluster>.yaml``. Each file is replaced atomically (a temporary file in the same folder,
renamed over it), which is the move Envoy's ``watched_directory`` reacts to. Only files whose
content changed are written; endpoints first, then clusters, then listeners, so nothing refers
to what does not exist yet. Envoy is never restarted: an endpoint change is one EDS file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from grpclab.lab import envoyconfig


@dataclass(frozen=True)
class ProxyService:
    """One Service port as the node proxy serves it."""

    cluster: str  # also the listener's and the EDS file's name
    address: tuple[str, int]
    l7: bool
    algorithm: str | None
    endpoints: tuple[tuple[str, int], ...]


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def dump(data: object) -> str:
    return yaml.safe_dump(data, sort_keys=False)


class XdsFiles:
    """Writes the xDS files of one node proxy, remembering what is on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.eds_dir = directory / "eds"
        self.lds = directory / "lds.yaml"
        self.cds = directory / "cds.yaml"
        self.bootstrap_path = directory / "envoy.yaml"
        self._written: dict[Path, str] = {}

    def prepare(self, admin: dict) -> Path:
        """Empty listeners and clusters, and the bootstrap that points at them."""
        self.eds_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.eds_dir.glob("*.yaml"):
            stale.unlink()
        self._written.clear()
        self.apply([])
        atomic_write(self.bootstrap_path, dump(envoyconfig.bootstrap(admin, self.lds, self.cds)))
        return self.bootstrap_path

    def _write(self, path: Path, text: str) -> bool:
        if self._written.get(path) == text:
            return False
        atomic_write(path, text)
        self._written[path] = text
        return True

    def apply(self, services: Sequence[ProxyService]) -> list[str]:
        """Bring the files to ``services``; returns the names of the files written."""
        written = []
        eds: Mapping[str, Path] = {s.cluster: self.eds_dir / f"{s.cluster}.yaml" for s in services}
        for service in services:
            assignment = envoyconfig.load_assignment(service.cluster, service.endpoints)
            text = dump(envoyconfig.discovery_response(envoyconfig.ASSIGNMENT_TYPE, [assignment]))
            if self._write(eds[service.cluster], text):
                written.append(eds[service.cluster].name)
        clusters = [
            envoyconfig.cluster(
                s.cluster,
                envoyconfig.lb_policy(s.algorithm, l7=s.l7),
                http2=s.l7,
                eds_path=eds[s.cluster],
            )
            for s in services
        ]
        if self._write(
            self.cds, dump(envoyconfig.discovery_response(envoyconfig.CLUSTER_TYPE, clusters))
        ):
            written.append(self.cds.name)
        listeners = [
            envoyconfig.listener(s.cluster, s.address, s.cluster, l7=s.l7) for s in services
        ]
        if self._write(
            self.lds, dump(envoyconfig.discovery_response(envoyconfig.LISTENER_TYPE, listeners))
        ):
            written.append(self.lds.name)
        for path in self.eds_dir.glob("*.yaml"):
            if path.stem not in eds:
                path.unlink()
                self._written.pop(path, None)
        return written
