from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.support.hub import HubEndpoint
from tests.tui.scripted_agent import ScriptedAgent


@pytest.fixture(autouse=True)
def quiet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
async def agent(hub: HubEndpoint) -> AsyncIterator[ScriptedAgent]:
    scripted = await ScriptedAgent(hub).start()
    yield scripted
    await scripted.stop()


@pytest.fixture
def channel() -> str:
    return f"session-{uuid.uuid4().hex[:8]}"
