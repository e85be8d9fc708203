"""What the agent's handover knows of one session channel: every raw message (the handover's
own messages are not AI Transport messages, so the session's decoder drops them) and the
channel's presence.

- `fold`: the session's `HandoverFold`, trusting only this agent's snapshots;
- `inputs`: the facts of each input by event id (its kind, call, publisher, and the
  application header of "ask for a human"), and `prompts`, the run-less user messages;
- `requests`: `handover.request`s by id, for `POST /api/handover` to find;
- presence: who is here (any member of a clientId), and when a clientId's last member left,
  as observed (`PresenceFacts`, the input of the automatic hand-back);
- run ends and operator replies are reported to the listener as they are read (live, a gap,
  or a history page: acting on one twice is harmless, every resolution is idempotent).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tui_session.protocol import H, Kind, Name
from tui_session.protocol.handover import (
    ESCALATE_HEADER,
    OPERATOR_HEADER,
    PresenceFacts,
    Request,
    ms_field,
    parse_request,
    text_field,
)
from tui_session.protocol.handover_fold import HandoverFold, HandoverView, app_header
from tui_session.protocol.wire import C, is_true, read_envelope
from tui_session.transport.presence import Member


@dataclass(frozen=True)
class InputFacts:
    event_id: str
    codec_message_id: str
    serial: str
    client_id: str | None  # hub-verified publisher
    kind: str | None
    run_id: str | None
    call_id: str | None
    approved: bool | None  # a tool approval response
    escalate: bool  # a prompt sent with "ask for a human"
    timestamp_ms: int


class WatchListener(Protocol):
    def run_ended(self, session: str, run_id: str, reason: str, by: str | None) -> None: ...

    def operator_replied(self, session: str, operator: str, input_cmid: str) -> None: ...


class SessionWatch:
    def __init__(self, channel_name: str, authority: str, listener: WatchListener) -> None:
        self.channel_name = channel_name
        self.fold = HandoverFold({authority})
        self.listener = listener
        self.inputs: dict[str, InputFacts] = {}  # by event id
        self.prompts: dict[str, InputFacts] = {}  # run-less user messages, by codec-message-id
        self.requests: dict[str, Request] = {}
        self.members: dict[str, set[str]] = {}  # clientId -> its members' connection ids
        self.left_at_ms: dict[str, int] = {}
        self.observed_since_ms = 0

    # --- messages -----------------------------------------------------------------------------

    def observe(self, raw: Mapping[str, Any]) -> None:
        """Every message of the channel, as it is read (AgentSession's `on_raw`)."""
        self.fold.apply(raw)
        name = raw.get("name")
        if name == Name.INPUT:
            self._input(raw)
        elif name == Name.RUN_END:
            transport = _transport(raw)
            if transport.get(H.RUN_ID):
                self.listener.run_ended(
                    self.channel_name,
                    transport[H.RUN_ID],
                    transport.get(H.RUN_REASON, "complete"),
                    transport.get(H.INPUT_CLIENT_ID),
                )
        elif name == Name.RUN_START:
            operator, publisher = app_header(raw, OPERATOR_HEADER), raw.get("clientId")
            input_cmid = _transport(raw).get(H.INPUT_CODEC_MESSAGE_ID)
            if operator and operator == publisher and input_cmid:
                self.listener.operator_replied(self.channel_name, operator, input_cmid)
        else:
            request = parse_request(raw)
            if request is not None:
                self.requests.setdefault(request.id, request)

    def _input(self, raw: Mapping[str, Any]) -> None:
        tiers = read_envelope(raw.get("extras"))
        serial = raw.get("serial")
        if tiers is None or not isinstance(serial, str):
            return
        transport, codec = tiers
        event_id = transport.get(H.EVENT_ID)
        if not event_id or event_id in self.inputs:
            return
        approved = codec.get(C.APPROVED)
        facts = InputFacts(
            event_id=event_id,
            codec_message_id=transport.get(H.CODEC_MESSAGE_ID, ""),
            serial=serial,
            client_id=text_field(raw.get("clientId")) or None,
            kind=codec.get(C.KIND),
            run_id=transport.get(H.RUN_ID),
            call_id=codec.get(C.CALL_ID),
            approved=is_true(approved) if approved is not None else None,
            escalate=app_header(raw, ESCALATE_HEADER) is not None,
            timestamp_ms=ms_field(raw.get("timestamp")) or 0,
        )
        self.inputs[event_id] = facts
        if facts.kind == Kind.USER_MESSAGE and not facts.run_id and facts.codec_message_id:
            self.prompts.setdefault(facts.codec_message_id, facts)

    def view(self) -> HandoverView:
        return self.fold.view()

    # --- presence ------------------------------------------------------------------------------

    def update_presence(self, members: Iterable[Member], now_ms: int) -> set[str]:
        """The member list after a presence event; returns the clientIds whose last member
        just left (their leave time is recorded)."""
        current: dict[str, set[str]] = {}
        for member in members:
            current.setdefault(member.client_id, set()).add(member.connection_id or "")
        left = set(self.members) - set(current)
        for client_id in left:
            self.left_at_ms[client_id] = now_ms
        self.members = current
        return left

    def present(self, client_id: str) -> bool:
        return client_id in self.members

    def presence_facts(self) -> PresenceFacts:
        return PresenceFacts(
            present=frozenset(self.members),
            left_at_ms=dict(self.left_at_ms),
            observed_since_ms=self.observed_since_ms,
        )


def _transport(raw: Mapping[str, Any]) -> Mapping[str, str]:
    tiers = read_envelope(raw.get("extras"))
    return tiers[0] if tiers else {}
