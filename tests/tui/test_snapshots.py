"""Snapshot tests (pytest-textual-snapshot): the real app on a real hub and ClientSession,
with a fixed terminal size, fixed names and devices, no spinner and no cursor blink. Hub
ports, serials and run ids never reach the screen outside the wire pane (not shown here).

snap_compare runs the app with `App.run` in its own event loop, so these tests are plain
functions and everything (hub, agent, other devices) starts inside that loop (tests/tui/scene.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui import scene as s
from tests.tui.helpers import wait_for
from tests.tui.scene import Scene
from tui_session.tui.widgets import ConnectionBanner

SIZE = (100, 30)


@pytest.fixture
def scene(tmp_path: Path) -> Scene:
    return Scene(tmp_path / "hub")


def test_empty_session(snap_compare, scene: Scene) -> None:
    async def run_before(pilot) -> None:
        await s.opened(pilot)
        await s.members(pilot, 2)

    assert snap_compare(scene.app(), terminal_size=SIZE, run_before=run_before)


def test_own_turn_streaming(snap_compare, scene: Scene) -> None:
    async def run_before(pilot) -> None:
        await s.opened(pilot)
        await s.members(pilot, 2)
        await s.send(pilot, "slow write a haiku")
        await s.shows(pilot, 0, s.partial("slow write a haiku"), status="active")

    assert snap_compare(scene.app(), terminal_size=SIZE, run_before=run_before)


def test_observer_turn(snap_compare, scene: Scene) -> None:
    async def run_before(pilot) -> None:
        await s.opened(pilot)
        bob = await scene.join_device("bob", "desktop")
        await s.members(pilot, 3)
        await bob.send("what is a session channel?")
        text = s.answer_for("what is a session channel?")
        await s.shows(pilot, 0, text, status="complete")

    assert snap_compare(scene.app(), terminal_size=SIZE, run_before=run_before)


def test_three_devices_present(snap_compare, scene: Scene) -> None:
    async def run_before(pilot) -> None:
        await s.opened(pilot)
        await scene.join_device("alice", "phone")
        await scene.join_device("bob", "desktop")
        await s.members(pilot, 4)

    assert snap_compare(scene.app(), terminal_size=SIZE, run_before=run_before)


def test_cancelled_turn(snap_compare, scene: Scene) -> None:
    async def run_before(pilot) -> None:
        await s.opened(pilot)
        await s.members(pilot, 2)
        await s.send(pilot, "slow explain everything")
        await s.shows(pilot, 0, s.partial("slow explain everything"), status="active")
        await pilot.press("escape")
        await s.shows(pilot, 0, s.partial("slow explain everything"), status="cancelled")
        await wait_for(pilot, lambda: not pilot.app.chat.mine_busy)

    assert snap_compare(scene.app(), terminal_size=SIZE, run_before=run_before)


def test_failed_turn(snap_compare, scene: Scene) -> None:
    async def run_before(pilot) -> None:
        await s.opened(pilot)
        await s.members(pilot, 2)
        await s.send(pilot, "fail on purpose")
        # the source breaks at its 6th event: three text chunks made it out
        await s.shows(pilot, 0, s.partial("fail on purpose", 3), status="error")
        await wait_for(pilot, lambda: not pilot.app.chat.mine_busy)

    assert snap_compare(scene.app(), terminal_size=SIZE, run_before=run_before)


def test_late_joiner_mid_stream(snap_compare, scene: Scene) -> None:
    async def before_open(sc: Scene) -> None:
        bob = await sc.join_device("bob", "desktop")
        first = await bob.send("an early question")
        await first.ended
        await bob.send("slow a long answer")  # still streaming when alice joins
        assert sc.agent is not None
        await wait_for_started(sc, 2)

    scene.before_open = before_open

    async def run_before(pilot) -> None:
        await s.opened(pilot)
        await s.shows(pilot, 1, s.partial("slow a long answer"), status="active")
        await s.shows(pilot, 0, s.answer_for("an early question"), status="complete")

    assert snap_compare(scene.app(), terminal_size=SIZE, run_before=run_before)


def test_reconnecting_banner(snap_compare, scene: Scene) -> None:
    scene.via_proxy = True

    async def run_before(pilot) -> None:
        await s.opened(pilot)
        await s.members(pilot, 2)
        await s.send(pilot, "hello")
        await s.shows(pilot, 0, s.answer_for("hello"), status="complete")
        assert scene.proxy is not None
        await scene.proxy.stop()
        banner = pilot.app.chat.query_one(ConnectionBanner)
        await wait_for(pilot, lambda: banner.display, what="banner")
        pilot.app.chat.query_one("#header").connection = "disconnected"  # not "connecting"

    assert snap_compare(scene.app(), terminal_size=SIZE, run_before=run_before)


def test_narrow_terminal(snap_compare, scene: Scene) -> None:
    async def run_before(pilot) -> None:
        await s.opened(pilot)
        await scene.join_device("bob", "phone")
        await s.members(pilot, 3)
        await s.send(pilot, "short one")
        await s.shows(pilot, 0, s.answer_for("short one"), status="complete")

    assert snap_compare(scene.app(), terminal_size=(60, 20), run_before=run_before)


async def wait_for_started(sc: Scene, runs: int) -> None:
    import asyncio

    assert sc.agent is not None
    while len(sc.agent.runs) < runs:
        sc.agent.started.clear()
        await asyncio.wait_for(sc.agent.started.wait(), 10)
