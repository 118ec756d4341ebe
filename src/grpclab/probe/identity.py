"""Which replica answered: ``--identity SPEC``, tried in order until one names a replica.

A SPEC is ``header:NAME`` (initial metadata), ``trailer:NAME`` (trailing metadata),
``field:PATH`` (a field of the reply, by its protobuf JSON name, dotted for nested messages) or
``peer`` (the address the call went to: per connection from gRPC's channelz, so it needs nothing
from the server); each may end in ``~REGEX``, whose first group (else the whole match) is the
identity. The default is the Greeter's: ``header:hostname``, then ``field:message~^Hello from
(.+)$`` when the reply has a ``message`` field.

:class:`Identifier` is compiled once per probe against the reply type and does per reply only
what its specs need: a reply is parsed from its bytes only when a ``field:`` spec is reached.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

HEADER, TRAILER, FIELD, PEER = "header", "trailer", "field", "peer"
KINDS = (HEADER, TRAILER, FIELD, PEER)
GREETER_TEXT = r"^Hello from\s*(.+?)\s*$"
_METADATA_NAME = re.compile(r"^[0-9a-z_.-]+$")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SHORT = 160  # characters of a reply's JSON shown when it named no replica


class SpecError(ValueError):
    """An identity spec does not parse or does not fit the reply: one line."""


@dataclass(frozen=True)
class Spec:
    kind: str
    name: str  # metadata key (lower case) or field path; "" for peer
    regex: re.Pattern | None
    text: str  # as given

    def pick(self, value: str | None) -> str | None:
        if not value:
            return None
        if self.regex is None:
            return value
        match = self.regex.search(value)
        if match is None:
            return None
        found = match.group(1) if self.regex.groups else match.group(0)
        return found or None


def parse_spec(text: str) -> Spec:
    """``header:NAME``, ``trailer:NAME``, ``field:PATH`` or ``peer``, each with ``~REGEX``."""
    body, tilde, pattern = text.partition("~")
    regex = None
    if tilde:
        try:
            regex = re.compile(pattern)
        except re.error as err:
            raise SpecError(f"--identity {text!r}: bad regular expression: {err}") from None
        if not pattern:
            raise SpecError(f"--identity {text!r}: empty regular expression after '~'")
    kind, colon, name = body.partition(":")
    usage = "header:NAME, trailer:NAME, field:PATH or peer, each with an optional ~REGEX"
    if kind == PEER and not colon:
        return Spec(PEER, "", regex, text)
    if kind not in (HEADER, TRAILER, FIELD) or not colon:
        raise SpecError(f"--identity {text!r} is not {usage}")
    if kind == FIELD:
        if not _PATH.match(name):
            raise SpecError(f"--identity {text!r}: {name!r} is not a dotted field path")
        return Spec(FIELD, name, regex, text)
    if not _METADATA_NAME.match(name.lower()) or name.lower().endswith("-bin"):
        raise SpecError(f"--identity {text!r}: {name!r} is not a text metadata name")
    return Spec(kind, name.lower(), regex, text)


def parse_specs(texts: Sequence[str]) -> tuple[Spec, ...]:
    return tuple(parse_spec(text) for text in texts)


def default_specs(reply: Descriptor) -> tuple[Spec, ...]:
    """``header:hostname``, and the Greeter's reply text when the reply has ``message``."""
    specs = [parse_spec("header:hostname")]
    field = reply.fields_by_name.get("message")
    if field is not None and field.type == FieldDescriptor.TYPE_STRING:
        specs.append(parse_spec(f"field:message~{GREETER_TEXT}"))
    return tuple(specs)


def _field_chain(reply: Descriptor, spec: Spec) -> tuple[FieldDescriptor, ...]:
    """The fields of a dotted path, by JSON name (or proto name); SpecError if it does not fit."""
    chain: list[FieldDescriptor] = []
    message: Descriptor | None = reply
    for part in spec.name.split("."):
        if message is None:
            raise SpecError(f"--identity {spec.text!r}: {chain[-1].name} is not a message")
        found = next(
            (f for f in message.fields if part in (f.json_name, f.name)),
            None,
        )
        if found is None:
            names = ", ".join(f.json_name for f in message.fields) or "none"
            raise SpecError(
                f"--identity {spec.text!r}: {message.full_name} has no field {part} "
                f"(fields: {names})"
            )
        chain.append(found)
        message = found.message_type if found.type == FieldDescriptor.TYPE_MESSAGE else None
    return tuple(chain)


