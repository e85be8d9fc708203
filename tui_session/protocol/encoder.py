"""Outgoing channel operations: what to publish, as plain data the transport maps onto ably.

Two places where the wire needs a serial the server assigns, both modelled explicitly:
- an append or update targets the *create* of its stream: `Append.stream_ref` names the
  `Publish` that opened it, and the transport remembers that publish's ACK serial;
- agent outputs carry `step-start-serial`, the ACK serial of their `ai-step-start`, so an
  output encoder is built only once that step start was acknowledged.
Everything else is computed here without I/O. What goes out: docs/wire.md §2.5 (headers) and
§2.8 (streams).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .wire import (
    DEFAULT_ERROR_CODE,
    DEFAULT_ERROR_MESSAGE,
    ErrorCode,
    H,
    Name,
    ProtocolError,
    Role,
    RunReason,
    StepReason,
    StreamStatus,
    bool_text,
    compact,
    envelope,
    steer_ids_text,
)


@dataclass(frozen=True)
class Publish:
    """A new channel message. `stream_ref` is set when this create opens a stream."""

    name: str
    data: Any  # "" / str / JSON object; None for lifecycle, step and cancel messages
    extras: dict[str, Any]
    stream_ref: str | None = None


@dataclass(frozen=True)
class Append:
    """`appendMessage` on the serial the ACK of `Publish(stream_ref=...)` returned."""

    stream_ref: str
    data: str
    extras: dict[str, Any]


@dataclass(frozen=True)
class Update:
    """`updateMessage` of a stream's create: the recovery of a failed append (§7.11)."""

    stream_ref: str
    name: str
    data: str
    extras: dict[str, Any]


Operation = Publish | Append | Update


@dataclass
class _OpenStream:
    ref: str
    codec: dict[str, str]
    text: str = ""


class StreamEncoder:
    """Encodes one assistant (or input) message: discrete publishes and its streams.

    `transport` is the message's full header set without the stream fields; it is repeated on
    every create and append because an append replaces the message's extras wholesale (§2.2).
    """

    def __init__(self, transport: Mapping[str, str], name: str = Name.OUTPUT) -> None:
        self.name = str(name)
        self._base = dict(transport)
        self._streams: dict[str, _OpenStream] = {}
        self._finished = False

    @property
    def codec_message_id(self) -> str:
        return self._base.get(H.CODEC_MESSAGE_ID, "")

    @property
    def open_streams(self) -> list[str]:
        return list(self._streams)

    def discrete(self, codec: Mapping[str, str], data: Any) -> Publish:
        self._check_open("publish")
        transport = {**self._base, H.STREAM: bool_text(False)}
        return Publish(self.name, data, envelope(transport, codec))

    def open(self, stream_id: str, codec: Mapping[str, str]) -> Publish:
        """The stream's create: data must be "" (receivers ignore a streamed create's data)."""
        self._check_open("open stream")
        if stream_id in self._streams:
            raise ProtocolError(
                ErrorCode.INVALID_ARGUMENT, f"unable to open stream; {stream_id} is already open"
            )
        stream = _OpenStream(f"{self.codec_message_id}/{stream_id}", dict(codec))
        self._streams[stream_id] = stream
        return Publish(
            self.name, "", self._stream_extras(stream_id, StreamStatus.STREAMING), stream.ref
        )

    def append(self, stream_id: str, fragment: str) -> Append:
        stream = self._stream(stream_id, "append")
        stream.text += fragment
        return Append(stream.ref, fragment, self._stream_extras(stream_id, StreamStatus.STREAMING))

    def close(self, stream_id: str, codec: Mapping[str, str] | None = None) -> Append:
        """The closing append; `codec` overrides closing codec fields, if the codec has any."""
        stream = self._stream(stream_id, "close stream")
        if codec:
            stream.codec.update(codec)
        extras = self._stream_extras(stream_id, StreamStatus.COMPLETE)
        del self._streams[stream_id]
        return Append(stream.ref, "", extras)

    def recovery(self, stream_id: str) -> Update:
        """Full accumulated text, still `streaming`: published *before* the close (§7.11)."""
        stream = self._stream(stream_id, "recover stream")
        extras = self._stream_extras(stream_id, StreamStatus.STREAMING)
        return Update(stream.ref, self.name, stream.text, extras)

    def cancel_open(self) -> list[Append]:
        """One `cancelled` append per still-open stream; closed streams are never touched."""
        ops = [
            Append(stream.ref, "", self._stream_extras(stream_id, StreamStatus.CANCELLED))
            for stream_id, stream in self._streams.items()
        ]
        self._streams.clear()
        return ops

    def finish(self) -> list[Append]:
        """End of the pipe: streams the codec left open are cancelled; later writes fail."""
        ops = self.cancel_open()
        self._finished = True
        return ops

    def _stream_extras(self, stream_id: str, status: StreamStatus) -> dict[str, Any]:
        transport = {
            **self._base,
            H.STREAM: bool_text(True),
            H.STATUS: str(status),
            H.STREAM_ID: stream_id,
        }
        return envelope(transport, self._streams[stream_id].codec)

    def _stream(self, stream_id: str, operation: str) -> _OpenStream:
        self._check_open(operation)
        stream = self._streams.get(stream_id)
        if stream is None:
            raise ProtocolError(
                ErrorCode.INVALID_ARGUMENT, f"unable to {operation}; unknown stream {stream_id}"
            )
        return stream

    def _check_open(self, operation: str) -> None:
        if self._finished:
            raise ProtocolError(ErrorCode.SESSION_CLOSED, f"unable to {operation}; encoder closed")


