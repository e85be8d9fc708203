"""The rules of the keyboard and the narrow layout (issue 11, items 3, 4, 8, 9): typing always
reaches the composer, scroll keys still scroll the focused transcript, newline keys, what the
footer shows at narrow widths, the header's connection state, the reconnect banner. The same
behaviour in real terminals: tests/scenarios/."""

from __future__ import annotations

import os
import threading

import pytest
from textual import events
from textual._xterm_parser import XTermParser
from textual.widgets._footer import FooterKey

from tests.support.hub import HubEndpoint
from tests.tui.helpers import chat_app, ready, wait_for
from tests.tui.scripted_agent import ScriptedAgent
from tui_session.transport.client import ClientSession
from tui_session.tui import messages as m
from tui_session.tui.keyboard import (
    decode_alt_enter,
    kitty_keyboard_answered,
    probe_kitty_keyboard,
)
from tui_session.tui.screens.switch_session import SwitchSessionScreen
from tui_session.tui.widgets import Composer, ConnectionBanner, SessionHeader, Transcript
from tui_session.tui.widgets.composer import placeholder
from tui_session.tui.widgets.footer import KeyFooter
from tui_session.tui.widgets.status import header_text

# --- typing reaches the composer ---------------------------------------------------------------


async def test_printable_keys_and_pastes_go_to_the_composer_wherever_focus_is(
    hub: HubEndpoint, channel: str
) -> None:
    app = chat_app(hub, channel)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: ready(app))
        composer = app.chat.query_one(Composer)
        transcript = app.chat.query_one(Transcript)
        await pilot.click(Transcript)
        assert app.focused is transcript  # a click moves focus ...
        await pilot.press("h", "i", "space")
        assert composer.text == "hi "  # ... but never eats text
        assert app.focused is composer
        app.chat.set_focus(transcript)
        app.post_message(events.Paste("pasted"))
        await pilot.pause()
        assert composer.text == "hi pasted"
        assert app.focused is composer


async def test_scroll_keys_scroll_the_focused_transcript(hub: HubEndpoint, channel: str) -> None:
    writer = await ClientSession.connect(hub.realtime("bob"), channel, agent_url=None, device="d")
    for i in range(20):
        await writer.send(f"old prompt {i}", invoke=False)
    await writer.close()
    app = chat_app(hub, channel)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: ready(app))
        transcript = app.chat.query_one(Transcript)
        await wait_for(pilot, lambda: transcript.max_scroll_y > 0, what="a tall transcript")
        app.chat.set_focus(transcript)
        await pilot.press("home")
        await wait_for(pilot, lambda: transcript.scroll_y == 0, what="home scrolls to the top")
        await pilot.press("pagedown")
        await wait_for(pilot, lambda: transcript.scroll_y > 0, what="pagedown scrolls")
        await pilot.press("end")
        await wait_for(pilot, lambda: transcript.scroll_y == transcript.max_scroll_y)
        assert app.focused is transcript
        assert app.chat.query_one(Composer).text == ""


async def test_the_composer_has_focus_after_a_modal(hub: HubEndpoint, channel: str) -> None:
    app = chat_app(hub, channel)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: ready(app))
        app.chat.set_focus(app.chat.query_one(Transcript))
        app.push_screen(SwitchSessionScreen())
        await pilot.pause()
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.chat)
        await wait_for(pilot, lambda: isinstance(app.focused, Composer), what="composer focus")


# --- newline keys ------------------------------------------------------------------------------


async def test_enter_sends_and_the_newline_keys_add_lines(
    hub: HubEndpoint, agent: ScriptedAgent, channel: str
) -> None:
    app = chat_app(hub, channel, agent_url=agent.url)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: ready(app))
        composer = app.chat.query_one(Composer)
        await pilot.press("a", "ctrl+j", "b", "alt+enter", "c", "shift+enter", "d")
        assert composer.text == "a\nb\nc\nd"
        await pilot.press("enter")
        await wait_for(pilot, lambda: composer.text == "", what="sent")
        prompt = app.chat.controller.session.transcript()[0]
        assert prompt.text == "a\nb\nc\nd"


