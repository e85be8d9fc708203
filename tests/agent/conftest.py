from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.openai_server import FakeOpenAI, close_quietly
from tests.support.receiver import HttpReceiver


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    """The local OpenAI-compatible server, scripted by the test."""
    server = FakeOpenAI()
    await server.start()
    yield server
    await close_quietly(server)


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    """A push receiver on a free port, recording every request."""
    server = await HttpReceiver().start()
    yield server
    if server.hold is not None:
        server.hold.set()
    await server.stop()
