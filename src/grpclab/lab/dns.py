"""The cluster DNS (CoreDNS's part): ``<svc>.<ns>[.svc[.cluster.local]]`` over UDP and TCP.

A ClusterIP Service answers its ClusterIP, a headless one the addresses of its ready pods, with
a TTL of 1 s. Any other name is NXDOMAIN (nothing is forwarded). The records are one dict the
node replaces whole when anything changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dnslib import QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

TTL = 1
DOMAIN = "svc.cluster.local"


def record_names(service: str, namespace: str) -> list[str]:
    return [
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.{DOMAIN}",
    ]


def records(services: Sequence[tuple[str, str, Sequence[str]]]) -> dict[str, tuple[str, ...]]:
    """name -> addresses, from (service, namespace, addresses) triples."""
    table: dict[str, tuple[str, ...]] = {}
    for service, namespace, addresses in services:
        for name in record_names(service, namespace):
            table[name] = tuple(addresses)
    return table


class _Resolver(BaseResolver):
    def __init__(self) -> None:
        self.table: Mapping[str, tuple[str, ...]] = {}

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        addresses = self.table.get(name)
        if addresses is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype in (QTYPE.A, QTYPE.ANY):
            for address in addresses:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=TTL))
        return reply


class ClusterDns:
    """The node's DNS server on ``address``:``port``, UDP and TCP, in background threads."""

    def __init__(self, address: str, port: int) -> None:
        self._resolver = _Resolver()
        quiet = DNSLogger(
            log="-request,-reply,-truncated,-error,-recv,-send,-data", logf=lambda _text: None
        )
        self._servers = [
            DNSServer(self._resolver, address=address, port=port, tcp=tcp, logger=quiet)
            for tcp in (False, True)
        ]

    def start(self) -> None:
        for server in self._servers:
            server.start_thread()

    def update(self, table: Mapping[str, tuple[str, ...]]) -> None:
        self._resolver.table = dict(table)

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()