def test_the_hint_names_the_newline_keys_of_this_terminal() -> None:
    assert placeholder(kitty_keyboard=False) == "Message · Enter sends · ctrl+j: new line"
    kitty = placeholder(kitty_keyboard=True)
    assert kitty == "Message · Enter sends · shift+enter or ctrl+j: new line"


@pytest.mark.parametrize("kitty", [False, True])
async def test_the_composer_shows_the_hint_of_the_probed_terminal(
    hub: HubEndpoint, channel: str, kitty: bool
) -> None:
    app = chat_app(hub, channel)
    app.kitty_keyboard = kitty  # what ChatDriver's probe sets in a real terminal
    async with app.run_test(size=(100, 30)):
        assert app.chat.query_one(Composer).placeholder == placeholder(kitty)


def test_esc_cr_decodes_as_alt_enter_and_cr_as_enter() -> None:
    """tmux (and VTE) send alt+enter as ESC CR; Textual alone reports it as enter."""
    decode_alt_enter()
    parser = XTermParser()
    keys = [e.key for e in parser.feed("\x1b\r") if isinstance(e, events.Key)]
    keys += [e.key for e in parser.feed("\r") if isinstance(e, events.Key)]
    keys += [e.key for e in parser.feed("\n") if isinstance(e, events.Key)]
    keys += [e.key for e in parser.feed("\x1b[13;2u") if isinstance(e, events.Key)]
    assert keys == ["alt+enter", "enter", "ctrl+j", "shift+enter"]


def test_the_kitty_answer_must_come_before_the_device_attributes() -> None:
    assert kitty_keyboard_answered("\x1b[?1u\x1b[?62;22c") is True
    assert kitty_keyboard_answered("\x1b[?62;22c") is False
    assert kitty_keyboard_answered("\x1b[?6c\x1b[?1u") is False
    assert kitty_keyboard_answered("\x1b[?1u") is None  # wait for the DA1 answer


@pytest.mark.parametrize("answer, expected", [("\x1b[?0u\x1b[?62c", True), ("\x1b[?6c", False)])
def test_the_probe_asks_a_real_pty(answer: str, expected: bool) -> None:
    """The probe on a pseudo-terminal: a terminal on the other side answers what it reads."""
    main, side = os.openpty()
    heard: list[bytes] = []

    def terminal() -> None:
        heard.append(os.read(main, 64))
        os.write(main, answer.encode())

    thread = threading.Thread(target=terminal)
    thread.start()
    try:
        assert probe_kitty_keyboard(side, lambda s: os.write(side, s.encode())) is expected
    finally:
        thread.join(5)
        os.close(main)
        os.close(side)
    assert heard == [b"\x1b[?u\x1b[c"]


def test_the_probe_gives_up_on_a_silent_terminal() -> None:
    main, side = os.openpty()
    try:
        assert probe_kitty_keyboard(side, lambda s: None, timeout=0.05) is False
    finally:
        os.close(main)
        os.close(side)


# --- narrow terminals --------------------------------------------------------------------------


def _footer(app) -> KeyFooter:
    return app.chat.query_one(KeyFooter)


@pytest.mark.parametrize("width", [60, 80])
async def test_the_footer_shows_approve_deny_and_older_first_at_narrow_widths(
    hub: HubEndpoint, channel: str, width: int
) -> None:
    app = chat_app(hub, channel)
    async with app.run_test(size=(width, 24)) as pilot:
        await wait_for(pilot, lambda: ready(app))
        chat = app.chat
        chat.mine_busy = chat.any_busy = True  # every core key enabled: the footer overflows
        chat.can_edit = chat.can_regenerate = chat.has_branches = True
        chat.approval = chat.has_older = True
        await wait_for(pilot, lambda: _footer(app).shown()[:3] == ["alt+y", "alt+n", "ctrl+o"])
        footer = _footer(app)
        keys = [key for key in footer.query_children(FooterKey) if key.display]
        palette = keys[-1]
        assert palette.has_class("-command-palette")
        assert all(key.region.right <= palette.region.x for key in keys[:-1])  # whole keys only
        assert len(keys) < len(footer.query_children(FooterKey))  # some did not fit
        chat.approval = False
        await wait_for(pilot, lambda: "alt+y" not in _footer(app).shown())


