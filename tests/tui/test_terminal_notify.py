"""docs/handover.md "Notifications in the terminal": the exact bytes per terminal and mode."""

from __future__ import annotations

import base64

import pytest

from tui_session.tui.terminal_notify import (
    Sequence,
    Terminal,
    TerminalNotifier,
    clean,
    detect,
    notification,
    osc9,
    osc99,
    osc777,
    parse_mode,
    pop_title,
    push_title,
    screen_wrap,
    session_title,
    title_sequence,
    tmux_wrap,
)

B64 = lambda text: base64.b64encode(text.encode()).decode()  # noqa: E731


@pytest.mark.parametrize(
    ("env", "name", "sequence"),
    [
        ({"TERM": "xterm-kitty"}, "kitty", Sequence.OSC99),
        ({"TERM": "xterm-256color", "KITTY_WINDOW_ID": "3"}, "kitty", Sequence.OSC99),
        ({"TERM_PROGRAM": "iTerm.app"}, "iTerm2", Sequence.OSC9),
        ({"LC_TERMINAL": "iTerm2", "TERM": "xterm-256color"}, "iTerm2", Sequence.OSC9),
        ({"TERM_PROGRAM": "WezTerm"}, "WezTerm", Sequence.OSC9),
        ({"WEZTERM_PANE": "0", "TERM": "xterm-256color"}, "WezTerm", Sequence.OSC9),
        ({"TERM_PROGRAM": "ghostty"}, "Ghostty", Sequence.OSC9),
        ({"TERM": "xterm-ghostty"}, "Ghostty", Sequence.OSC9),
        ({"TERM": "foot"}, "foot", Sequence.OSC777),
        ({"TERM": "foot-extra"}, "foot", Sequence.OSC777),
        ({"TERM": "rxvt-unicode-256color"}, "urxvt", Sequence.OSC777),
        ({"TERM": "xterm-256color", "VTE_VERSION": "7600"}, "VTE", Sequence.OSC777),
        (
            {"TERM_PROGRAM": "Apple_Terminal", "TERM": "xterm-256color"},
            "Apple_Terminal",
            Sequence.BELL,
        ),
        ({"TERM": "xterm-256color", "WT_SESSION": "x"}, "xterm-256color", Sequence.BELL),
        ({}, "unknown", Sequence.BELL),
    ],
)
def test_detect_the_terminal_from_its_environment(env, name, sequence) -> None:
    terminal = detect(env)
    assert (terminal.name, terminal.sequence, terminal.multiplexer) == (name, sequence, None)


def test_inside_tmux_the_outer_terminal_is_recognised_from_what_tmux_inherited() -> None:
    env = {
        "TERM": "tmux-256color",
        "TERM_PROGRAM": "tmux",
        "TMUX": "/tmp/t,1,0",
        "KITTY_WINDOW_ID": "1",
    }
    assert detect(env, tmux_passthrough=True) == Terminal("kitty", Sequence.OSC99, "tmux", True)
    assert detect({"TERM": "screen", "STY": "1.pts"}).multiplexer == "screen"


# --- exact bytes ---------------------------------------------------------------------------------


def test_osc9_bytes_and_no_leading_digit() -> None:
    assert osc9("demo: your turn ended") == "\x1b]9;demo: your turn ended\x07"
    assert osc9("4;2;50") == "\x1b]9;tui-session: 4;2;50\x07"  # not a progress command


def test_osc777_bytes_with_separators_neutralised() -> None:
    assert osc777("demo", "turn ended") == "\x1b]777;notify;demo;turn ended\x07"
    assert osc777("a;b", "c;d") == "\x1b]777;notify;a,b;c,d\x07"


def test_osc99_bytes_title_then_body_base64_shown_only_when_unfocused() -> None:
    assert osc99("demo", "turn ended", "R1-ended") == (
        f"\x1b]99;i=R1-ended:d=0:e=1:o=unfocused;{B64('demo')}\x1b\\"
        f"\x1b]99;i=R1-ended:d=1:e=1:p=body;{B64('turn ended')}\x1b\\"
    )
    assert osc99("t", "b", "run id/with spaces").startswith("\x1b]99;i=run-id-with-spaces:")


def test_tmux_passthrough_doubles_every_escape() -> None:
    assert tmux_wrap("\x1b]9;hi\x07") == "\x1bPtmux;\x1b\x1b]9;hi\x07\x1b\\"
    assert screen_wrap("\x1b]9;hi\x07") == "\x1bP\x1b]9;hi\x07\x1b\\"


