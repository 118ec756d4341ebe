"""grpclab.lab.watch_argv: the watch role's monitor command line, with the probe's flag names
for any service, and never the options the role leaves out (headers, streams)."""

from __future__ import annotations

import sys

import pytest
from ansible_cli import ROOT

sys.path.insert(0, str(ROOT / "collections"))
from ansible_collections.grpclab.lab.plugins.filter.watch_argv import watch_argv

from grpclab.probe.options import parse_options
from grpclab.probe.watch import checked

WINDOW = {
    "expect": "spread",
    "replicas": 3,
    "rate": 10,
    "window": 30,
    "connections": 4,
    "min_share": 0.5,
    "max_error_rate": 0.0,
    "timeout": 5.0,
    "metrics_address": "$(POD_IP):9102",
}
UNSET = {"call": "", "data": "", "identity": [], "tls": False, "cacert": "", "cert": "", "key": ""}


def test_the_window_options_and_nothing_unset() -> None:
    argv = watch_argv("grpc-server.grpc-server.svc.cluster.local:50051", {**WINDOW, **UNSET})
    assert argv == [
        "grpclab-probe", "--watch", "--target", "grpc-server.grpc-server.svc.cluster.local:50051",
        "--expect", "spread", "--replicas", "3", "--rate", "10", "--window", "30",
        "--connections", "4", "--min-share", "0.5", "--max-error-rate", "0.0",
        "--timeout", "5.0", "--metrics-address", "$(POD_IP):9102",
    ]  # fmt: skip


def test_a_users_service_and_never_headers_nor_messages() -> None:
    settings = {
        **WINDOW,
        "call": "shop.Orders/Get",
        "data": {"id": 7, "tags": ["a"]},
        "identity": ["field:servedBy.pod", "header:x-pod"],
        "tls": "True",
        "server_name": "orders.example",
        "authority": "orders.example:443",
        "headers": ["authorization: Bearer s3cret"],
        "messages": 5,
    }
    argv = watch_argv("orders.shop.svc.cluster.local:50051", settings)
    assert argv[argv.index("$(POD_IP):9102") + 1 :] == [
        "--call", "shop.Orders/Get", "-d", '{"id":7,"tags":["a"]}',
        "--identity", "field:servedBy.pod", "--identity", "header:x-pod", "--tls",
        "--server-name", "orders.example", "--authority", "orders.example:443",
    ]  # fmt: skip
    assert not any("s3cret" in arg or arg in {"-H", "--messages"} for arg in argv)


def test_the_probe_parses_what_the_filter_writes() -> None:
    # the flag names are the probe's own: its parser takes the argv as the pod runs it
    settings = {**WINDOW, **UNSET, "call": "shop.Orders/Get", "identity": ["trailer:pod"]}
    argv = watch_argv("orders.shop.svc.cluster.local:50051", settings)
    argv[argv.index("$(POD_IP):9102")] = "127.0.0.1:9102"
    options = checked(parse_options(argv[1:]))
    assert options.watch and options.window == 30 and options.rate == 10


@pytest.mark.parametrize("key", list(WINDOW))
def test_a_window_option_is_required(key: str) -> None:
    with pytest.raises(KeyError):
        watch_argv("t:1", {k: v for k, v in WINDOW.items() if k != key})
