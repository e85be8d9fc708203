"""Fixtures of the scenario suite: one `tui-session serve` per demo-model pace for the whole
suite (each test has its own session on it), and a `Scenario` per test.

The offline demo model answers ~83 tokens. At the default pace an answer streams for ~2 s:
long enough to be seen streaming, short to wait for. A test that must act in the middle of
an answer (cancel it, close a terminal and reopen it) marks itself `demo_pace(SLOW)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .stack import Scenario, Server

DEFAULT_PACE = 40.0
SLOW = 15.0  # ~5.5 s an answer


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[float, Server]]:
    started: dict[float, Server] = {}
    yield started
    for running in started.values():
        running.stop()


@pytest.fixture
def server(
    request: pytest.FixtureRequest,
    servers: dict[float, Server],
    tmp_path_factory: pytest.TempPathFactory,
) -> Server:
    marker = request.node.get_closest_marker("demo_pace")
    pace = float(marker.args[0]) if marker else DEFAULT_PACE
    if pace not in servers:
        servers[pace] = Server(tmp_path_factory.mktemp("serve"), demo_pace=pace).start()
    return servers[pace]


@pytest.fixture
def scenario(request: pytest.FixtureRequest, server: Server, tmp_path: Path) -> Iterator[Scenario]:
    current = Scenario(server, tmp_path)
    yield current
    call = getattr(request.node, "report_call", None)
    failed = call is None or not call.passed
    if failed:
        print(current.screens())
    problems = current.close(failed=failed)
    assert not problems, "\n".join(problems)
