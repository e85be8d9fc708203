"""A loopback TCP proxy that tests can cut: the honest way to drop a client's socket mid-stream."""

from __future__ import annotations

import asyncio
import contextlib
import socket


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to a target; `cut()` resets every live connection at once."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.accepted = 0
        self.held = 0  # connections accepted during an outage and held until it ended
        self._held_until = 0.0
        self._waiting: set[asyncio.StreamWriter] = set()
        self._server: asyncio.base_events.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        hold = self._held_until - asyncio.get_running_loop().time()
        if hold > 0:  # an outage: the connection hangs, unanswered, until the network is back
            self.held += 1
            self._waiting.add(writer)
            try:
                await asyncio.sleep(hold)  # the outage itself (bounded), not synchronisation
            finally:
                self._waiting.discard(writer)
            if writer.is_closing():
                return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._pairs.discard(pair)

    def cut(self) -> int:
        """Reset every proxied connection (RST, no close handshake); returns how many."""
        count = 0
        for client_side, hub_side in list(self._pairs):
            for writer in (client_side, hub_side):
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                        )
                writer.transport.abort()
            count += 1
        self._pairs.clear()
        return count

    def outage(self, seconds: float) -> int:
        """A network outage of `seconds`: reset every live connection now, and hold every new
        one (accepted, nothing forwarded) until the outage ends, when it is connected to the
        target as usual. Bounded: nothing is needed to end it. Returns how many were cut."""
        self._held_until = asyncio.get_running_loop().time() + seconds
        return self.cut()

    async def stop(self) -> None:
        self.cut()
        for writer in list(self._waiting):
            writer.transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
