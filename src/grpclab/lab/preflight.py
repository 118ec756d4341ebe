"""The preflight: binaries that must run and addresses that must be free before a lab starts."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

from grpclab.lab.errors import LabError
from grpclab.lab.pidfiles import live_records
from grpclab.sockets import bind_error


def split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise LabError(f"{address!r} is not host:port")
    return host.strip("[]"), int(port)


def address_problem(address: str) -> str | None:
    """None when ``address`` (host:port) can be bound now, else why not, in one line."""
    problem = bind_error(*split_address(address))
    return f"{address} is already in use ({problem})" if problem else None


def binary_version(argv: Sequence[str], timeout: float = 20.0) -> str:
    """The first output line of ``argv`` (e.g. ``envoy --version``); LabError if it cannot run."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as error:
        raise LabError(f"{argv[0]} not found") from error
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LabError(f"{argv[0]} cannot run: {error}") from error
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        last = output.splitlines()[-1] if output else f"exit status {done.returncode}"
        raise LabError(f"{' '.join(argv)} failed: {last}")
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[0] if lines else ""


@dataclass
class PreflightReport:
    versions: dict[str, str] = field(default_factory=dict)
    checked: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # planned addresses our own processes hold
    problems: list[str] = field(default_factory=list)


def preflight(
    state_dir: str | os.PathLike, addresses: Sequence[str], binaries: Sequence[Sequence[str]] = ()
) -> PreflightReport:
    """Check that every binary runs and every planned address is free, except the addresses
    that this cluster's own live processes (its pid files) already hold."""
    report = PreflightReport()
    for argv in binaries:
        try:
            report.versions[argv[0]] = binary_version(argv)
        except LabError as error:
            report.problems.append(str(error))
    held = {address for record in live_records(state_dir).values() for address in record.listen}
    for address in addresses:
        if address in held:
            report.held.append(address)
            continue
        report.checked.append(address)
        try:
            problem = address_problem(address)
        except LabError as error:
            problem = str(error)
        if problem:
            report.problems.append(problem)
    return report
