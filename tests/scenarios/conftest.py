"""Fixtures of the scenario suite: one `tui-session serve` per test module (a module sets
`DEMO_PACE`, the offline demo model's tokens per second), one new session per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .stack import Scenario, Server

DEFAULT_PACE = 40.0  # a ~100-token answer streams for ~2.5 s: long enough to see, short to wait


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    pace = getattr(request.module, "DEMO_PACE", DEFAULT_PACE)
    running = Server(tmp_path_factory.mktemp("serve"), demo_pace=pace).start()
    yield running
    running.stop()


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
