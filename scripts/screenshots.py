"""Generate screenshots/*.svg from the real app: a real hub in this process, the real agent
service with the offline demo model, real ClientSessions, the app built by the same `make_app`
the CLI uses.

    .venv/bin/python scripts/screenshots.py [--out screenshots]

Includes two devices side by side in one session (two app instances, one image), a take-over
as the user sees it, and the operator desk (docs/handover.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from tests.tui import scene as s  # noqa: E402
from tests.tui.helpers import turns, wait_for  # noqa: E402
from tests.tui.scene import CHANNEL, Scene  # noqa: E402
from tui_session.config import Settings  # noqa: E402
from tui_session.tui.app import make_app  # noqa: E402
from tui_session.tui.options import ChatOptions, OpenSession  # noqa: E402

SIZE = (110, 34)


DEMO_PACE = 12.0  # tokens/s: slow enough to catch an answer mid-stream


async def single(out: Path, name: str, steps, *, size=SIZE, **scene_options) -> None:
    scene = Scene(Path(tempfile.mkdtemp()) / "hub", demo_pace=DEMO_PACE, **scene_options)
    app = scene.app()
    async with app.run_test(size=size) as pilot:
        await s.opened(pilot)
        await steps(scene, pilot)
        await pilot.pause()
        (out / f"{name}.svg").write_text(app.export_screenshot(title=name))
    print(f"wrote {out / name}.svg")


def ended(pilot, index: int) -> bool:
    items = turns(pilot.app)
    return len(items) > index and items[index].view.terminal


def mid_stream(pilot, index: int, chars: int = 60) -> bool:
    items = turns(pilot.app)
    return (
        len(items) > index
        and not items[index].view.terminal
        and len(items[index].rendered_text) >= chars
    )


async def conversation(scene: Scene, pilot) -> None:
    await scene.join_device("bob", "desktop")
    await s.members(pilot, 3)
    await s.send(pilot, "what is a durable session?")
    await wait_for(pilot, lambda: ended(pilot, 0), timeout=60, what="first answer")
    await s.send(pilot, "and why does it matter on a phone?")
    await wait_for(pilot, lambda: mid_stream(pilot, 1), timeout=30, what="second answer")


async def approval(scene: Scene, pilot) -> None:
    await s.members(pilot, 2)
    await s.send(pilot, "please delete my temp files")
    await wait_for(pilot, lambda: pilot.app.chat.approval, timeout=30, what="approval")
    await pilot.pause(0.1)


async def wire(scene: Scene, pilot) -> None:
    await s.members(pilot, 2)
    await pilot.press("ctrl+l")
    await s.send(pilot, "show me the wire")
    await wait_for(pilot, lambda: ended(pilot, 0), timeout=60, what="answer")


async def take_over(scene: Scene, pilot) -> None:
    """root asked for a human; ada took over from another terminal and replied; root's next
    prompt goes to her (`→ ada (operator)`)."""
    from tui_session.tui.widgets import PromptItem
    from tui_session.tui.widgets.handover import HandoverBar

    chat = pilot.app.chat
    bar = chat.query_one(HandoverBar)
    await s.members(pilot, 2)
    await s.send(pilot, "I want to talk to a human about my refund")
    await wait_for(pilot, lambda: bar.display, timeout=60, what="the request for a human")
    ada = await scene.join_device("ada", "desk")
    await ada.handover.take_over()
    await wait_for(pilot, lambda: "in control" in str(bar.render()), timeout=30, what="ada")
    await ada.handover.reply("Hi, I'm Ada from support. Your refund is approved: ref 42.")
    await wait_for(pilot, lambda: ended(pilot, 1), timeout=30, what="ada's reply")
    await s.send(pilot, "Thanks! When will it arrive?")
    await wait_for(
        pilot,
        lambda: any(p.view.handled_by for p in chat.query(PromptItem)),
        timeout=30,
        what="the prompt handed to ada",
    )


async def desk(out: Path) -> None:
    """The operator desk: two sessions waiting for a human, one taken over (resolved)."""
    from tui_session.protocol.desk import Thresholds
    from tui_session.transport.client import ClientSession
    from tui_session.transport.client_desk import DeskFeed
    from tui_session.transport.client_handover import fetch_agent_info
    from tui_session.tui.app import make_desk_app
    from tui_session.tui.options import DeskOptions, OpenDesk

    scene = Scene(Path(tempfile.mkdtemp()) / "hub", demo_pace=DEMO_PACE, operators="ada")
    hub = await scene.start()
    assert scene.agent is not None
    url = scene.agent.url
    asks = [
        ("session:refund", "root", "I want to talk to a human about my refund"),
        ("session:invoice", "maria", "Can I speak with a real person about invoice 7?"),
        ("session:parcel", "li", "escalate this please, my parcel is lost"),
    ]
    users: list[ClientSession] = []
    for channel, user, text in asks:
        session = await ClientSession.connect(
            hub.realtime(user), channel, agent_url=url, device="phone"
        )
        users.append(session)
        await session.send(text)
    for session in users:
        await _until(lambda session=session: session.handover.view().open_escalations)
    ada = await ClientSession.connect(
        hub.realtime("ada"), "session:parcel", agent_url=url, device="laptop"
    )
    await ada.handover.take_over()
    await ada.handover.reply("Ada here: I found your parcel, it ships today.")

    async def factory(listener) -> OpenDesk:
        agent = await fetch_agent_info(url)
        assert agent is not None and agent.desk_channel
        realtime = hub.realtime("ada")
        feed = await DeskFeed.connect(
            realtime, agent.desk_channel, device="desk", agent=agent, listener=listener
        )
        return OpenDesk(feed, feed.close)

    options = DeskOptions(
        factory=factory,
        open_session=scene.factory,
        chat=ChatOptions(CHANNEL, endpoint_label="local hub", spinner=False, notify="off"),
        thresholds=Thresholds(),
    )
    app = make_desk_app(Settings(), options)
    async with app.run_test(size=(120, 30)) as pilot:
        assert app.desk is not None
        table = app.desk.query_one("#resolved")
        await wait_for(pilot, lambda: table.row_count >= 1, timeout=30, what="desk rows")
        await pilot.pause(0.2)
        (out / "desk.svg").write_text(app.export_screenshot(title="tui-session desk"))
    for session in [*users, ada]:
        await session.close()
    await scene.close()
    print(f"wrote {out / 'desk.svg'}")


async def _until(predicate, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the screenshot's state never came")
        await asyncio.sleep(0.05)


async def side_by_side(out: Path) -> None:
    """Two devices of one session in one image: alice's laptop and bob's phone."""
    scene = Scene(Path(tempfile.mkdtemp()) / "hub", demo_pace=DEMO_PACE)
    hub = await scene.start()
    assert scene.agent is not None
    from tui_session.transport.client import ClientSession

    async def factory_for(user: str, device: str):
        async def factory(channel: str) -> OpenSession:
            session = await ClientSession.connect(
                hub.realtime(user), channel, agent_url=scene.agent.url, device=device
            )
            return OpenSession(session, session.close)

        return factory

    options = ChatOptions(CHANNEL, endpoint_label="local hub", spinner=False, notify="off")
    laptop = make_app(Settings(), await factory_for("alice", "laptop"), options)
    phone = make_app(Settings(), await factory_for("bob", "phone"), options)
    async with laptop.run_test(size=(90, 34)) as a, phone.run_test(size=(60, 34)) as b:
        await s.opened(a)
        await s.opened(b)
        await wait_for(a, lambda: len(laptop.chat.controller.session.members) >= 3)
        await wait_for(b, lambda: len(phone.chat.controller.session.members) >= 3)
        await s.send(a, "plan a trip to the mountains")
        await wait_for(a, lambda: mid_stream(a, 0, 120), timeout=30, what="laptop mid-stream")
        await wait_for(b, lambda: mid_stream(b, 0, 120), timeout=30, what="phone mid-stream")
        left = laptop.export_screenshot(title="alice · laptop")
        right = phone.export_screenshot(title="bob · phone")
    await scene.close()
    (out / "two-devices-laptop.svg").write_text(left)
    (out / "two-devices-phone.svg").write_text(right)
    (out / "two-devices.svg").write_text(combine(left, right))
    print(f"wrote {out / 'two-devices.svg'}")


def combine(left: str, right: str) -> str:
    """Place two SVG screenshots next to each other in one SVG."""
    import re

    def size(svg: str) -> tuple[float, float]:
        match = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
        assert match, "screenshot without a viewBox"
        return float(match.group(1)), float(match.group(2))

    (lw, lh), (rw, rh) = size(left), size(right)
    width, height = lw + rw + 20, max(lh, rh)

    def nested(svg: str, x: float, w: float, h: float) -> str:
        """The screenshot as a nested <svg> placed at x, with its own size made explicit."""
        opening = re.match(r"<svg[^>]*>", svg.strip())
        assert opening, "screenshot without an <svg> element"
        tag = re.sub(r'\s(width|height|x|y)="[^"]*"', "", opening.group(0))
        tag = tag.replace("<svg ", f'<svg x="{x}" y="0" width="{w}" height="{h}" ', 1)
        return tag + svg.strip()[opening.end() :]

    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}">'
    )
    body = f"{nested(left, 0, lw, lh)}\n{nested(right, lw + 20, rw, rh)}"
    return f"{head}\n{body}\n</svg>\n"


async def main(out: Path) -> None:
    await single(out, "conversation", conversation)
    await single(out, "tool-approval", approval)
    await single(out, "wire-pane", wire, size=(140, 34))
    await single(out, "take-over", take_over, user="root", operators="ada")
    await desk(out)
    await side_by_side(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    target = parser.parse_args().out
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target))
