"""gRPC target syntax: is a ``--target`` string one gRPC can connect to?

gRPC itself accepts nearly any string and then never connects; checking the form first turns a
typo into an immediate, clear error instead of a connect timeout. Pure functions, no I/O.
"""

from __future__ import annotations

import ipaddress
import re

SCHEMES = ("dns", "ipv4", "ipv6", "unix", "unix-abstract")
TARGET_FORMS = (
    "host:port, dns:///host:port, ipv4:addr:port[,addr:port...] or ipv6:[addr]:port[,...]"
)
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$")
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")


class MalformedTarget(ValueError):
    """The target's form is wrong: the message is one line, starting "malformed target"."""


def _check_port(target: str, port: str) -> None:
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise MalformedTarget(f"malformed target {target!r}: {port!r} is not a port (1-65535)")


def _check_host_port(target: str, hostport: str) -> None:
    """``host:port``, ``a.b.c.d:port`` or ``[v6]:port``; the port is required."""
    if hostport.startswith("["):
        host, sep, port = hostport[1:].partition("]")
        if not sep or not port.startswith(":"):
            raise MalformedTarget(f"malformed target {target!r}: expected [ipv6-address]:port")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise MalformedTarget(
                f"malformed target {target!r}: {host!r} is not an IPv6 address"
            ) from None
        _check_port(target, port[1:])
        return
    if hostport.count(":") > 1:
        raise MalformedTarget(
            f"malformed target {target!r}: an IPv6 address needs brackets, as in [::1]:50051"
        )
    host, sep, port = hostport.rpartition(":")
    if not sep or not host:
        what = "missing :port" if hostport else "empty address"
        raise MalformedTarget(f"malformed target {target!r}: {what} (expected {TARGET_FORMS})")
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise MalformedTarget(
                f"malformed target {target!r}: {host!r} is not an IPv4 address"
            ) from None
    elif not _HOSTNAME_RE.match(host):
        raise MalformedTarget(f"malformed target {target!r}: {host!r} is not a host name")
    _check_port(target, port)


def check_target(target: str) -> None:
    """Raise MalformedTarget unless ``target`` is a gRPC target the probe can use."""
    if not target or any(c.isspace() for c in target):
        raise MalformedTarget(f"malformed target {target!r}: expected {TARGET_FORMS}")
    match = _SCHEME_RE.match(target)
    # "host:port" also looks like "scheme:rest"; it is a URI only for a known scheme or "//"
    is_uri = match is not None and (
        match.group(1).lower() in SCHEMES or match.group(2).startswith("//")
    )
    if match is None or not is_uri:
        _check_host_port(target, target)
        return
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme not in SCHEMES:
        raise MalformedTarget(
            f"malformed target {target!r}: unsupported scheme {scheme!r} (expected {TARGET_FORMS})"
        )
    if scheme == "dns":
        if rest.startswith("//"):  # dns://[authority]/host:port
            _authority, slash, rest = rest[2:].partition("/")
            if not slash:
                raise MalformedTarget(f"malformed target {target!r}: expected dns:///host:port")
        _check_host_port(target, rest)
    elif scheme == "ipv6":
        for address in rest.split(","):
            if not address.startswith("["):
                raise MalformedTarget(
                    f"malformed target {target!r}: ipv6: addresses are written [addr]:port"
                )
            _check_host_port(target, address)
    elif scheme == "ipv4":
        for address in rest.split(","):
            host, _, port = address.rpartition(":")
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise MalformedTarget(
                    f"malformed target {target!r}: {address!r} is not ipv4-address:port"
                ) from None
            _check_port(target, port)
    elif not rest.lstrip("/"):  # unix:path, unix-abstract:name
        raise MalformedTarget(f"malformed target {target!r}: {scheme}: needs a path")
