"""The input an invocation names, as the agent reads it from the channel (docs/wire.md §4.1
step 5): what a run is created for, and where its headers come from."""

from __future__ import annotations

from dataclasses import dataclass

from tui_session.protocol import Decoded, H


@dataclass(frozen=True)
class Trigger:
    event_id: str
    codec_message_id: str
    serial: str
    client_id: str | None  # hub-verified publisher
    kind: str | None
    run_client_id: str | None = None
    parent: str | None = None
    fork_of: str | None = None
    msg_regenerate: str | None = None
    run_id: str | None = None  # set: a continuation

    @classmethod
    def from_decoded(cls, decoded: Decoded) -> Trigger:
        t = decoded.transport
        return cls(
            event_id=t.get(H.EVENT_ID, ""),
            codec_message_id=t.get(H.CODEC_MESSAGE_ID, ""),
            serial=decoded.serial,
            client_id=decoded.client_id,
            kind=decoded.codec.get("kind"),
            run_client_id=t.get(H.RUN_CLIENT_ID),
            parent=t.get(H.PARENT),
            fork_of=t.get(H.FORK_OF),
            msg_regenerate=t.get(H.MSG_REGENERATE),
            run_id=t.get(H.RUN_ID),
        )
