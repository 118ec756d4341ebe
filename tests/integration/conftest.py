"""Fixtures of the integration tier: three real Greeter servers and a real Envoy in front of them.

- ``greeter_replicas``: ``grpclab.apps.server`` processes on 127.0.1.1, .2, .3 port 50051 (as pods
  share a port on distinct IPs), each waited for until its health service says SERVING.
- ``envoy_proxy``: the ``envoy`` binary with a config written to a temporary folder: an L4
  ``tcp_proxy`` listener (RANDOM: balances connections, as kube-proxy does) on 127.0.2.101:50051
  and an L7 HTTP/2 listener (ROUND_ROBIN: balances requests, as cilium-envoy does) on
  127.0.2.102:50051; admin on 127.0.2.100:9901, waited for until ``/ready`` says LIVE.
- ``probe_targets``: the targets of the four paths: direct, l4, l7, client_side.
- ``run_probe_cli``: ``python tools/probe.py ARGS`` as a real process.

They bind the lab's addresses: run pytest under the lab lock,
``flock /tmp/grpclab-net.lock python -m pytest``. Module scope: a module that uses them starts
them and stops them when it ends, so other modules can bind the same addresses. The helpers they
use (tests/support/servers.py) take any addresses, for benchmarks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from servers import (
    ENVOY_ADMIN,
    ENVOY_L4,
    ENVOY_L7,
    REPLICA_ADDRESSES,
    REPLICA_PORT,
    REPO,
    EnvoyProxy,
    Replica,
    envoy_config,
    start_envoy,
    start_replicas,
    stop,
    write_envoy_config,
)

T = TypeVar("T")


def _started(what: str, start: Callable[[], T]) -> T:
    """``start()``, or fail the test with one clear line (no chained traceback)."""
    try:
        return start()
    except RuntimeError as err:
        message = f"cannot start {what}: {err}"
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="module")
def greeter_replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Replica]]:
    """Three real servers, replica-1..3 on 127.0.1.1..3:50051 (needs the lab lock)."""
    log_dir = tmp_path_factory.mktemp("replicas")
    replicas = _started(
        "the Greeter replicas",
        lambda: start_replicas(
            [
                (f"replica-{i}", address, REPLICA_PORT)
                for i, address in enumerate(REPLICA_ADDRESSES, start=1)
            ],
            log_dir,
        ),
    )
    yield replicas
    for replica in replicas:
        stop(replica.process)


@pytest.fixture(scope="module")
def envoy_proxy(
    greeter_replicas: list[Replica], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EnvoyProxy]:
    """A real Envoy in front of ``greeter_replicas``: L4 RANDOM and L7 ROUND_ROBIN listeners."""
    folder = tmp_path_factory.mktemp("envoy")
    upstreams = [(r.address, r.port) for r in greeter_replicas]
    config = write_envoy_config(
        folder / "envoy.yaml", envoy_config(upstreams, ENVOY_L4, ENVOY_L7, ENVOY_ADMIN)
    )
    log = folder / "envoy.log"
    process = _started(
        "envoy", lambda: start_envoy(config, ENVOY_ADMIN, log, listeners=[ENVOY_L4, ENVOY_L7])
    )
    yield EnvoyProxy(
        l4_target=f"{ENVOY_L4[0]}:{ENVOY_L4[1]}",
        l7_target=f"{ENVOY_L7[0]}:{ENVOY_L7[1]}",
        admin_url=f"http://{ENVOY_ADMIN[0]}:{ENVOY_ADMIN[1]}",
        config=config,
        process=process,
        log=log,
    )
    stop(process)


@pytest.fixture(scope="module")
def probe_targets(greeter_replicas: list[Replica], envoy_proxy: EnvoyProxy) -> dict[str, str]:
    """Targets of the four paths: one replica, L4 proxy, L7 proxy, client-side address list."""
    return {
        "direct": greeter_replicas[0].target,
        "l4": envoy_proxy.l4_target,
        "l7": envoy_proxy.l7_target,
        "client_side": "ipv4:" + ",".join(r.target for r in greeter_replicas),
    }


@pytest.fixture
def run_probe_cli() -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python tools/probe.py ARGS`` as a real process; returns the completed process."""

    def run(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        return subprocess.run(
            [sys.executable, str(REPO / "tools" / "probe.py"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )

    return run
