from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.hub import HubEndpoint, hub_settings
from tui_session.hub.server import start_hub


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[HubEndpoint]:
    """A real hub, in this process, on a free loopback port, with its own data dir."""
    running = await start_hub(hub_settings(tmp_path / "hub"))
    endpoint = HubEndpoint("127.0.0.1", running.port, running.hub.auth.root_key(), tmp_path / "hub")
    endpoint.running = running  # type: ignore[attr-defined]
    yield endpoint
    await endpoint.close_clients()
    await running.stop()
