"""kind load, idempotent: the grpc_apps role's image tasks load the image only into the nodes whose
containerd lacks its content tag. kind needs a node image no registry serves here, so the nodes
are containers of the stand-in base (network none) with a crictl that answers `inspecti` from
the images loaded into them, and a stand-in kind does the two things the role asks of kind: list
the nodes, load images into the ones named. Docker, the image, the role's tasks and its tag and
skip logic are the real ones."""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path

import pytest
from ansible_cli import recap, run_tool
from test_container import BASE, IMAGE, PLAYBOOK, REQUIRED, docker, unavailable

pytestmark = pytest.mark.slow

STAND_IN_KIND = """#!/bin/sh
# what grpc_apps asks of kind: get nodes --name C; load docker-image REF... --name C --nodes N,M
set -eu
case "$1 $2" in
  "get nodes")
    docker ps --filter "label=grpclab-test-node=$4" --format '{{.Names}}' | sort ;;
  "load docker-image")
    shift 2; refs=""; nodes=""
    while [ $# -gt 0 ]; do
      case "$1" in
        --name) shift 2 ;;
        --nodes) nodes=$2; shift 2 ;;
        *) refs="$refs $1"; shift ;;
      esac
    done
    echo "load$refs -> $nodes" >> "$KIND_STAND_IN_LOG"
    for node in $(echo "$nodes" | tr , ' '); do
      for ref in $refs; do docker exec "$node" sh -c "echo $ref >> /images"; done
    done ;;
  *) echo "stand-in kind: $*" >&2; exit 2 ;;
esac
"""
# crictl inspecti --quiet REF: found when REF was loaded into this node
CRICTL = '#!/bin/sh\ntouch /images\ngrep -qxF "$3" /images\n'


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory):
    reason = unavailable()
    if reason:
        if REQUIRED:
            pytest.fail(f"GRPCLAB_CONTAINER_TESTS=required, but {reason}")
        pytest.skip(f"container tier skipped: {reason}")
    cluster = f"load-{uuid.uuid4().hex[:6]}"
    names = [f"{cluster}-control-plane", f"{cluster}-worker"]
    try:
        for name in names:
            docker(
                "run",
                "-d",
                "--name",
                name,
                "--network",
                "none",
                "--label",
                f"grpclab-test-node={cluster}",
                BASE,
                "sleep",
                "infinity",
            )
            crictl = "/usr/local/bin/crictl"
            script = f"printf '%s' '{CRICTL}' > {crictl} && chmod +x {crictl}"
            docker("exec", name, "sh", "-c", script)
        yield cluster, names
    finally:
        docker("rm", "--force", *names, check=False)


def load(cluster: str, tmp: Path) -> tuple[int, list[str], str]:
    """One run of the role's image tasks with the kind load on; (changed, load lines, output)."""
    kind = tmp / "kind"
    kind.write_text(STAND_IN_KIND)
    kind.chmod(kind.stat().st_mode | stat.S_IXUSR)
    log = tmp / "loads.log"
    log.touch()
    before = log.read_text().splitlines()
    extra = {
        "grpclab_state_dir": str(tmp / "state"),
        "grpclab_docker_host": os.environ.get("GRPCLAB_CONTAINER_DOCKER_HOST", ""),
        "grpclab_cluster_name": cluster,
        "cluster_kind_command": str(kind),
        "__grpc_apps_load_into_kind": True,
        "grpc_apps_image": IMAGE,
        "grpc_apps_image_build_network": "host",
        "grpc_apps_image_build_args": {"PYTHON_IMAGE": BASE},
        "container_probe_cases": [],
    }
    os.environ["KIND_STAND_IN_LOG"] = str(log)
    try:
        run = run_tool(
            "ansible-playbook",
            "-i",
            "inventories/kind",
            str(PLAYBOOK),
            "-e",
            json.dumps(extra),
            timeout=1200,
        )
    finally:
        del os.environ["KIND_STAND_IN_LOG"]
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    return recap(run.stdout)["changed"], log.read_text().splitlines()[len(before) :], run.stdout


def test_the_image_is_loaded_once_and_again_only_where_it_is_missing(nodes, tmp_path):
    cluster, names = nodes
    changed, loads, output = load(cluster, tmp_path)
    assert changed >= 1
    image_id = json.loads(docker("image", "inspect", IMAGE).stdout)[0]["Id"]
    ref = image_id.removeprefix("sha256:")[:12]
    assert loads == [f"load grpclab:content-{ref} {IMAGE} -> {','.join(names)}"], output[-3000:]
    # a second run: every node has the content tag, nothing is loaded, nothing changes
    changed, loads, output = load(cluster, tmp_path)
    assert loads == [], output[-3000:]
    assert changed == 0, output[-3000:]
    # a node that lost the image (a node recreated) gets it again, and only that node
    docker("exec", names[1], "rm", "-f", "/images")
    changed, loads, output = load(cluster, tmp_path)
    assert loads == [f"load grpclab:content-{ref} {IMAGE} -> {names[1]}"], output[-3000:]
    assert changed == 1