# --- agent header sets (§2.5, §4.2) --------------------------------------------------------


def default_step_id(invocation_id: str, n: int) -> str:
    """`<invocation-id>-step-<n>`, n counting from 0 per invocation (§4.3)."""
    return f"{invocation_id}-step-{n}"


@dataclass(frozen=True)
class Step:
    """One step attempt as outputs reference it; `start_serial` is its `ai-step-start` ACK."""

    step_id: str
    step_client_id: str
    start_serial: str


@dataclass(frozen=True)
class RunHeaders:
    """What an agent stamps on every message of one invocation of a run.

    `parent`, `fork_of` and `msg_regenerate` follow the parent rules of §4.2; a continuation
    has no structural headers on its `ai-run-resume` but its outputs carry `parent`.
    """

    run_id: str
    invocation_id: str
    input_codec_message_id: str
    run_client_id: str = ""
    input_client_id: str | None = None
    parent: str | None = None
    fork_of: str | None = None
    msg_regenerate: str | None = None

    def _identity(self) -> dict[str, str | None]:
        return {
            H.RUN_ID: self.run_id,
            H.RUN_CLIENT_ID: self.run_client_id,
            H.INVOCATION_ID: self.invocation_id,
            H.INPUT_CLIENT_ID: self.input_client_id,
        }

    def _structure(self) -> dict[str, str | None]:
        return {
            H.PARENT: self.parent,
            H.FORK_OF: self.fork_of,
            H.MSG_REGENERATE: self.msg_regenerate,
        }

    def _lifecycle(self, name: Name, extra: Mapping[str, str | None] | None = None) -> Publish:
        transport = {
            **self._identity(),
            H.INPUT_CODEC_MESSAGE_ID: self.input_codec_message_id,
            **(extra or {}),
        }
        return Publish(name, None, envelope(compact(transport)))

    def run_start(self) -> Publish:
        return self._lifecycle(Name.RUN_START, self._structure())

    def run_resume(self) -> Publish:
        return self._lifecycle(Name.RUN_RESUME)

    def run_suspend(self) -> Publish:
        return self._lifecycle(Name.RUN_SUSPEND)

    def run_end(
        self,
        reason: RunReason = RunReason.COMPLETE,
        error_code: int | None = None,
        error_message: str | None = None,
    ) -> Publish:
        extra: dict[str, str | None] = {H.RUN_REASON: str(reason)}
        if reason == RunReason.ERROR:
            extra[H.ERROR_CODE] = str(error_code if error_code is not None else DEFAULT_ERROR_CODE)
            extra[H.ERROR_MESSAGE] = error_message or DEFAULT_ERROR_MESSAGE
        return self._lifecycle(Name.RUN_END, extra)

    def step_start(self, step_id: str, step_client_id: str) -> Publish:
        transport = {**self._identity(), H.STEP_ID: step_id, H.STEP_CLIENT_ID: step_client_id}
        return Publish(Name.STEP_START, None, envelope(compact(transport)))

    def step_end(self, step: Step, reason: StepReason = StepReason.COMPLETE) -> Publish:
        transport = {
            **self._identity(),
            H.STEP_ID: step.step_id,
            H.STEP_CLIENT_ID: step.step_client_id,
            H.STEP_START_SERIAL: step.start_serial,
            H.STEP_REASON: str(reason),
        }
        return Publish(Name.STEP_END, None, envelope(compact(transport)))

    def output_headers(
        self, codec_message_id: str, step: Step, steer_ids: Iterable[str] = ()
    ) -> dict[str, str]:
        """The header set `O` repeated on every output create and append (§2.5, §2.9)."""
        return compact(
            {
                H.ROLE: Role.ASSISTANT,
                H.CODEC_MESSAGE_ID: codec_message_id,
                **self._identity(),
                **self._structure(),
                H.INPUT_CODEC_MESSAGE_ID: self.input_codec_message_id,
                H.STEP_ID: step.step_id,
                H.STEP_CLIENT_ID: step.step_client_id,
                H.STEP_START_SERIAL: step.start_serial,
                H.STEER_CODEC_MESSAGE_IDS: steer_ids_text(list(steer_ids)),
            }
        )

    def output_encoder(
        self, codec_message_id: str, step: Step, steer_ids: Iterable[str] = ()
    ) -> StreamEncoder:
        """One encoder per `pipe()` or step `send()`: each is its own assistant message."""
        return StreamEncoder(self.output_headers(codec_message_id, step, steer_ids))


