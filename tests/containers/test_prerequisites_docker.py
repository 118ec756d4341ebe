"""The Docker endpoint: the prerequisites check and the community.docker modules use the same
one, resolved as the docker CLI resolves it. Here the engine is named only by the current docker
context (no DOCKER_HOST), as on Colima, Docker Desktop for Linux or rootless Docker, and the
default socket has no engine: the check passes, community.docker reaches the engine too, and so
does the churn role's crash (its docker_container_exec calls)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from ansible_cli import BIN, ROOT, recap
from test_container import REQUIRED, docker_host, unavailable

from grpclab import prerequisites

pytestmark = pytest.mark.slow

PLAYBOOK = ROOT / "tests" / "containers" / "test_prerequisites_docker.yml"


@pytest.fixture
def home_with_a_context(tmp_path: Path) -> Path:
    reason = unavailable()
    if reason:
        if REQUIRED:
            pytest.fail(f"GRPCLAB_CONTAINER_TESTS=required, but {reason}")
        pytest.skip(f"needs a Docker engine: {reason}")
    if docker_host() == prerequisites.DEFAULT_DOCKER_HOST:
        pytest.skip("the engine is on the default socket: a context would change nothing")
    config = tmp_path / ".docker"
    meta = config / "contexts" / "meta" / hashlib.sha256(b"grpclab-ci").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps(
            {"Name": "grpclab-ci", "Metadata": {}, "Endpoints": {"docker": {"Host": docker_host()}}}
        )
    )
    (config / "config.json").write_text(json.dumps({"currentContext": "grpclab-ci"}))
    return tmp_path


def test_the_check_and_community_docker_use_the_contexts_endpoint(home_with_a_context):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG")
    }
    env.update(HOME=str(home_with_a_context), ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CONFIG", None)
    argv = [str(BIN / "ansible-playbook"), "-i", "inventories/kind", str(PLAYBOOK)]
    run = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    said = " ".join(output.split())
    assert f"checked {docker_host()} (docker context grpclab-ci), problems 0" in said
    assert "community.docker reached " in said
    assert "the crash reached the engine: True" in said
    assert recap(output)["changed"] == 0
