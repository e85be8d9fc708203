from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.openai_server import FakeOpenAI, close_quietly


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    """The local OpenAI-compatible server, scripted by the test."""
    server = FakeOpenAI()
    await server.start()
    yield server
    await close_quietly(server)