def _field_value(reply: object, chain: Sequence[FieldDescriptor]) -> str | None:
    value: object = reply
    for field in chain:
        if (
            field.type == FieldDescriptor.TYPE_MESSAGE
            and not field.is_repeated
            and not value.HasField(field.name)  # type: ignore[attr-defined]
        ):
            return None  # an unset message names nobody (its JSON would be its defaults)
        value = getattr(value, field.name)
    last = chain[-1]
    if last.is_repeated:  # the first element names the replica
        if not len(value):  # type: ignore[arg-type]
            return None
        value = value[0]  # type: ignore[index]
    if hasattr(value, "DESCRIPTOR"):  # a message: its JSON
        text = json_format.MessageToJson(value, indent=None)  # type: ignore[arg-type]
        return text if text and text != "{}" else None
    if last.type == FieldDescriptor.TYPE_ENUM:
        number = value
        enum = last.enum_type.values_by_number.get(number)  # type: ignore[arg-type]
        return enum.name if enum is not None else str(number)
    if isinstance(value, bytes):
        return value.decode(errors="replace") or None
    if isinstance(value, bool):
        return "true" if value else None
    return str(value) if value not in ("", 0, 0.0) else None


def _metadata_value(metadata, name: str) -> str | None:
    for key, value in metadata or ():
        if key == name:
            return value.decode(errors="replace") if isinstance(value, bytes) else value
    return None


class Identifier:
    """The replica a reply names, by the first spec that names one."""

    def __init__(self, specs: Sequence[Spec], reply_class: type) -> None:
        self.specs = tuple(specs)
        self.reply_class = reply_class
        self._steps = tuple(
            (s, _field_chain(reply_class.DESCRIPTOR, s) if s.kind == FIELD else ())
            for s in self.specs
            if s.kind != PEER
        )
        self.uses_peer = any(s.kind == PEER for s in self.specs)
        self.field_steps = tuple(step for step in self._steps if step[0].kind == FIELD)
        self.parses_reply = bool(self.field_steps)

    @property
    def tried(self) -> str:
        return ", ".join(s.text for s in self.specs)

    def __call__(self, call, raw: bytes) -> str | None:
        """The identity of one unary reply (``call`` gives its metadata), or None."""
        reply = None
        for spec, chain in self._steps:
            if spec.kind == HEADER:
                value = _metadata_value(call.initial_metadata(), spec.name)
            elif spec.kind == TRAILER:
                value = _metadata_value(call.trailing_metadata(), spec.name)
            elif raw is None:  # a stream that sent no message
                continue
            else:
                if reply is None:
                    reply = self.reply_class.FromString(raw)
                value = _field_value(reply, chain)
            found = spec.pick(value)
            if found is not None:
                return found
        return None

    def of_message(self, raw: bytes) -> str | None:
        """The identity a stream's message names by the ``field:`` specs alone, or None."""
        if not self.field_steps:
            return None
        reply = self.reply_class.FromString(raw)
        for spec, chain in self.field_steps:
            found = spec.pick(_field_value(reply, chain))
            if found is not None:
                return found
        return None

    def describe(self, call, raw: bytes | None) -> str:
        """For a reply that named no replica: the specs tried, its headers, trailers, JSON."""

        def listed(metadata) -> str:
            pairs = {
                k: (v if isinstance(v, str) else f"<{len(v)} bytes>") for k, v in metadata or ()
            }
            return json.dumps(pairs, separators=(",", ":"))[:_SHORT]

        parts = [f"tried {self.tried}"]
        try:
            parts.append(f"headers {listed(call.initial_metadata())}")
            parts.append(f"trailers {listed(call.trailing_metadata())}")
        except Exception:  # a call that cannot tell its metadata any more
            pass
        if raw is not None:
            try:
                text = json_format.MessageToJson(
                    self.reply_class.FromString(raw), indent=None
                ).strip()
            except Exception:
                text = f"<{len(raw)} bytes that do not parse>"
            if len(text) > _SHORT:
                text = text[: _SHORT - 3] + "..."
            parts.append(f"reply {text}")
        return "; ".join(parts)
