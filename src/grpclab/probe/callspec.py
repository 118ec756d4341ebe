"""What the probe calls and how: the method, its request, identity specs, TLS and headers.

:class:`CallSpec` is the part of :class:`grpclab.probe.options.ProbeOptions` that the flags of
ghz and grpcurl fill (``--call``, ``-d``, ``--protoset``, ``--proto``, ``--import-path``,
``--identity``, ``--messages``, ``--tls``, ``--cacert``, ``--cert``, ``--key``,
``--server-name``, ``--authority``, ``-H``); :func:`add_arguments` adds those flags to the
probe's parser and :func:`from_args` reads them back.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field

from grpclab.probe.descriptors import GREETER_CALL, DescriptorError, parse_call
from grpclab.probe.identity import PEER, Spec, SpecError, parse_specs
from grpclab.probe.transport import Transport, TransportError, parse_header

DEFAULT_MESSAGES = 10
MAX_MESSAGES = 100_000


class CallSpecError(ValueError):
    """A call flag is wrong: one line."""


@dataclass(frozen=True)
class CallSpec:
    call: str = GREETER_CALL
    data: str | None = None
    protoset: str | None = None
    proto: str | None = None
    import_paths: tuple[str, ...] = ()
    identity: tuple[str, ...] = ()  # empty: the default specs (grpclab.probe.identity)
    messages: int | None = None  # None: DEFAULT_MESSAGES on bidi / client streaming
    transport: Transport = field(default_factory=Transport)

    @property
    def specs(self) -> tuple[Spec, ...]:
        return parse_specs(self.identity)

    @property
    def by_peer(self) -> bool:
        return any(spec.kind == PEER for spec in self.specs)

    def validate(self) -> None:
        """Raise CallSpecError naming the first bad flag (no I/O but reading TLS files)."""
        try:
            parse_call(self.call)
            specs = self.specs
            self.transport.check()
        except (DescriptorError, SpecError, TransportError) as err:
            raise CallSpecError(str(err)) from None
        if len(specs) > 1 and any(spec.kind == PEER for spec in specs):
            raise CallSpecError(
                "--identity peer stands alone: the peer is counted per connection, not read "
                "from a reply, so it cannot be tried after another spec"
            )
        if self.protoset is not None and self.proto is not None:
            raise CallSpecError("--protoset and --proto are two sources of types: give one")
        if self.import_paths and self.proto is None:
            raise CallSpecError("--import-path is where --proto's imports are: it needs --proto")
        if self.messages is not None and not 1 <= self.messages <= MAX_MESSAGES:
            raise CallSpecError(
                f"--messages must be 1 to {MAX_MESSAGES} messages per stream, not {self.messages}"
            )

    def to_dict(self) -> dict:
        """For the JSON: the call and its transport, header names only (never values)."""
        return {
            "method": self.call,
            "identity": list(self.identity) or None,
            "types": "protoset" if self.protoset else "proto" if self.proto else None,
            **self.transport.describe(),
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The call's flags, named as ghz's and grpcurl's."""
    add = parser.add_argument
    add(
        "--call",
        default=GREETER_CALL,
        metavar="SERVICE/METHOD",
        help="the method to call, pkg.Service/Method or pkg.Service.Method (default: %(default)s)",
    )
    add("-d", "--data", default=None, metavar="JSON", help="the request as protobuf JSON")
    add("--protoset", metavar="FILE", help="message types from a FileDescriptorSet")
    add("--proto", metavar="FILE", help="message types from a .proto compiled at run time")
    add(
        "--import-path",
        action="append",
        default=[],
        metavar="DIR",
        help="where --proto's imports are (repeatable; default: the .proto's folder)",
    )
    add(
        "--identity",
        action="append",
        default=[],
        metavar="SPEC",
        help="which replica answered, tried in order (repeatable): header:NAME, trailer:NAME, "
        "field:PATH or peer, each with an optional ~REGEX (default: header:hostname, then the "
        "Greeter's 'Hello from <name>')",
    )
    add(
        "--messages",
        type=int,
        default=None,
        metavar="N",
        help=f"messages per stream of a bidi or client-streaming method (default: "
        f"{DEFAULT_MESSAGES})",
    )
    add("--tls", action="store_true", help="TLS with the system's root certificates")
    add("--cacert", metavar="FILE", help="TLS, trusting the CA certificates of FILE (PEM)")
    add("--cert", metavar="FILE", help="client certificate for mutual TLS (PEM, with --key)")
    add("--key", metavar="FILE", help="client private key for mutual TLS (PEM, with --cert)")
    add("--server-name", metavar="NAME", help="the TLS name to check and send as SNI")
    add("--authority", metavar="NAME", help="the :authority of every call")
    add(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a header on every call (repeatable); values are never printed",
    )


def check_unquoted_headers(argv: Sequence[str]) -> None:
    """Raise CallSpecError for ``-H name:`` followed by a stray word: an unquoted header's
    value, which argparse would otherwise print as an unrecognized argument."""
    for i, arg in enumerate(argv):
        if arg in ("-H", "--header"):
            value, rest = (argv[i + 1] if i + 1 < len(argv) else ""), argv[i + 2 :]
        elif arg.startswith("--header="):
            value, rest = arg.partition("=")[2], argv[i + 1 :]
        elif arg.startswith("-H"):
            value, rest = arg[2:], argv[i + 1 :]
        else:
            continue
        if value.strip().endswith(":") and rest and not rest[0].startswith("-"):
            raise CallSpecError(
                f"-H/--header {value.strip()!r} has no value: quote the whole header, "
                "as -H 'name: value'"
            )


def from_args(args: argparse.Namespace) -> CallSpec:
    try:
        headers = tuple(parse_header(text) for text in args.header)
    except TransportError as err:
        raise CallSpecError(str(err)) from None
    return CallSpec(
        call=args.call,
        data=args.data,
        protoset=args.protoset,
        proto=args.proto,
        import_paths=tuple(args.import_path),
        identity=tuple(args.identity),
        messages=args.messages,
        transport=Transport(
            tls=args.tls,
            cacert=args.cacert,
            cert=args.cert,
            key=args.key,
            server_name=args.server_name,
            authority=args.authority,
            headers=headers,
        ),
    )