async def test_narrow_footers_hide_dimmed_keys_and_wide_ones_show_them(
    hub: HubEndpoint, channel: str
) -> None:
    app = chat_app(hub, channel)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: ready(app) and _footer(app).shown())
        assert "escape" not in _footer(app).shown()  # nothing of mine runs: dimmed, hidden
        await pilot.resize_terminal(120, 24)
        await wait_for(pilot, lambda: "escape" in _footer(app).shown(), what="dimmed, shown")


@pytest.mark.parametrize("width", [60, 80])
async def test_the_palette_key_covers_the_last_column(
    hub: HubEndpoint, channel: str, width: int
) -> None:
    """Textual's compact footer gives the palette key a right margin: the last column then
    shows whatever runs under it ("palettec" when keys overflow). chat.tcss closes it."""
    app = chat_app(hub, channel)
    async with app.run_test(size=(width, 24)) as pilot:
        await wait_for(pilot, lambda: ready(app))
        chat = app.chat
        chat.mine_busy = chat.any_busy = chat.can_edit = chat.approval = True
        await wait_for(pilot, lambda: "alt+y" in _footer(app).shown())
        footer = _footer(app)
        palette = footer.query_one(".-command-palette", FooterKey)
        assert palette.region.right == footer.region.right == width
        last_line = app.screen._compositor.render_strips()[-1].text
        assert last_line.endswith("▏^p palette "), last_line


@pytest.mark.parametrize("width", [30, 60, 80, 120])
def test_the_header_keeps_the_connection_state_at_any_width(width: int) -> None:
    from rich.text import Text

    text = header_text("demo", "local hub 127.0.0.1:8470", "◌ reconnecting", "offline-demo", width)
    plain = Text.from_markup(text).plain
    assert "◌ reconnecting" in plain and len(plain) <= width
    if width >= 80:
        assert "offline-demo" in plain and "local hub" in plain


async def test_the_header_shortens_when_the_terminal_narrows(
    hub: HubEndpoint, channel: str
) -> None:
    app = chat_app(hub, channel)
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: ready(app))
        header = app.chat.query_one(SessionHeader)
        assert "tui-session" in str(header.render())
        await pilot.resize_terminal(60, 24)

        def first_line() -> str:
            return app.screen._compositor.render_strips()[0].text

        await wait_for(pilot, lambda: "tui-session" not in first_line(), what="a shorter header")
        assert "● connected" in first_line()


# --- after a reconnect -------------------------------------------------------------------------


async def test_after_a_resume_the_header_says_connected_and_the_banner_says_so_briefly(
    hub: HubEndpoint, channel: str
) -> None:
    app = chat_app(hub, channel)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: ready(app))
        banner = app.chat.query_one(ConnectionBanner)
        banner.BACK_FOR_S = 0.2
        header = app.chat.query_one(SessionHeader)
        app.chat.post_message(m.ConnectionStateChanged("resumed", None))
        await pilot.pause()
        assert not banner.display  # no reconnect seen: nothing to announce
        for state in ("disconnected", "connecting", "connected", "resumed"):
            app.chat.post_message(m.ConnectionStateChanged(state, None))
        await wait_for(pilot, lambda: "Reconnected" in str(banner.render()))
        assert banner.display and "● connected" in str(header.render())
        assert "resumed" not in str(header.render())
        await wait_for(pilot, lambda: not banner.display, what="the banner hides again")
