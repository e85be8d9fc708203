"""docs/handover.md with real processes: `tui-session hub` and `tui-session agent` (offline demo
model, operators ada and bob, a 2 s grace), `tui-session chat` and `tui-session desk` in
pseudo-terminals read as screens. Each step is checked on the screen a person would look at,
with the names they would read.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .chat_screen import send, toast, transcript
from .conftest import DEFAULT_PACE
from .handover_stack import SplitServer
from .stack import FOLLOW_S, TUI_SESSION, Scenario
from .terminal import Terminal

QUOTE_TIMEOUT_S = 60.0  # the continued turn streams the whole demo answer


@pytest.fixture(scope="module")
def split_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SplitServer]:
    running = SplitServer(tmp_path_factory.mktemp("handover"), demo_pace=DEFAULT_PACE).start()
    yield running
    running.stop()


@pytest.fixture
def server(split_server: SplitServer, request: pytest.FixtureRequest) -> Iterator[SplitServer]:
    """This module's stack (the `scenario` fixture runs its terminals on it)."""
    yield split_server
    call = getattr(request.node, "report_call", None)
    if call is not None and not call.passed:
        print(split_server.logs()[-6000:])


def bar(screen: str) -> str:
    """The handover bar: the line under the header (when something is to be said)."""
    return screen.splitlines()[1]


def flat(screen: str) -> str:
    """The transcript as one line of words (a long line wraps on the screen)."""
    words = []
    for line in transcript(screen).splitlines():
        words += line.strip(" ▌█▎▍▊▋▉│").split()
    return " ".join(words)


def shows(text: str):
    def check(screen: str) -> bool:
        return text in flat(screen)

    return check


def newest_state(scenario: Scenario, session: str | None = None) -> dict[str, Any]:
    log = scenario.server.channel_log(session or scenario.session)
    states = [m for m in log if m["name"] == "handover.state"]
    assert states, "no handover.state on the channel"
    data = states[-1]["data"]
    return json.loads(data) if isinstance(data, str) else data


def test_a_request_for_a_human_through_the_desk_a_take_over_and_the_hand_back(
    scenario: Scenario,
) -> None:
    root = scenario.chat("root", user="root", device="laptop")
    send(root, "I want to talk to a human about my refund")
    root.wait_for(shows("the assistant asked for a human"), what="the request on root's screen")
    assert "⚑ the assistant asked for a human" in bar(root.text)

    # opened afterwards, the desk lists it from history
    desk = scenario.spawn("desk", [TUI_SESSION, "desk", "--user", "ada", "--device", "desk"])
    desk.wait_for(
        lambda s: any(
            "escalation" in line and scenario.session in line and "root" in line
            for line in s.splitlines()
        ),
        what="the desk row",
    )
    desk.press("enter")  # the session, with its context, as an operator
    desk.wait_for(lambda s: f"session {scenario.session}" in s.splitlines()[0])
    desk.wait_for(lambda s: "asked for a human" in bar(s), what="the request on ada's screen")
    desk.wait_for("I want to talk to a human about my refund", what="the context")

    desk.press("f7")
    root.wait_for(shows("ada (operator) took over; the agent stops answering"), what="take-over")
    root.wait_for(lambda s: "⇄ ada (operator) in control" in bar(s), what="the bar")
    desk.wait_for(lambda s: "you reply" in bar(s), what="ada in control on her screen")

    send(root, "When will the money arrive?")
    root.wait_for(shows("→ ada (operator)"), what="root's prompt handed to ada")
    desk.wait_for("Reply to root as ada (operator)", what="the reply composer")
    desk.type("Within 3 days, ref 42.")
    desk.press("enter")
    root.wait_for(shows("ada (operator) · your turn"), what="ada's reply headed with her name")
    root.wait_for(shows("Within 3 days, ref 42."), what="ada's reply on root's screen")

    desk.press("f7")
    root.wait_for(shows("ada handed control back to the agent"), what="the hand-back")
    root.wait_for(lambda s: "in control" not in bar(s), what="the bar cleared")

    send(root, "Thanks. Anything else I should know?")
    root.wait_for(
        shows("Earlier, ada (a human operator) replied: “Within 3 days, ref 42.”"),
        timeout=QUOTE_TIMEOUT_S,
        what="the agent's answer with ada's reply in its context",
    )


def test_a_killed_agent_comes_back_to_the_same_take_over_and_the_same_pending_request(
    scenario: Scenario, server: SplitServer
) -> None:
    waiting = scenario.chat("root-waiting", user="root", device="laptop")
    send(waiting, "I need a real person, please")
    waiting.wait_for(lambda s: "asked for a human" in bar(s), what="a pending request")
    taken = f"{scenario.session}-b"
    root = scenario.chat("root-taken", user="root", device="phone", session=taken)
    ada = scenario.chat("ada", user="ada", device="laptop", session=taken)
    ada.press("f7")
    root.wait_for(lambda s: "⇄ ada (operator) in control" in bar(s), what="ada in control")
    root.wait_for("operator ada in control", what="the agent's presence says so")
    before = (newest_state(scenario), newest_state(scenario, taken))

    server.agent.kill()
    root.wait_gone("operator ada in control", timeout=FOLLOW_S + 5)  # the agent left
    assert "⇄ ada (operator) in control" in bar(root.text)  # the channel still says so
    assert "asked for a human" in bar(waiting.text)
    server.restart_agent()
    root.wait_for("operator ada in control", what="the restarted agent's presence")
    after = (newest_state(scenario), newest_state(scenario, taken))
    for old, new in zip(before, after, strict=True):
        assert (new["control"], new["open"]) == (old["control"], old["open"])

    send(root, "Are you still there?")
    root.wait_for(shows("→ ada (operator)"), what="the restarted agent leaves it to ada")
    late = scenario.chat("root-late", user="root", device="tablet", session=taken)
    late.wait_for(lambda s: "⇄ ada (operator) in control" in bar(s), what="a late joiner sees it")

    answerer = scenario.chat("ada-answers", user="ada", device="desk")
    answerer.wait_for(lambda s: "asked for a human" in bar(s), what="the request, still open")
    answerer.type("Yes, a person: I'm Ada.")
    answerer.press("alt+a")
    waiting.wait_for(shows("ada (operator) answered the request for a human"))
    waiting.wait_for(
        shows("Yes, a person: I'm Ada."),
        timeout=QUOTE_TIMEOUT_S,
        what="the suspended turn continues with ada's answer",
    )


