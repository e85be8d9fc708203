"""The message size limit, read from what the hub advertises, and checked before a prompt is
folded or published: everything up to the limit goes out, one byte more is refused in words."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ably import AblyException

from tests.support.client import close_opened, open_session
from tests.support.hub import HubEndpoint, hub_settings
from tui_session.hub.server import start_hub
from tui_session.protocol import InputHeaders, user_text
from tui_session.transport import message_size
from tui_session.transport.channel_io import outbound
from tui_session.transport.client import ClientSession
from tui_session.transport.client_records import new_id
from tui_session.transport.client_wire import DEVICE_HEADER, with_app_headers
from tui_session.transport.message_size import MessageTooLarge

CHANNEL = "session:sizes"


@pytest.fixture(autouse=True)
async def cleanup_sessions() -> AsyncIterator[None]:
    yield
    await close_opened()


@contextlib.asynccontextmanager
async def hub_with_limit(data_dir: Path, size: int) -> AsyncIterator[HubEndpoint]:
    running = await start_hub(hub_settings(data_dir, max_message_size=size))
    endpoint = HubEndpoint("127.0.0.1", running.port, running.hub.auth.root_key(), data_dir)
    try:
        yield endpoint
    finally:
        await endpoint.close_clients()
        await running.stop()


async def published_inputs(hub: HubEndpoint) -> list[str]:
    page = await hub.rest("reader").channels.get(CHANNEL).history()
    return [item.data for item in page.items if item.name == "ai-input"]


async def test_the_limit_is_what_the_hub_advertises_and_the_sdk_checks_it_too(
    tmp_path: Path,
) -> None:
    for size in (10_000, 200_000):
        async with hub_with_limit(tmp_path / f"hub-{size}", size) as hub:
            session, _events = await open_session(hub, "alice", CHANNEL)
            assert message_size.limit(session.realtime) == size
            assert session.realtime.options.max_message_size == size  # ably-python's check


async def test_a_prompt_that_fills_the_limit_goes_out_one_byte_more_is_refused(
    tmp_path: Path,
) -> None:
    async with hub_with_limit(tmp_path / "hub", 10_000) as hub:
        session, _events = await open_session(hub, "alice", CHANNEL)
        with pytest.raises(MessageTooLarge) as refused:
            await session.send("x" * 20_000, invoke=False)
        room = refused.value.oversize.room
        assert 9_000 < room < 10_000, "the limit less this prompt's headers"
        assert refused.value.oversize.text_bytes == 20_000

        with pytest.raises(MessageTooLarge):
            await session.send("x" * (room + 1), invoke=False)
        assert session.transcript() == [], "nothing was folded"
        assert await published_inputs(hub) == [], "nothing was published"

        # The check is exact, not cautious: the same prompt published without it is refused
        # by the SDK or the hub with 40009.
        headers = InputHeaders(new_id(), new_id(), run_client_id="alice")
        ops = [
            with_app_headers(op, {DEVICE_HEADER: "laptop"})
            for op in user_text(headers, "x" * (room + 1))
        ]
        with pytest.raises(AblyException) as too_large:
            await session.channel.publish([outbound(op) for op in ops])
        assert too_large.value.code == 40009

        handle = await session.send("x" * room, invoke=False)
        assert await published_inputs(hub) == ["x" * room]
        assert session.prompt(handle.input_codec_message_id) is not None


async def test_a_96_kb_paste_is_refused_in_words(hub: HubEndpoint) -> None:
    session, _events = await open_session(hub, "alice", CHANNEL)
    with pytest.raises(MessageTooLarge) as refused:
        await session.send("y" * 96 * 1024, invoke=False)
    room = refused.value.oversize.room
    assert 63 * 1024 < room < 64 * 1024
    assert refused.value.message == (
        f"This message is 96 KB, over the session's limit of {room / 1024:.1f} KB per message. "
        "Shorten it or split it."
    )
    assert await published_inputs(hub) == []


async def test_a_hub_that_allows_more_takes_a_96_kb_prompt(tmp_path: Path) -> None:
    """Above ably-python's fixed 64 KiB: the advertised limit is what counts."""
    async with hub_with_limit(tmp_path / "hub", 200_000) as hub:
        session, _events = await open_session(hub, "alice", CHANNEL)
        text = "z" * 96 * 1024
        await session.send(text, invoke=False)
        assert await published_inputs(hub) == [text]


def test_the_words_name_both_sizes() -> None:
    words = message_size.Oversize(98_304, 64_900).words()
    assert words == (
        "This message is 96 KB, over the session's limit of 63.4 KB per message. "
        "Shorten it or split it."
    )
    close = message_size.Oversize(64_910, 64_900).words()
    assert close.startswith(
        "This message is 64,910 bytes, over the session's limit of 64,900 bytes"
    )


async def test_a_draft_that_passes_the_composer_check_is_sent(hub: HubEndpoint) -> None:
    """The composer's check counts every header a prompt may carry, so what it lets through,
    `send` takes; just above the composer's room, it refuses."""
    session, _events = await open_session(hub, "alice", CHANNEL)
    await session.send("a first prompt, so the next has a parent", invoke=False)
    found = message_size.draft_oversize(session, "w" * 70_000)
    assert found is not None
    assert message_size.draft_oversize(session, "w" * found.room) is None
    assert message_size.draft_oversize(session, "w" * (found.room + 1)) is not None
    await session.send("w" * found.room, invoke=False)


def test_importing_the_client_session_keeps_max_message_size_in_the_sdk() -> None:
    assert ClientSession.connect  # the client session imports message_size, which installs
    details = message_size.ConnectionDetails.from_dict({"maxMessageSize": 1234})
    assert details.max_message_size == 1234  # type: ignore[attr-defined]
