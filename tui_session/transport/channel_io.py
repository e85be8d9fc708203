"""Channel I/O shared by both sides: ably messages as decoder input, history pages, and an
ordered writer that maps protocol operations onto ably calls.

Ordering. ably-python assigns `msgSerial` and writes the frame synchronously when a publish
coroutine first runs, so operations started as tasks in program order reach the hub in that
order. The writer therefore starts *every* operation as a task at the moment it is submitted,
and awaits only what it needs (a stream create's serial, a lifecycle ACK, the end of a
stream), so appends stay in flight in order while the source keeps producing.

Rollup (§2.8 with a budget). Deltas to one stream are coalesced: the first append after the
create goes out at once, later fragments within `window_s` of the previous send are merged
and sent when the window ends, so a fast model costs at most ~1/window appends per second per
stream. Closing a stream flushes the merged tail, waits for the stream's appends, publishes
the recovery update (full text, `streaming`) if any failed, and only then the closing append
(§7.11).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ably.types.message import Message

from tui_session.protocol import Append, ErrorCode, ProtocolError, Publish, Update
from tui_session.protocol.wire import H, StreamStatus, read_envelope

log = logging.getLogger(__name__)

HISTORY_RETRIES = 3
HISTORY_BACKOFF_S = 0.1
DEFAULT_ROLLUP_S = 0.04


def message_dict(message: Message) -> dict[str, Any]:
    """An inbound ably `Message` as the plain, Ably-shaped dict the protocol decoder reads."""
    action = message.action
    version = message.version
    out: dict[str, Any] = {
        "name": message.name,
        "data": message.data,
        "extras": message.extras,
        "serial": message.serial,
        "action": int(action) if action is not None else 0,
        "clientId": message.client_id,
        "connectionId": message.connection_id,
        "timestamp": message.timestamp,
    }
    if version is not None and getattr(version, "serial", None):
        out["version"] = {"serial": version.serial}
    return out


def ably_message(
    data: Any, extras: dict[str, Any], *, name: str | None = None, serial: str | None = None
) -> Message:
    return Message(name=name, data=data, extras=extras, serial=serial)


def outbound(op: Publish) -> Message:
    """A protocol `Publish` as an ably `Message` (lifecycle and cancels carry no data)."""
    return ably_message(op.data, op.extras, name=op.name)


class HistoryCursor:
    """One backward cursor over a channel's history (newest first), with retries (§3.11)."""

    def __init__(self, channel: Any, page_size: int = 100) -> None:
        self.channel = channel
        self.page_size = page_size
        self.pages_read = 0
        self._page: Any = None
        self._exhausted = False
        self._lock = asyncio.Lock()

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    async def older(self) -> list[dict[str, Any]] | None:
        """The next older page, oldest first; None once history is exhausted."""
        async with self._lock:
            if self._exhausted:
                return None
            page = await self._fetch()
            if page is None:
                self._exhausted = True
                return None
            self._page = page
            self.pages_read += 1
            if not page.has_next():
                self._exhausted = True
            return [message_dict(m) for m in reversed(page.items)]

    async def _fetch(self) -> Any:
        delay = HISTORY_BACKOFF_S
        for attempt in range(HISTORY_RETRIES + 1):
            try:
                if self._page is None:
                    return await self.channel.history(direction="backwards", limit=self.page_size)
                return await self._page.next()
            except Exception as exc:  # the SDK raises AblyException, or network errors
                if attempt == HISTORY_RETRIES:
                    raise ProtocolError(
                        ErrorCode.HISTORY_FETCH_FAILED, f"unable to fetch history; {exc}"
                    ) from exc
                log.warning("history page failed (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)  # back-off between retries, not synchronisation
                delay *= 2
        return None  # unreachable


def _status_of(extras: Mapping[str, Any]) -> str | None:
    tiers = read_envelope(extras)
    return tiers[0].get(H.STATUS) if tiers else None


@dataclass
class _Stream:
    ref: str
    name: str
    serial: str | None = None
    text: str = ""  # everything submitted so far: sent or still buffered
    buffer: str = ""
    extras: dict[str, Any] = field(default_factory=dict)  # latest streaming extras
    last_sent: float | None = None
    timer: asyncio.TimerHandle | None = None
    tasks: list[asyncio.Task] = field(default_factory=list)
    failed: bool = False
    appends_sent: int = 0


class ChannelWriter:
    """Publishes protocol operations on one channel, in submission order.

    One writer per pipe (one assistant message) or per run for lifecycle messages; they may
    share a channel, since order is kept by starting every call as a task at submission.
    """

    def __init__(self, channel: Any, *, window_s: float = DEFAULT_ROLLUP_S) -> None:
        self.channel = channel
        self.window_s = window_s
        self._streams: dict[str, _Stream] = {}
        self._tasks: list[asyncio.Task] = []
        self.errors: list[BaseException] = []
        self.recovery_errors: list[ProtocolError] = []
        self.published: dict[str, str] = {}  # message serial -> latest version acknowledged

    def _note(self, serial: str | None, version: str | None) -> None:
        if serial and version and version > self.published.get(serial, ""):
            self.published[serial] = version

    # --- single operations -------------------------------------------------------------------

    def start(self, coro: Any) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.append(task)
        return task

    async def publish(self, op: Publish) -> str:
        """Publish and wait for the ACK; returns the serial (50000 when there is none)."""
        task = self.start(self.channel.publish(outbound(op)))
        result = await task
        serials = getattr(result, "serials", None) or []
        serial = serials[0] if serials else None
        if not serial:
            raise ProtocolError(ErrorCode.INTERNAL_ERROR, "unable to publish; no serial returned")
        self._note(serial, serial)
        if op.stream_ref:
            stream = self._streams.setdefault(op.stream_ref, _Stream(op.stream_ref, op.name))
            stream.serial = serial
            stream.extras = op.extras
        return serial

    def publish_nowait(self, op: Publish) -> asyncio.Task:
        """A discrete message whose serial nobody waits for: in flight, collected by `drain`."""
        task = self.start(self.channel.publish(outbound(op)))

        def done(t: asyncio.Task) -> None:
            if not t.cancelled() and t.exception() is None:
                serials = getattr(t.result(), "serials", None) or []
                if serials:
                    self._note(serials[0], serials[0])

        task.add_done_callback(done)
        return task

    async def submit(self, op: Publish | Append | Update) -> None:
        """Route one encoder operation: creates are awaited (their serial is the stream's
        handle), discrete publishes and appends are kept in flight, closes are ordered."""
        if isinstance(op, Publish):
            if op.stream_ref:
                await self.publish(op)
            else:
                self.publish_nowait(op)
        elif isinstance(op, Append):
            if _status_of(op.extras) == StreamStatus.STREAMING:
                self.append(op)
            else:
                await self.close(op)
        else:
            await self._update(self._stream(op.stream_ref), op.data, op.extras)

    # --- streams -----------------------------------------------------------------------------

    def _stream(self, ref: str) -> _Stream:
        stream = self._streams.get(ref)
        if stream is None or stream.serial is None:
            raise ProtocolError(
                ErrorCode.INVALID_ARGUMENT, f"unable to append; stream {ref} was never opened"
            )
        return stream

    def append(self, op: Append) -> None:
        """A content fragment: sent now if the window allows, else merged into the next send."""
        stream = self._stream(op.stream_ref)
        if not op.data:
            return
        stream.text += op.data
        stream.extras = op.extras
        now = asyncio.get_running_loop().time()
        due = stream.last_sent is None or now - stream.last_sent >= self.window_s
        if due and not stream.buffer:
            self._send_append(stream, op.data, op.extras)
            return
        stream.buffer += op.data
        if stream.timer is None:
            delay = max(0.0, (stream.last_sent or now) + self.window_s - now)
            stream.timer = asyncio.get_running_loop().call_later(delay, self._flush, stream)

    def _flush(self, stream: _Stream) -> None:
        if stream.timer is not None:
            stream.timer.cancel()
            stream.timer = None
        if stream.buffer:
            data, stream.buffer = stream.buffer, ""
            self._send_append(stream, data, stream.extras)

    def _send_append(self, stream: _Stream, data: str, extras: dict[str, Any]) -> None:
        message = ably_message(data, extras, serial=stream.serial)
        # not in `_tasks`: a failed content append is repaired by the recovery at close
        task = asyncio.ensure_future(self.channel.append_message(message))
        stream.tasks.append(task)
        stream.appends_sent += 1
        stream.last_sent = asyncio.get_running_loop().time()

        task.add_done_callback(lambda t: self._appended(stream, t))

    def _appended(self, stream: _Stream, task: asyncio.Task) -> None:
        if task.cancelled():
            stream.failed = True
        elif task.exception() is not None:
            stream.failed = True
            log.warning("append to %s failed: %s", stream.serial, task.exception())
        else:
            self._note(stream.serial, getattr(task.result(), "version_serial", None))

    async def close(self, op: Append) -> None:
        """The closing (`complete`) or `cancelled` append of a stream, after its tail."""
        stream = self._stream(op.stream_ref)
        self._flush(stream)
        await asyncio.gather(*stream.tasks, return_exceptions=True)
        if stream.failed:
            await self._recover(stream)
        task = asyncio.ensure_future(
            self.channel.append_message(ably_message(op.data, op.extras, serial=stream.serial))
        )
        stream.tasks.append(task)
        await asyncio.gather(task, return_exceptions=True)
        if task.exception() is not None:
            self.errors.append(task.exception())  # type: ignore[arg-type]
        else:
            self._note(stream.serial, getattr(task.result(), "version_serial", None))

    async def _recover(self, stream: _Stream) -> None:
        """Full text, still `streaming`, before the close, so live receivers end right."""
        extras = _with_status(stream.extras, StreamStatus.STREAMING)
        try:
            await self._update(stream, stream.text, extras)
        except Exception as exc:
            error = ProtocolError(
                ErrorCode.ENCODER_RECOVERY_FAILED, f"unable to recover stream; {exc}"
            )
            log.error("%s", error)
            self.recovery_errors.append(error)
        stream.failed = False

    async def _update(self, stream: _Stream, data: str, extras: dict[str, Any]) -> None:
        message = ably_message(data, extras, name=stream.name, serial=stream.serial)
        result = await self.start(self.channel.update_message(message))
        self._note(stream.serial, getattr(result, "version_serial", None))

    def appends_sent(self, ref: str) -> int:
        stream = self._streams.get(ref)
        return stream.appends_sent if stream else 0

    async def drain(self) -> list[BaseException]:
        """Flush every merged tail and wait for everything in flight; returns the failures
        that were not repaired (a content append that failed is repaired by its recovery)."""
        for stream in self._streams.values():
            self._flush(stream)
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        appends = [t for stream in self._streams.values() for t in stream.tasks]
        await asyncio.gather(*appends, return_exceptions=True)
        self._tasks = [t for t in self._tasks if not t.done()]
        failures = [r for r in results if isinstance(r, BaseException)]
        return failures + self.errors + list(self.recovery_errors)


def _with_status(extras: Mapping[str, Any], status: StreamStatus) -> dict[str, Any]:
    ai = dict(extras.get("ai") or {})
    ai["transport"] = {**dict(ai.get("transport") or {}), H.STATUS: str(status)}
    return {**extras, "ai": ai}