def test_text_from_the_channel_cannot_inject_escape_codes() -> None:
    hostile = "done\x1b]52;c;ZXZpbA==\x07\x9b2J\nnext line\ttab"
    assert clean(hostile, 200) == "done ]52;c;ZXZpbA== 2J next line tab"
    for sequence, prefix in (
        (osc9(hostile), 4),
        (osc777(hostile, hostile), 13),
        (title_sequence(hostile), 4),
    ):
        payload = sequence[prefix:-1]  # between the introducer and BEL
        assert not any(c in payload for c in "\x1b\x07\x9b\n")
    assert clean("x" * 300, 10) == "x" * 9 + "…"


def test_title_bytes_and_the_title_stack() -> None:
    assert title_sequence("demo · idle · tui-session") == "\x1b]2;demo · idle · tui-session\x07"
    assert push_title() == "\x1b[22;0t" and pop_title() == "\x1b[23;0t"
    assert session_title("demo", "ada in control") == "demo · ada in control · tui-session"
    assert session_title("demo", "") == "demo · tui-session"


@pytest.mark.parametrize(
    ("terminal", "expected"),
    [
        (Terminal("iTerm2", Sequence.OSC9), "\x1b]9;demo: turn ended\x07"),
        (Terminal("VTE", Sequence.OSC777), "\x1b]777;notify;demo;turn ended\x07"),
        (Terminal("x", Sequence.BELL), "\x07"),
        (
            Terminal("iTerm2", Sequence.OSC9, "tmux", True),
            "\x1bPtmux;\x1b\x1b]9;demo: turn ended\x07\x1b\\",
        ),
        (Terminal("iTerm2", Sequence.OSC9, "tmux", False), "\x07"),
        (
            Terminal("iTerm2", Sequence.OSC9, "tmux", None),
            "\x1bPtmux;\x1b\x1b]9;demo: turn ended\x07\x1b\\\x07",
        ),
        (Terminal("x", Sequence.BELL, "tmux", True), "\x07"),
        (
            Terminal("VTE", Sequence.OSC777, "screen"),
            "\x1bP\x1b]777;notify;demo;turn ended\x07\x1b\\",
        ),
        (Terminal("kitty", Sequence.OSC99, "screen"), "\x07"),
    ],
)
def test_notification_per_terminal_and_multiplexer(terminal: Terminal, expected: str) -> None:
    assert notification(terminal, "demo", "turn ended") == expected


def test_kitty_in_tmux_is_wrapped_with_its_string_terminators_doubled() -> None:
    out = notification(Terminal("kitty", Sequence.OSC99, "tmux", True), "t", "b", ident="7")
    assert out == tmux_wrap(osc99("t", "b", "7"))
    assert out.count("\x1b\x1b\\") == 2


# --- when -----------------------------------------------------------------------------------------


def test_notify_only_when_unfocused_and_once_per_turn_and_state() -> None:
    notifier = TerminalNotifier(Terminal("iTerm2", Sequence.OSC9))
    assert notifier.notify("R1", "ended", "demo", "your turn ended", focused=True) == ""
    assert notifier.notify("R1", "ended", "demo", "your turn ended", focused=False) == ""
    first = notifier.notify("R2", "ended", "demo", "your turn ended", focused=False)
    assert first == "\x1b]9;demo: your turn ended\x07"
    assert notifier.notify("R2", "ended", "demo", "again", focused=False) == ""
    assert notifier.notify("R2", "approval", "demo", "approve?", focused=False) != ""


def test_kitty_decides_focus_itself_so_it_is_told_even_when_the_app_thinks_focused() -> None:
    notifier = TerminalNotifier(Terminal("kitty", Sequence.OSC99))
    assert notifier.notify("R1", "ended", "demo", "done", focused=True).startswith("\x1b]99;")


@pytest.mark.parametrize(
    ("mode", "expected"), [("auto", "\x1b]9;d: b\x07"), ("bell", "\x07"), ("off", "")]
)
def test_client_notify_modes(mode: str, expected: str) -> None:
    notifier = TerminalNotifier(Terminal("iTerm2", Sequence.OSC9), parse_mode(mode))
    assert notifier.notify("R1", "ended", "d", "b", focused=False) == expected


def test_bell_mode_stays_quiet_while_focused_even_in_kitty() -> None:
    notifier = TerminalNotifier(Terminal("kitty", Sequence.OSC99), "bell")
    assert notifier.notify("R1", "ended", "d", "b", focused=True) == ""


def test_parse_mode_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"client.notify must be one of \('auto', 'bell', 'off'\)"):
        parse_mode("loud")


def test_title_is_written_only_when_it_changes() -> None:
    notifier = TerminalNotifier(Terminal("x", Sequence.BELL), "off")
    assert notifier.title("demo", "idle") == "\x1b]2;demo · idle · tui-session\x07"
    assert notifier.title("demo", "idle") == ""
    assert notifier.title("demo", "streaming") == "\x1b]2;demo · streaming · tui-session\x07"
