"""Channels: publish and mutate, attach with replay, fan-out, and the append delivery rules.

Ordering: a publish is validated and folded at once (serials assigned in channel order), queued for
the store's group commit, and acknowledged and fanned out only when durable. The store runs
callbacks in submission order, so every subscriber sees a channel's events in serial order.

The append rule: an attachment that has received a message since it attached gets each append as
a fragment (action 5); one that has not gets the whole accumulated message once (action 1) and
fragments after that. History, get-message, rewind and first contact on replay read the latest
committed version.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tui_session.hub import messages as m
from tui_session.hub.frames import MODE_FLAGS, AblyError, Action, Flag, Format, encode_frame
from tui_session.hub.presence import PresenceSet
from tui_session.hub.store import Sql, Store, seq_of, serial_of

if TYPE_CHECKING:
    from tui_session.hub.auth import Capability, Principal

CACHE_SIZE = 2000  # latest versions kept per channel, so appends fold without a read
SEEN_LIMIT = 50_000  # serials remembered per attachment for the append rule
KNOWN_PARAMS = ("rewind", "delta")
REPLAY_MERGE_BYTES = 65_536  # appended data merged into one replayed frame, at most
CHANNEL_NAME = re.compile(r"[^\s\[\]]{1,256}")


def now_ms() -> int:
    return int(time.time() * 1000)


def check_channel_name(name: Any) -> str:
    if not isinstance(name, str) or not CHANNEL_NAME.fullmatch(name) or name.startswith(":"):
        raise AblyError(f"invalid channel name {name!r}", 40010)
    return name


class Peer(Protocol):
    """The side of a connection that channels deliver to."""

    id: str
    fmt: Format
    echo: bool

    def send_payload(self, payload: str | bytes) -> None: ...

    def send(self, frame: dict[str, Any]) -> None: ...


@dataclass
class Publisher:
    """Who publishes: a realtime connection or a REST request, with its verified identity."""

    client_id: str | None  # concrete clientId, "*" (may act as anyone) or None (anonymous)
    capability: Capability
    connection_id: str | None = None
    id_prefix: str = field(default_factory=lambda: secrets.token_urlsafe(9))

    @classmethod
    def for_principal(cls, principal: Principal, connection_id: str | None = None) -> Publisher:
        # Basic auth without a clientId is trusted like a server: it may act as any client.
        client_id = principal.client_id
        if client_id is None and not principal.via_token:
            client_id = "*"
        return cls(client_id, principal.capability, connection_id)

    @property
    def wildcard(self) -> bool:
        return self.client_id == "*"

    def resolve_client_id(self, requested: str | None) -> str | None:
        if requested is None:
            return None if self.wildcard else self.client_id
        if requested == "*":
            raise AblyError("'*' is not a valid clientId for a message", 40012)
        if self.wildcard or requested == self.client_id:
            return requested
        raise AblyError(
            f"clientId {requested!r} does not match the connection's {self.client_id!r}", 40012
        )

    def owns(self, message: dict[str, Any]) -> bool:
        return self.wildcard or (
            self.client_id is not None and message.get("clientId") == self.client_id
        )


@dataclass
class Attachment:
    peer: Peer
    modes: int
    seen: dict[str, None] = field(default_factory=dict)  # ordered set of serials
    # A resumed connection's attachments wait for the client's re-ATTACH and its replay, so
    # nothing reaches a channel the SDK still considers attaching (ably-js would drop it).
    paused: bool = False

    def mark_seen(self, serial: str) -> None:
        self.seen[serial] = None
        if len(self.seen) > SEEN_LIMIT:
            for old in list(self.seen)[: SEEN_LIMIT // 5]:
                del self.seen[old]


@dataclass
class Event:
    """One channel event: what a first-contact subscriber gets, and the fragment for the others."""

    seq: int
    serial: str  # the message's serial
    full: dict[str, Any]
    fragment: dict[str, Any] | None = None


class Channel:
    def __init__(self, app: str, name: str, store: Store) -> None:
        self.app = app
        self.name = name
        self.store = store
        self.seq = store.max_seq(app, name)
        self.committed = self.seq
        self.attachments: dict[str, Attachment] = {}
        self.presence = PresenceSet()
        self._latest: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._ids: OrderedDict[str, str] = OrderedDict()

    @property
    def serial(self) -> str:
        return serial_of(self.committed)

    def latest(self, seq: int) -> dict[str, Any] | None:
        """Latest version of a message, including mutations not yet committed."""
        if seq in self._latest:
            self._latest.move_to_end(seq)
            return self._latest[seq]
        found = self.store.message(self.app, self.name, seq)
        if found is not None:
            self._remember(seq, found)
        return found

    def _remember(self, seq: int, message: dict[str, Any]) -> None:
        self._latest[seq] = message
        self._latest.move_to_end(seq)
        while len(self._latest) > CACHE_SIZE:
            oldest = next(iter(self._latest))
            if oldest > self.committed:  # never forget what the store does not hold yet
                break
            del self._latest[oldest]

    def known_id(self, msg_id: str) -> bool:
        if msg_id in self._ids:
            return True
        return self.store.serial_for_id(self.app, self.name, msg_id) is not None


class Channels:
    """Every channel of every app, and the operations on them shared by realtime and REST."""

    def __init__(self, store: Store, max_message_size: int) -> None:
        self.store = store
        self.max_message_size = max_message_size
        self._channels: dict[tuple[str, str], Channel] = {}

    def get(self, app: str, name: str) -> Channel:
        key = (app, check_channel_name(name))
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = Channel(app, name, self.store)
        return channel

    def existing(self) -> Iterable[Channel]:
        return self._channels.values()

    # ---- publish ---------------------------------------------------------------------------

    def publish(
        self,
        channel: Channel,
        who: Publisher,
        raw: list[dict[str, Any]],
        done: Callable[[list[str | None] | None, AblyError | None], None],
        *,
        msg_serial: int | None = None,
        extra: Callable[[list[str | None]], list[Sql]] | None = None,
    ) -> None:
        """Validate, fold and queue a publish; `done(serials, error)` runs once it is durable.

        On error nothing is applied. `extra` adds statements to the same transaction (the
        connection's record of this msgSerial), so de-duplication survives a crash too.
        """
        try:
            serials, events, statements = self._prepare(channel, who, raw, msg_serial)
        except AblyError as exc:
            failure = exc  # `exc` is unbound after the block; the callback runs later
            self.store.submit([], lambda _exc: done(None, failure))
            return
        if extra is not None:
            statements.extend(extra(serials))
        last_seq = events[-1].seq if events else None

        def committed(exc: Exception | None) -> None:
            if exc is not None:
                done(None, AblyError("the hub could not store the message", 50000, 500))
                return
            if last_seq is not None:
                channel.committed = max(channel.committed, last_seq)
            done(serials, None)
            if events:
                self.fan_out(channel, events, publisher_id=who.connection_id)

        self.store.submit(statements, committed)

    def _prepare(
        self, channel: Channel, who: Publisher, raw: list[dict[str, Any]], msg_serial: int | None
    ) -> tuple[list[str | None], list[Event], list[Sql]]:
        now = now_ms()
        normalized = [m.normalize(r) for r in raw]
        overlay: dict[int, dict[str, Any]] = {}  # folded in this publish, applied if all is well
        new_ids: dict[str, str] = {}
        seq = channel.seq
        serials: list[str | None] = []
        events: list[Event] = []
        statements: list[Sql] = []
        for index, msg in enumerate(normalized):
            if m.size_of(msg) > self.max_message_size:
                raise AblyError(
                    f"message of {m.size_of(msg)} bytes exceeds the maximum message size "
                    f"of {self.max_message_size} bytes",
                    40009,
                    400,
                )
            client_id = who.resolve_client_id(msg.get("clientId"))
            op_id = msg.get("id") or self._generate_id(who, msg_serial, index)
            if msg["action"] == m.CREATE:
                self._require(who, channel, "publish")
                if "id" in msg and (msg["id"] in new_ids or channel.known_id(msg["id"])):
                    serials.append(None)  # an idempotent retry: stored once already
                    continue
                seq += 1
                serial = serial_of(seq)
                full = {**msg, "id": op_id, "serial": serial, "timestamp": now, "action": m.CREATE}
                full["version"] = {"serial": serial, "timestamp": now}
                self._stamp(full, who, client_id)
                new_ids[op_id] = serial
                overlay[seq] = full
                event = Event(seq, serial, full)
                statements += [
                    Store.put_event(channel.app, channel.name, seq, serial, op_id, full),
                    Store.put_message(channel.app, channel.name, seq, now, full),
                    Store.put_version(channel.app, channel.name, seq, seq, full),
                ]
            else:
                target_seq = seq_of(msg["serial"])
                current = None
                if target_seq is not None:
                    current = overlay.get(target_seq) or channel.latest(target_seq)
                if current is None:
                    raise AblyError(f"no message with serial {msg['serial']!r}", 40400, 404)
                self._require_mutation(who, channel, msg["action"], current)
                seq += 1
                version = m.operation_version(msg, serial_of(seq), now, client_id or who.client_id)
                op = {**msg, "id": op_id}
                if msg["action"] == m.APPEND:
                    folded = m.fold_append(current, op, version)
                    event = Event(
                        seq, current["serial"], folded, m.fragment_of(current, op, version)
                    )
                else:
                    folded = m.fold_update(current, op, version)
                    event = Event(seq, current["serial"], folded)
                    statements.append(
                        Store.put_version(channel.app, channel.name, target_seq, seq, folded)
                    )
                overlay[target_seq] = folded
                # The log keeps what a subscriber that saw the message gets: replay needs that.
                logged = event.fragment or folded
                statements += [
                    Store.put_event(
                        channel.app, channel.name, seq, event.serial, msg.get("id"), logged
                    ),
                    Store.put_message(
                        channel.app, channel.name, target_seq, folded["timestamp"], folded
                    ),
                ]
                serial = version["serial"]
            events.append(event)
            serials.append(serial)
        # Everything validated: apply to the channel's in-memory state.
        channel.seq = seq
        for target, folded in overlay.items():
            channel._remember(target, folded)
        for msg_id, serial in new_ids.items():
            channel._ids[msg_id] = serial
            while len(channel._ids) > CACHE_SIZE:
                channel._ids.popitem(last=False)
        return serials, events, statements

    @staticmethod
    def _generate_id(who: Publisher, msg_serial: int | None, index: int) -> str:
        if who.connection_id is not None and msg_serial is not None:
            return f"{who.connection_id}:{msg_serial}:{index}"
        return f"{who.id_prefix}:{secrets.token_hex(4)}:{index}"

    @staticmethod
    def _stamp(message: dict[str, Any], who: Publisher, client_id: str | None) -> None:
        if client_id is not None:
            message["clientId"] = client_id
        if who.connection_id is not None:
            message["connectionId"] = who.connection_id

    @staticmethod
    def _require(who: Publisher, channel: Channel, op: str) -> None:
        if not who.capability.allows(channel.name, op):
            watch_only = who.capability.allows(channel.name, "subscribe")
            why = " (read-only: these credentials may watch this channel, not act in it)"
            raise AblyError(
                f"operation {op!r} not permitted on channel {channel.name!r}"
                + (why if watch_only else ""),
                40160,
                401,
            )

    def _require_mutation(
        self, who: Publisher, channel: Channel, action: int, current: dict[str, Any]
    ) -> None:
        # Updates and deletes follow Ably's -any / -own operations; an append is allowed to whoever
        # may update the message, or publish as its author (the turn protocol's agents do that).
        kind = "delete" if action == m.DELETE else "update"
        cap, name = who.capability, channel.name
        if cap.allows(name, f"message-{kind}-any"):
            return
        if who.owns(current) and cap.allows(name, f"message-{kind}-own"):
            return
        if action == m.APPEND and who.owns(current) and cap.allows(name, "publish"):
            return
        raise AblyError(
            f"not permitted to {kind} message {current['serial']!r} on channel {name!r}", 40160, 401
        )

    # ---- delivery --------------------------------------------------------------------------

    def fan_out(self, channel: Channel, events: list[Event], publisher_id: str | None) -> None:
        """Deliver events to every subscribed attachment, one encoding per distinct payload."""
        encoded: dict[tuple[Format, tuple[bool, ...]], str | bytes] = {}
        channel_serial = serial_of(events[-1].seq)
        for attachment in list(channel.attachments.values()):
            peer = attachment.peer
            if attachment.paused or not attachment.modes & Flag.SUBSCRIBE:
                continue
            if not peer.echo and peer.id == publisher_id:
                continue
            shape = tuple(e.fragment is not None and e.serial in attachment.seen for e in events)
            for e in events:
                attachment.mark_seen(e.serial)
            key = (peer.fmt, shape)
            payload = encoded.get(key)
            if payload is None:
                items = [
                    e.fragment if frag else e.full for e, frag in zip(events, shape, strict=True)
                ]
                payload = encoded[key] = encode_frame(
                    message_frame(channel, items, channel_serial), peer.fmt
                )
            peer.send_payload(payload)

    def replay(self, channel: Channel, attachment: Attachment, after_seq: int) -> None:
        """Send what was delivered live after `after_seq` (resume, or re-attach from a serial).

        An append to a message this attachment has not seen goes out once as the whole message
        as it stood at that point; later appends follow as fragments.

        Appends to messages it has seen are merged: a run of them (up to any other event) goes
        out as one frame holding one fragment per message, the appends' data concatenated with
        the latest extras and version. A streamed answer missed token by token comes back as one
        record, not one frame per token; the frame's channelSerial is its last event's, so a
        client cut off again resumes after all of it or none of it.
        """
        until = channel.committed
        merged: dict[str, dict[str, Any]] = {}  # message serial -> merged fragment, in order
        merged_bytes = 0
        last_seq = after_seq

        def flush() -> None:
            nonlocal merged_bytes
            if merged:
                frame = message_frame(channel, list(merged.values()), serial_of(last_seq))
                attachment.peer.send(frame)
                merged.clear()
                merged_bytes = 0

        for seq, body in self.store.events_between(channel.app, channel.name, after_seq, until):
            serial = body["serial"]
            if body.get("action") == m.APPEND and serial in attachment.seen:
                pending = merged.get(serial)
                combined = body if pending is None else merge_fragments(pending, body)
                if combined is None:  # not mergeable (mixed data types): keep them apart
                    flush()
                    combined = body
                merged[serial] = combined
                data = body.get("data")
                merged_bytes += len(data) if isinstance(data, str | bytes) else 0
                last_seq = seq
                if merged_bytes >= REPLAY_MERGE_BYTES:
                    flush()
                continue
            flush()
            if body.get("action") == m.APPEND:
                snapshot = self.store.message_as_of(
                    channel.app, channel.name, seq_of(serial) or 0, seq
                )
                if snapshot is None:
                    continue
                body = snapshot
            attachment.mark_seen(serial)
            attachment.peer.send(message_frame(channel, [body], serial_of(seq)))
            last_seq = seq
        flush()

    def rewind(self, channel: Channel, attachment: Attachment, spec: str) -> None:
        count, since = parse_rewind(spec)
        position = channel.committed
        for body in self.store.latest_messages(channel.app, channel.name, count, since, position):
            attachment.mark_seen(body["serial"])
            attachment.peer.send(message_frame(channel, [body], channel.serial))

    def modes_for(self, capability: Capability, channel: str, requested: int | None) -> int:
        wanted = (requested or 0) & MODE_FLAGS
        if not wanted:
            wanted = MODE_FLAGS
        allowed = 0
        ops = {
            Flag.PUBLISH: "publish",
            Flag.SUBSCRIBE: "subscribe",
            Flag.PRESENCE: "presence",
            Flag.PRESENCE_SUBSCRIBE: "subscribe",
            Flag.ANNOTATION_PUBLISH: "annotation-publish",
            Flag.ANNOTATION_SUBSCRIBE: "annotation-subscribe",
        }
        for flag, op in ops.items():
            if wanted & flag and (
                capability.allows(channel, op)
                or (op.startswith("annotation") and capability.allows(channel, "subscribe"))
            ):
                allowed |= flag
        return allowed


def merge_fragments(first: dict[str, Any], then: dict[str, Any]) -> dict[str, Any] | None:
    """Two append fragments of one message as one: data concatenated, the later extras (an
    append replaces them; one without extras keeps them), the later id, version and timestamp.
    None when they cannot be one (different encodings or data types)."""
    if first.get("encoding") != then.get("encoding"):
        return None
    try:
        data = m.concat_data(first.get("data"), then.get("data"))
    except AblyError:
        return None
    combined = dict(then)
    if data is not None:
        combined["data"] = data
    if "extras" not in then and "extras" in first:
        combined["extras"] = first["extras"]
    return combined


def message_frame(channel: Channel, items: list[dict[str, Any]], channel_serial: str) -> dict:
    return {
        "action": Action.MESSAGE,
        "channel": channel.name,
        "channelSerial": channel_serial,
        "messages": items,
    }


_DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")


def parse_rewind(spec: str) -> tuple[int, int | None]:
    """`rewind` is a message count ("10") or a duration ("30s", "2m"); at most 100 messages."""
    spec = str(spec).strip()
    if spec.isdigit():
        return min(int(spec), 100), None
    match = _DURATION.match(spec)
    if not match:
        raise AblyError(f"invalid rewind parameter {spec!r}", 40000)
    factor = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}[match.group(2)]
    return 100, now_ms() - int(match.group(1)) * factor