# --- client inputs and cancels (§2.5, §3.2, §3.5) ------------------------------------------


@dataclass(frozen=True)
class InputHeaders:
    """Transport headers of one client input; `run_id` makes it a steer or continuation."""

    codec_message_id: str
    event_id: str
    run_client_id: str | None = None
    parent: str | None = None
    fork_of: str | None = None
    msg_regenerate: str | None = None
    run_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def transport(self, *, batch_part: bool = False) -> dict[str, str]:
        return compact(
            {
                H.ROLE: Role.USER,
                H.CODEC_MESSAGE_ID: self.codec_message_id,
                H.RUN_ID: self.run_id,
                H.RUN_CLIENT_ID: self.run_client_id,
                H.PARENT: self.parent,
                H.FORK_OF: self.fork_of,
                H.MSG_REGENERATE: self.msg_regenerate,
                H.EVENT_ID: self.event_id,
                H.STREAM: bool_text(False),
                # only the parts of a batched user message are marked discrete (§2.4)
                H.DISCRETE: "true" if batch_part else None,
                **self.extra,
            }
        )


def input_publish(
    headers: InputHeaders, codec: Mapping[str, str], data: Any, *, batch_part: bool = False
) -> Publish:
    return Publish(Name.INPUT, data, envelope(headers.transport(batch_part=batch_part), codec))


def cancel(
    event_id: str, *, run_id: str | None = None, input_codec_message_id: str | None = None
) -> Publish:
    """`ai-cancel`: one run, named by `run-id` and/or `input-codec-message-id` (§3.5)."""
    if not run_id and not input_codec_message_id:
        raise ProtocolError(
            ErrorCode.INVALID_ARGUMENT, "unable to cancel; a run-id or input id is required"
        )
    transport = compact(
        {H.EVENT_ID: event_id, H.RUN_ID: run_id, H.INPUT_CODEC_MESSAGE_ID: input_codec_message_id}
    )
    return Publish(Name.CANCEL, None, envelope(transport))
