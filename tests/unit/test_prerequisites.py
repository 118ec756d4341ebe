"""grpclab.prerequisites: the Docker endpoint resolved as the docker CLI resolves it, the engine
asked over that endpoint (a real HTTP server on a unix socket), and the lines that name what is
missing."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from grpclab import prerequisites as p


def write_context(config_dir: Path, name: str, host: str, current: bool = True) -> None:
    meta = config_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps(
            {
                "Name": name,
                "Metadata": {},
                "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}},
            }
        )
    )
    if current:
        (config_dir / "config.json").write_text(json.dumps({"auths": {}, "currentContext": name}))


# --- the endpoint -------------------------------------------------------------------------


def test_docker_host_wins(tmp_path):
    write_context(tmp_path / ".docker", "colima", "unix:///colima.sock")
    endpoint = p.docker_endpoint({"DOCKER_HOST": "tcp://127.0.0.1:2375"}, tmp_path)
    assert endpoint == p.DockerEndpoint("tcp://127.0.0.1:2375", "DOCKER_HOST")


def test_the_current_context_of_the_cli_config(tmp_path):
    write_context(tmp_path / ".docker", "colima", "unix:///home/u/.colima/default/docker.sock")
    endpoint = p.docker_endpoint({}, tmp_path)
    assert endpoint.host == "unix:///home/u/.colima/default/docker.sock"
    assert endpoint.source == "docker context colima"


def test_docker_context_overrides_the_config_and_docker_config_moves_it(tmp_path):
    config = tmp_path / "elsewhere"
    write_context(config, "desktop-linux", "unix:///desktop.sock")
    write_context(config, "rootless", "unix:///run/user/1000/docker.sock", current=False)
    env = {"DOCKER_CONFIG": str(config), "DOCKER_CONTEXT": "rootless"}
    assert p.docker_endpoint(env, tmp_path).host == "unix:///run/user/1000/docker.sock"


@pytest.mark.parametrize("config", [None, {"auths": {}}, {"currentContext": "default"}])
def test_the_default_socket_without_a_context(tmp_path, config):
    if config is not None:
        (tmp_path / ".docker").mkdir()
        (tmp_path / ".docker" / "config.json").write_text(json.dumps(config))
    expected = p.DockerEndpoint(p.DEFAULT_DOCKER_HOST, "the default socket")
    assert p.docker_endpoint({}, tmp_path) == expected


def test_a_context_that_does_not_exist_is_one_clear_error(tmp_path):
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text(json.dumps({"currentContext": "gone"}))
    with pytest.raises(p.EndpointError, match=r"docker context 'gone' .* does not exist"):
        p.docker_endpoint({}, tmp_path)


def test_an_unreadable_config_is_one_clear_error(tmp_path):
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text("{not json")
    with pytest.raises(p.EndpointError, match="cannot read"):
        p.docker_endpoint({}, tmp_path)


# --- asking the engine --------------------------------------------------------------------


class _Engine(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"Version": "20.10.24", "ApiVersion": "1.41"}).encode()
        self.send_response(200 if self.path == "/version" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _UnixHTTPServer(HTTPServer):
    address_family = socket.AF_UNIX

    def server_bind(self):
        self.socket.bind(self.server_address)

    def get_request(self):
        request, _ = self.socket.accept()
        return request, ("local", 0)


@pytest.fixture
def engine_socket(tmp_path):
    path = tmp_path / "engine.sock"
    server = _UnixHTTPServer(str(path), _Engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()


def test_the_engine_answers_on_a_unix_socket(engine_socket):
    assert p.docker_server_version(f"unix://{engine_socket}") == "20.10.24"


def test_nothing_on_the_socket_is_an_oserror(tmp_path):
    with pytest.raises(OSError):
        p.docker_server_version(f"unix://{tmp_path / 'none.sock'}", timeout=2)


# --- the lines ----------------------------------------------------------------------------

TOOLS = (p.Tool("kind", "0.31.0", "get kind"), p.Tool("helm", "3.10.0", "get helm"))


def judge(**found) -> tuple[list[str], list[str]]:
    defaults = {
        "tools": {"kind": "kind v0.31.0 go1.25 linux/amd64", "helm": "v3.19.2+g8766e71"},
        "kubernetes_core": "6.2.0",
        "inotify": {"max_user_watches": 524288, "max_user_instances": 512},
    }
    clusters = found.pop("kind_clusters", 1)
    return p.problems(
        p.Wanted(TOOLS, docker=True, kind_clusters=clusters), p.Found(**{**defaults, **found})
    )


def test_all_there_is_no_problem():
    assert judge() == ([], [])


def test_an_unreachable_engine_names_the_endpoint_and_what_chose_it():
    errors, _ = judge(
        docker_error="connection refused",
        docker_endpoint=p.DockerEndpoint("unix:///x.sock", "docker context colima"),
    )
    assert errors == [
        f"Docker daemon not reachable at unix:///x.sock (docker context colima): "
        f"connection refused; {p.DOCKER_HOW}"
    ]


def test_missing_and_old_tools_each_get_their_line():
    errors, _ = judge(tools={"kind": "", "helm": "v3.9.1"})
    assert errors == [
        "kind not found (or it did not answer 'kind version'); install kind >= 0.31.0: get kind",
        "helm 3.9.1 is older than 3.10.0: upgrade it: get helm",
    ]


@pytest.mark.parametrize(("collection", "refused"), [("6.2.0", True), ("6.4.0", False), ("", True)])
def test_helm_4_needs_a_kubernetes_core_that_supports_it(collection, refused):
    errors, _ = judge(tools={"kind": "v0.31.0", "helm": "v4.0.1+g1"}, kubernetes_core=collection)
    assert bool(errors) is refused
    if refused:
        assert "is Helm 4" in errors[0] and "kubernetes.core >= 6.4.0" in errors[0]


def test_the_python_client_missing():
    errors, _ = judge(kubernetes_client_error="No module named 'kubernetes'")
    assert len(errors) == 1 and "pip install -e ." in errors[0]


def test_low_inotify_limits_warn_for_one_cluster_and_stop_two():
    low = {"max_user_watches": 8192, "max_user_instances": 128}
    errors, warnings = judge(inotify=low)
    assert errors == [] and len(warnings) == 1
    settings = "fs.inotify.max_user_instances=512 fs.inotify.max_user_watches=524288"
    assert f"sudo sysctl {settings}" in warnings[0]
    errors, warnings = judge(inotify=low, kind_clusters=2)
    assert len(errors) == 1 and warnings == []
    assert "2 kind cluster(s) (max_user_instances 128, max_user_watches 8192)" in errors[0]
