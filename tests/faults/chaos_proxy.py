"""A loopback TCP proxy that breaks connections on purpose: resets, closes, stalls and black holes
at seeded random byte positions, mid-frame as often as not.

Every proxied connection has two directions (`up`: client to hub, `down`: hub to client). Each
direction draws, from its own seeded generator, how many bytes to forward before its next fault;
the chunk that crosses that point is cut there, its head forwarded and its tail held back, so a
fault lands inside a WebSocket frame (or an HTTP request or response) at an arbitrary byte. Then:

- reset: the head goes out, then both sockets are aborted with RST (SO_LINGER 0);
- close: the head goes out, then both sockets are closed with FIN (a truncated frame, then EOF);
- stall: nothing moves in that direction for a bounded time, then the tail and the rest flow;
- blackhole: both directions swallow everything for a bounded time, then both are reset.

Bounds: at most `max_faults` faults in all, only while armed and for at most `window_s` after
`arm()`, each stall or black hole at most `max_pause_s`. Outside those bounds it is a plain
proxy, so a scenario can always finish cleanly. It listens and connects on loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import struct
from collections import Counter
from dataclasses import dataclass, field

KINDS = ("reset", "close", "stall", "blackhole")
CHUNK = 65_536


@dataclass(frozen=True)
class FaultPlan:
    seed: int
    max_faults: int = 40
    window_s: float = 60.0
    # Bytes forwarded in one direction before its next fault: drawn uniformly from these ranges
    # (client to hub carries far less than hub to client, hence its own, shorter, range).
    up_bytes_between: tuple[int, int] = (200, 8_000)
    down_bytes_between: tuple[int, int] = (2_000, 120_000)
    weights: tuple[int, int, int, int] = (4, 2, 3, 1)  # KINDS order
    pause_s: tuple[float, float] = (0.05, 0.8)  # a stall's or black hole's length

    @property
    def max_pause_s(self) -> float:
        return self.pause_s[1]


@dataclass(frozen=True)
class Fault:
    kind: str
    connection: int
    direction: str  # "up" (client to hub) or "down" (hub to client)
    at_byte: int  # bytes of that direction forwarded before the cut
    cut_in_chunk: int  # where in the chunk it cut (0 < cut: mid-chunk, i.e. mid-frame)
    chunk: int
    pause_s: float = 0.0
    at_s: float = 0.0  # seconds after arm()


@dataclass(eq=False)
class _Pair:
    index: int
    client: asyncio.StreamWriter
    hub: asyncio.StreamWriter
    done: bool = False
    silent: bool = False
    timers: list[asyncio.TimerHandle] = field(default_factory=list)

    def _writers(self) -> tuple[asyncio.StreamWriter, asyncio.StreamWriter]:
        return self.client, self.hub

    def reset(self) -> None:
        """RST both sides: no close handshake, buffered bytes discarded."""
        self.done = True
        for writer in self._writers():
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

    def close(self) -> None:
        self.done = True
        for writer in self._writers():
            writer.close()


def _check_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(f"the chaos proxy only forwards to loopback, not {host!r}")


class ChaosProxy:
    """Forwards 127.0.0.1:<port> to a loopback target, injecting faults as `plan` says."""

    def __init__(self, target_host: str, target_port: int, plan: FaultPlan) -> None:
        _check_loopback(target_host)
        self.target = (target_host, target_port)
        self.plan = plan
        self.port = 0
        self.faults: list[Fault] = []
        self.accepted = 0
        self.refusing = False  # while set, new connections are reset at once (network down)
        self.bytes = Counter[str]()
        self._armed_until: float | None = None
        self._armed_at = 0.0
        self._server: asyncio.base_events.Server | None = None
        self._pairs: set[_Pair] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- control ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def arm(self) -> None:
        self._armed_at = asyncio.get_running_loop().time()
        self._armed_until = self._armed_at + self.plan.window_s

    def disarm(self) -> None:
        self._armed_until = None

    @property
    def armed(self) -> bool:
        if self._armed_until is None or len(self.faults) >= self.plan.max_faults:
            return False
        return asyncio.get_running_loop().time() < self._armed_until

    def cut(self) -> int:
        """Reset every live connection now (outside the plan); returns how many."""
        pairs = list(self._pairs)
        for pair in pairs:
            pair.reset()
        return len(pairs)

    def summary(self) -> dict[str, int]:
        kinds = Counter(f.kind for f in self.faults)
        return {
            "faults": len(self.faults),
            "mid_chunk": sum(1 for f in self.faults if f.cut_in_chunk > 0),
            "up": sum(1 for f in self.faults if f.direction == "up"),
            "connections": self.accepted,
            "last_fault_ms": int(max((f.at_s for f in self.faults), default=0) * 1000),
            **{k: kinds.get(k, 0) for k in KINDS},
        }

    async def stop(self) -> None:
        self.disarm()
        if self._server is not None:
            self._server.close()
        for pair in list(self._pairs):
            pair.reset()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    # ---- forwarding ------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        index = self.accepted
        self.accepted += 1
        try:
            if self.refusing:
                _Pair(index, writer, writer).reset()
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError:
                writer.close()
                return
            pair = _Pair(index, writer, up_writer)
            self._pairs.add(pair)
            try:
                await asyncio.gather(
                    self._pump(pair, "up", reader, up_writer),
                    self._pump(pair, "down", up_reader, writer),
                )
            finally:
                for timer in pair.timers:
                    timer.cancel()
                self._pairs.discard(pair)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _pump(
        self,
        pair: _Pair,
        direction: str,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
    ) -> None:
        plan = self.plan
        rng = random.Random(f"{plan.seed}:{pair.index}:{direction}")
        forwarded = 0
        between = plan.up_bytes_between if direction == "up" else plan.down_bytes_between
        next_fault = rng.randint(*between)
        try:
            while not pair.done:
                data = await src.read(CHUNK)
                if not data:
                    break
                if pair.silent:
                    continue  # a black hole swallows everything until the reset
                if self.armed and forwarded + len(data) > next_fault:
                    cut = next_fault - forwarded
                    head, tail = data[:cut], data[cut:]
                    if head:
                        dst.write(head)
                        await dst.drain()
                        forwarded += len(head)
                        self.bytes[direction] += len(head)
                    kind = rng.choices(KINDS, weights=plan.weights)[0]
                    pause = round(rng.uniform(*plan.pause_s), 3)
                    self.faults.append(
                        Fault(
                            kind,
                            pair.index,
                            direction,
                            forwarded,
                            cut,
                            len(data),
                            pause if kind in ("stall", "blackhole") else 0.0,
                            asyncio.get_running_loop().time() - self._armed_at,
                        )
                    )
                    if kind == "reset":
                        pair.reset()
                        return
                    if kind == "close":
                        pair.close()
                        return
                    if kind == "blackhole":
                        pair.silent = True
                        loop = asyncio.get_running_loop()
                        pair.timers.append(loop.call_later(pause, pair.reset))
                        continue
                    # stall: this direction holds still for a bounded time (the fault itself)
                    await asyncio.sleep(pause)
                    next_fault = forwarded + len(tail) + rng.randint(*between)
                    data = tail
                if data:
                    dst.write(data)
                    forwarded += len(data)
                    self.bytes[direction] += len(data)
                    await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if not pair.done:
                pair.close()
