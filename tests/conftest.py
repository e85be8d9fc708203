from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import HubEndpoint
from tui_session.config import HubSettings
from tui_session.hub.server import start_hub


def hub_settings(data_dir: Path, **overrides) -> HubSettings:
    return HubSettings(host="127.0.0.1", port=0, data_dir=data_dir, **overrides)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[HubEndpoint]:
    """A real hub, in this process, on a free loopback port, with its own data dir."""
    running = await start_hub(hub_settings(tmp_path / "hub"))
    endpoint = HubEndpoint("127.0.0.1", running.port, running.hub.auth.root_key(), tmp_path / "hub")
    endpoint.running = running  # type: ignore[attr-defined]
    yield endpoint
    await endpoint.close_clients()
    await running.stop()
