"""Inbound channel messages -> decoded messages carrying codec events (docs/wire.md §2.8).

One decoder per session, shared by the live subscription and by history pages: stream state
is keyed by the message serial and guarded by `version.serial`, so an overlap between the two
paths decodes once. Input messages are plain dicts shaped like Ably messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .wire import Action, H, Name, StreamStatus, is_true, parse_action, read_envelope

CodecEvent = dict[str, Any]


class CodecDecoder(Protocol):
    """The codec side of decoding: turns stream transitions and discrete payloads into events."""

    def stream_start(self, codec: Mapping[str, str]) -> list[CodecEvent]: ...

    def stream_delta(self, codec: Mapping[str, str], delta: str) -> list[CodecEvent]: ...

    def stream_end(self, codec: Mapping[str, str], text: str) -> list[CodecEvent]: ...

    def stream_replace(self, codec: Mapping[str, str], text: str) -> list[CodecEvent]: ...

    def discrete(self, codec: Mapping[str, str], data: Any) -> list[CodecEvent]: ...


@dataclass(frozen=True)
class Decoded:
    """One protocol message as the tree consumes it.

    `stream_status` is the stream's status after this delivery (None for discrete messages);
    a streamed delivery can carry no events and still matter (a `cancelled` append).
    """

    name: str
    action: Action
    serial: str
    version: str
    transport: Mapping[str, str]
    codec: Mapping[str, str]
    events: tuple[CodecEvent, ...] = ()
    client_id: str | None = None
    connection_id: str | None = None
    timestamp: int | None = None
    stream_status: StreamStatus | None = None
    first_contact: bool = False
    # the application headers (`extras.headers`): never read by the protocol itself, except
    # the project's own extensions the tree keeps (protocol/approvals.py)
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def streamed(self) -> bool:
        return self.stream_status is not None

    def header(self, key: str) -> str | None:
        return self.transport.get(key)


@dataclass
class _Stream:
    codec: dict[str, str]
    text: str = ""
    version: str = ""
    closed: bool = False
    status: StreamStatus = StreamStatus.STREAMING


@dataclass
class Decoder:
    """Stateful decoder; `decode()` returns None for foreign messages and replays."""

    codec: CodecDecoder
    _streams: dict[str, _Stream] = field(default_factory=dict)
    _discrete_versions: dict[str, str] = field(default_factory=dict)

    def decode(self, message: Mapping[str, Any]) -> Decoded | None:
        tiers = read_envelope(message.get("extras"))
        serial = message.get("serial")
        if tiers is None or not isinstance(serial, str):
            return None  # foreign: an application's own publish on the channel
        transport, codec = tiers
        action = parse_action(message.get("action"))
        version = _version_of(message, serial)
        if is_true(transport.get(H.STREAM)):
            return self._decode_stream(message, action, serial, version, transport, codec)
        return self._decode_discrete(message, action, serial, version, transport, codec)

    def stream_text(self, serial: str) -> str | None:
        """The accumulated text of a stream seen so far (for tests and diagnostics)."""
        stream = self._streams.get(serial)
        return stream.text if stream else None

    # --- discrete --------------------------------------------------------------------------

    def _decode_discrete(
        self,
        message: Mapping[str, Any],
        action: Action,
        serial: str,
        version: str,
        transport: dict[str, str],
        codec: dict[str, str],
    ) -> Decoded | None:
        if serial in self._discrete_versions:
            return None  # replay, or an edit of a discrete message: edits are not propagated
        self._discrete_versions[serial] = version
        events = tuple(self.codec.discrete(codec, message.get("data"))) if codec else ()
        return _decoded(message, action, serial, version, transport, codec, events)

    # --- streams ---------------------------------------------------------------------------

    def _decode_stream(
        self,
        message: Mapping[str, Any],
        action: Action,
        serial: str,
        version: str,
        transport: dict[str, str],
        codec: dict[str, str],
    ) -> Decoded | None:
        data = message.get("data")
        text = data if isinstance(data, str) else ""  # non-string data counts as ""
        status = _status(transport.get(H.STATUS))
        stream = self._streams.get(serial)

        if stream is None:
            if action == Action.DELETE:
                return None
            return self._first_sight(message, action, serial, version, transport, codec, text)
        if version and stream.version and version <= stream.version:
            return None  # replay: live and history overlap decode once
        if version:
            stream.version = version
        if action == Action.DELETE:
            stream.closed = True
            return None

        events: list[CodecEvent] = []
        if stream.closed:
            # a newer-version update of a closed stream is a recovery: replace (§7.11)
            if action != Action.UPDATE or text == stream.text:
                return None
            stream.text = text
            events += self.codec.stream_replace(stream.codec, text)
            return _decoded(message, action, serial, version, transport, codec, events, stream)

        if codec:
            stream.codec = dict(codec)  # a closing append may override codec fields
        if action == Action.UPDATE:
            if text.startswith(stream.text):
                events += self._grow(stream, text[len(stream.text) :])
            else:
                stream.text = text  # non-prefix: re-render, unlike 0.8.0 (§7.11)
                events += self.codec.stream_replace(stream.codec, text)
        else:
            events += self._grow(stream, text)
        events += self._apply_status(stream, status)
        return _decoded(message, action, serial, version, transport, codec, events, stream)

    def _first_sight(
        self,
        message: Mapping[str, Any],
        action: Action,
        serial: str,
        version: str,
        transport: dict[str, str],
        codec: dict[str, str],
        text: str,
    ) -> Decoded:
        """A create opens the stream; an update (or stray append) is a first contact."""
        first_contact = action != Action.CREATE
        stream = _Stream(dict(codec), version=version)
        self._streams[serial] = stream
        events = list(self.codec.stream_start(stream.codec))
        if first_contact:
            # a create's data is ignored; a first contact carries the whole text so far
            events += self._grow(stream, text)
            events += self._apply_status(stream, _status(transport.get(H.STATUS)))
        return _decoded(
            message, action, serial, version, transport, codec, events, stream, first_contact
        )

    def _grow(self, stream: _Stream, fragment: str) -> list[CodecEvent]:
        if not fragment:
            return []
        stream.text += fragment
        return list(self.codec.stream_delta(stream.codec, fragment))

    def _apply_status(self, stream: _Stream, status: StreamStatus) -> list[CodecEvent]:
        if status == StreamStatus.STREAMING:
            return []
        stream.closed = True
        stream.status = status
        if status == StreamStatus.COMPLETE:
            return list(self.codec.stream_end(stream.codec, stream.text))
        return []  # cancelled closes silently: no `.done`


def _status(value: str | None) -> StreamStatus:
    try:
        return StreamStatus(value)
    except ValueError:
        return StreamStatus.STREAMING


def _version_of(message: Mapping[str, Any], serial: str) -> str:
    """`version.serial`; a never-mutated message's version equals its serial."""
    version = message.get("version")
    if isinstance(version, Mapping) and isinstance(version.get("serial"), str):
        return version["serial"]
    action = parse_action(message.get("action"))
    return serial if action == Action.CREATE else ""


def _decoded(
    message: Mapping[str, Any],
    action: Action,
    serial: str,
    version: str,
    transport: dict[str, str],
    codec: dict[str, str],
    events: Iterable[CodecEvent],
    stream: _Stream | None = None,
    first_contact: bool = False,
) -> Decoded:
    name = message.get("name")
    if not isinstance(name, str) or not name:
        # appends need not carry a name; the role tells which side published (§2.2)
        name = Name.INPUT if transport.get(H.ROLE) == "user" else Name.OUTPUT
    return Decoded(
        name=str(name),
        action=action,
        serial=serial,
        version=version,
        transport=transport,
        codec=codec,
        events=tuple(events),
        client_id=message.get("clientId"),
        connection_id=message.get("connectionId"),
        timestamp=message.get("timestamp"),
        stream_status=(stream.status if stream.closed else StreamStatus.STREAMING)
        if stream
        else None,
        first_contact=first_contact,
        headers=_app_headers(message.get("extras")),
    )


def _app_headers(extras: Any) -> dict[str, str]:
    headers = extras.get("headers") if isinstance(extras, Mapping) else None
    if not isinstance(headers, Mapping):
        return {}
    return {str(k): v for k, v in headers.items() if isinstance(v, str)}
