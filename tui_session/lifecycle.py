"""Running a service in the foreground (`tui-session hub`, `agent`, `serve`): start it, say
where it listens, and stop it cleanly on SIGINT or SIGTERM (the agent ends its turns then)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar


class Stoppable(Protocol):
    async def stop(self) -> None: ...


Running = TypeVar("Running", bound=Stoppable)


async def until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def run_until_signalled(
    start: Callable[[], Awaitable[Running]], banner: Callable[[Running], str]
) -> None:
    """Start, print the banner (tests and scripts wait for its first line), serve, stop."""

    async def main() -> None:
        running = await start()
        print(banner(running), flush=True)
        try:
            await until_signalled()
        finally:
            await running.stop()

    asyncio.run(main())