def test_f7_from_someone_who_is_not_an_operator_is_refused_on_their_screen(
    scenario: Scenario,
) -> None:
    root = scenario.chat("root", user="root")
    mallory = scenario.chat("mallory", user="mallory", args=("--operator",))
    mallory.press("f7")
    mallory.wait_for(lambda s: "40330" in toast(s), what="the refusal with its code")
    assert "mallory is not an operator" in toast(mallory.text)
    root.wait_for(shows("mallory was refused: mallory is not an operator"))
    assert "in control" not in bar(root.text)
    plain = scenario.chat("plain", user="mallory", device="phone")
    assert "Take over" not in plain.text.splitlines()[-1]  # no such key without --operator


def test_control_returns_to_the_agent_when_the_operators_only_terminal_dies(
    scenario: Scenario,
) -> None:
    root = scenario.chat("root", user="root")
    ada = scenario.chat("ada", user="ada")
    ada.press("f7")
    root.wait_for(lambda s: "⇄ ada (operator) in control" in bar(s), what="ada in control")
    ada.kill()  # SIGKILL: no goodbye; the hub lets her presence go after its grace
    root.wait_for(lambda s: "ada left · back to the agent in 0:0" in bar(s), what="countdown")
    root.wait_for(shows("control returned to the agent: ada left the session"), what="the lapse")
    root.wait_for(lambda s: "in control" not in bar(s) and "ada left" not in bar(s))
    send(root, "hello again")
    root.wait_for(shows("assistant · your turn"), what="the agent answers again")


def test_the_title_and_a_notification_are_bytes_the_terminal_receives(
    scenario: Scenario,
) -> None:
    # a terminal that knows OSC 9 (iTerm2)
    root = scenario.chat("root", user="root", env={"TERM_PROGRAM": "iTerm.app"})
    session = scenario.session
    root.wait_raw(b"\x1b[22;0t")  # the terminal's own title saved
    root.wait_raw(f"\x1b]2;{session} · tui-session\x07".encode())
    send(root, "tell me about durable sessions")
    root.press("focus-out")  # the person switched to another window
    root.wait_raw(f"\x1b]2;{session} · streaming · tui-session\x07".encode())
    note = f"\x1b]9;{session}: your turn ended (complete)\x07".encode()
    root.wait_raw(note, timeout=QUOTE_TIMEOUT_S)
    assert root.raw.count(note) == 1
    assert root.raw.rindex(f"\x1b]2;{session} · tui-session\x07".encode()) > root.raw.index(
        f"\x1b]2;{session} · streaming".encode()
    )
    root.press("focus-in")
    assert root.quit() == 0
    assert root.raw.rindex(b"\x1b[23;0t") > root.raw.rindex(b"\x1b]2;")  # restored at exit


def test_inside_tmux_the_notification_passes_through_to_the_outer_terminal(
    scenario: Scenario, tmp_path: Path
) -> None:
    """The chat runs in a pane of a private tmux server (`allow-passthrough on`, focus events
    on), whose client runs in our terminal: the app wraps its OSC 9 for passthrough and the
    outer terminal receives it unwrapped; the title names the pane."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    socket = str(tmp_path / "tmux.sock")
    conf = tmp_path / "tmux.conf"
    conf.write_text("set -g allow-passthrough on\nset -g focus-events on\nset -g status off\n")
    tmux = ["tmux", "-S", socket, "-f", str(conf)]
    env = {**scenario.server.env, "LC_TERMINAL": "iTerm2"}  # the outer terminal: iTerm2
    chat = [TUI_SESSION, "chat", "--session", scenario.session, "--user", "root"]
    outer = Terminal("tmux", [*tmux, "new-session", "-s", "t", *chat], env=env, cwd=str(tmp_path))
    scenario.terminals.append(outer)
    try:
        outer.wait_for("● connected")
        session = scenario.session

        def pane_title() -> str:
            shown = subprocess.run(
                [*tmux, "display-message", "-p", "-t", "t", "#{pane_title}"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            return shown.stdout.strip()

        assert pane_title() == f"{session} · tui-session"
        send(outer, "tell me about durable sessions")
        outer.press("focus-out")
        note = f"\x1b]9;{session}: your turn ended (complete)\x07".encode()
        outer.wait_raw(note, timeout=QUOTE_TIMEOUT_S)
        assert b"\x1bPtmux;" not in outer.raw  # tmux unwrapped it
        outer.press("focus-in")
        assert outer.quit() == 0  # the app, then its tmux session, ends
    finally:
        subprocess.run([*tmux, "kill-server"], check=False, timeout=10)
