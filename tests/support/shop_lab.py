"""A lab of ``shop.Orders`` servers for the probe's tests, on a loopback /24 of its own.

:func:`shop_lab` starts three replicas with reflection (``shop-1..3`` on NET.1-3), one
without reflection (NET.4), one with TLS (NET.5), one with mutual TLS (NET.6), one that splits
its streams (NET.7), and with ``envoy`` the real Envoy in front of the three (L4 tcp_proxy and
L7 HTTP/2 round robin on NET.10); ephemeral ports throughout. :func:`run_probe` runs the
probe's ``main`` in-process with ``--json``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import shop
import tls_ca
from servers import envoy_config, start_envoy, stop, write_envoy_config

from grpclab.probe import cli

NET = "127.0.61"  # the probe helper's own /24: no lab address, no lab lock
REPLICAS = ("shop-1", "shop-2", "shop-3")


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextmanager
def shop_lab(folder: Path, *, envoy: bool = True) -> Iterator[dict]:
    """The servers (module docstring); yields their targets, the protoset, the CA's files and
    each server's :class:`shop.Orders` (``orders``), with ``l4``/``l7`` when ``envoy``."""
    types = shop.Types(shop.compile_protoset(folder))
    ca = tls_ca.make_ca(folder / "ca")
    key, cert = ca["server_key"].read_bytes(), ca["server_cert"].read_bytes()
    with shop.shop_servers(types) as start:
        replicas = [start(name, f"{NET}.{i}") for i, name in enumerate(REPLICAS, start=1)]
        targets = {
            "replicas": replicas,
            "plain": start("bare", f"{NET}.4", reflection=False),
            "tls": start("tls", f"{NET}.5", credentials=grpc.ssl_server_credentials([(key, cert)])),
            "mtls": start(
                "mtls",
                f"{NET}.6",
                credentials=grpc.ssl_server_credentials(
                    [(key, cert)], root_certificates=ca["ca"].read_bytes(), require_client_auth=True
                ),
            ),
            "liar": start("liar", f"{NET}.7", liar=True),
            "protoset": str(folder / "shop.protoset"),
            "ca": ca,
            "orders": start.orders,  # type: ignore[attr-defined]
        }
        if not envoy:
            yield targets
            return
        host = f"{NET}.10"
        l4, l7, admin = ((host, free_port(host)) for _ in range(3))
        upstreams = [(t.rpartition(":")[0], int(t.rpartition(":")[2])) for t in replicas]
        config = write_envoy_config(folder / "envoy.yaml", envoy_config(upstreams, l4, l7, admin))
        proxy = start_envoy(config, admin, folder / "envoy.log", listeners=[l4, l7])
        try:
            yield {**targets, "l4": f"{l4[0]}:{l4[1]}", "l7": f"{l7[0]}:{l7[1]}"}
        finally:
            stop(proxy)


def run_probe(capsys, *argv: str) -> tuple[int, dict | None, str]:
    """Run the probe's main with ``--json``; (exit status, the JSON document or None, stderr)."""
    status = cli.main([*argv, "--json"])
    out, err = capsys.readouterr()
    return status, (json.loads(out) if out.strip() else None), err
