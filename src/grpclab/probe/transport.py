"""How the probe reaches the target: plaintext or TLS, mutual TLS, names, and request headers.

Plaintext is the default, as inside a cluster. ``--tls`` uses the system roots; ``--cacert``
implies TLS; ``--cert`` with ``--key`` adds a client certificate; ``--server-name`` is the name
the server's certificate is checked against and the SNI (``grpc.ssl_target_name_override``);
``--authority`` is the ``:authority`` of every call (``grpc.default_authority``). ``-H 'name:
value'`` headers go on every call; their values are never printed, only their names.
Files are read once, before anything connects; a file that cannot be read is one line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

_HEADER_NAME = re.compile(r"^[0-9a-z_.-]+$")
_RESERVED = ("grpc-", ":")  # set by gRPC itself
_TRANSPORT_HEADERS = {"content-type", "te", "user-agent", "host", "connection"}


class TransportError(ValueError):
    """Bad transport input (a header, a file, a missing pair): one line."""


def parse_header(text: str) -> tuple[str, str]:
    """``'name: value'`` -> (name in lower case, value); the value is never shown in errors."""
    name, colon, value = text.partition(":")
    name = name.strip().lower()
    if not colon or not name:
        raise TransportError(f"-H/--header {name or '?'!r}... is not 'name: value'")
    if not _HEADER_NAME.match(name) or name.startswith(_RESERVED) or name in _TRANSPORT_HEADERS:
        raise TransportError(f"-H/--header: {name!r} is not a header name a call can carry")
    value = value.strip()
    if name.endswith("-bin"):
        raise TransportError(f"-H/--header: {name!r} is binary (-bin); only text headers")
    if any(ord(c) < 0x20 or ord(c) > 0x7E for c in value):
        raise TransportError(f"-H/--header {name}: the value must be printable ASCII")
    return name, value


@dataclass(frozen=True)
class Transport:
    tls: bool = False
    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    server_name: str | None = None
    authority: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def secure(self) -> bool:
        return self.tls or self.cacert is not None or self.cert is not None

    @property
    def header_names(self) -> list[str]:
        return [name for name, _ in self.headers]

    def check(self) -> None:
        """Raise TransportError for a lone --cert/--key, names or files that cannot work."""
        if (self.cert is None) != (self.key is None):
            given = "--cert" if self.cert is not None else "--key"
            raise TransportError(f"{given} needs its pair: mutual TLS takes --cert and --key")
        if self.server_name is not None and not self.secure:
            raise TransportError("--server-name is the TLS name: it needs --tls or --cacert")
        for flag, value in (("--server-name", self.server_name), ("--authority", self.authority)):
            if value is not None and (not value or any(c.isspace() for c in value)):
                raise TransportError(f"{flag} {value!r} is not a host name")
        _ = self.credentials  # reads and checks the files, once

    @functools.cached_property
    def credentials(self) -> grpc.ChannelCredentials | None:
        """TLS credentials (files read once), or None for plaintext."""
        if not self.secure:
            return None
        roots = _read("--cacert", self.cacert) if self.cacert else None
        key = _read("--key", self.key) if self.key else None
        chain = _read("--cert", self.cert) if self.cert else None
        for flag, data, marker in (
            ("--cacert", roots, b"CERTIFICATE"),
            ("--cert", chain, b"CERTIFICATE"),
            ("--key", key, b"PRIVATE KEY"),
        ):
            if data is not None and (b"-----BEGIN" not in data or marker not in data):
                raise TransportError(f"{flag}: not a PEM file with a {marker.decode()}")
        return grpc.ssl_channel_credentials(
            root_certificates=roots, private_key=key, certificate_chain=chain
        )

    def options(self) -> list[tuple[str, object]]:
        options: list[tuple[str, object]] = []
        if self.server_name is not None:
            options.append(("grpc.ssl_target_name_override", self.server_name))
        if self.authority is not None:
            options.append(("grpc.default_authority", self.authority))
        return options

    def channel(self, target: str, options: Sequence[tuple[str, object]]) -> grpc.Channel:
        every = [*options, *self.options()]
        credentials = self.credentials
        if credentials is None:
            return grpc.insecure_channel(target, options=every)
        return grpc.secure_channel(target, credentials, options=every)

    def describe(self) -> dict:
        """For the JSON: what was used, header names only."""
        return {
            "tls": self.secure,
            "mutual_tls": self.cert is not None,
            "server_name": self.server_name,
            "authority": self.authority,
            "headers": self.header_names,
        }


def _read(flag: str, path: str | None) -> bytes:
    try:
        with open(path, "rb") as handle:  # type: ignore[arg-type]
            return handle.read()
    except OSError as err:
        raise TransportError(f"{flag} {path}: cannot read it: {err.strerror or err}") from None


# failures no wait can mend: a connection that fails so is reported at once
_CERTAIN = (
    "Hostname Verification",
    "Peer name",
    "CERTIFICATE_VERIFY_FAILED",
    "WRONG_VERSION_NUMBER",
    "CERTIFICATE_REQUIRED",
)


def certain(detail: str) -> bool:
    """Whether a failed connection's gRPC detail is one no wait can mend."""
    return any(marker in detail for marker in _CERTAIN)


def explain(detail: str, transport: Transport, target: str) -> str | None:
    """What a failed connection's gRPC detail means for the transport flags, or None."""
    name = transport.server_name or transport.authority or target.rpartition(":")[0]
    if "Hostname Verification" in detail or "Peer name" in detail:
        return (
            f"TLS name mismatch: the server's certificate is not for {name} (give "
            "--server-name with a name in its certificate)"
        )
    if "CERTIFICATE_VERIFY_FAILED" in detail:
        trusted = (
            f"the CA of --cacert {transport.cacert}"
            if transport.cacert
            else "a CA of the system roots"
        )
        return f"TLS: the server's certificate is not signed by {trusted}"
    if "WRONG_VERSION_NUMBER" in detail:
        return "the server does not speak TLS: leave --tls and --cacert out"
    if "CERTIFICATE_REQUIRED" in detail or (
        "Socket closed" in detail and transport.secure and transport.cert is None
    ):
        return "the server closed the TLS handshake: does it want a client --cert and --key?"
    if "Socket closed" in detail and not transport.secure:
        return "the server closed the connection at once: a TLS server? give --tls or --cacert"
    return None
