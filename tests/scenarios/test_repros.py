"""Issue 11's repros, each as written there, in real terminals: `make chat` in terminal 1 (here
the same command, `tui-session chat --session <id>`, device "laptop") and
`tui-session chat --session <id> --device phone` in terminal 2. Repros 3, 4, 8 and the
second half of 9 are in test_typing.py, test_narrow.py and test_reconnect.py.

Each waits for something that happens whether or not the bug is there (the turn ends, the UI
opens...), then asserts what the fix changed, so a repro that regresses fails in seconds, not
at a timeout.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.support.hub import free_port

from .chat_screen import (
    PALETTE,
    composer_shows,
    footer_keys,
    header,
    open_switch_dialog,
    palette_command,
    send,
    toast,
    transcript,
    turn_header,
)
from .conftest import SLOW
from .stack import FOLLOW_S, MEDIUM, TUI_SESSION, USER, Scenario, clean_environ
from .terminal import Terminal, TerminalClosed
from .wire import ancestry, prompt_ids


def laptop_and_phone(scenario: Scenario, size=None) -> tuple[Terminal, Terminal]:
    kwargs = {"size": size} if size else {}
    laptop = scenario.chat("laptop", device="laptop", connected=False, **kwargs)
    phone = scenario.chat("phone", device="phone", connected=False, **kwargs)
    scenario.open(laptop, phone)
    phone.wait_for(lambda s: "laptop" in s, what="the laptop present")
    return laptop, phone


def edit_last_prompt(terminal: Terminal, old: str, appended: str) -> None:
    terminal.press("f2")
    terminal.wait_for(composer_shows(old), what="the last prompt in the composer")
    terminal.type(appended)
    terminal.wait_for(composer_shows(old + appended))
    terminal.press("enter")


# --- 1. devices diverge after an edit ----------------------------------------------------------


def test_repro_1_after_an_edit_every_device_follows_and_prompts_stay_on_that_branch(
    scenario: Scenario,
) -> None:
    """Laptop: `short A` ⏎; laptop: F2, append ` edited`, ⏎; laptop: `short B` ⏎. The phone
    follows to the new branch and says who moved it; phone: `short C` ⏎ is parented on that
    branch (on the channel too) and the laptop shows it."""
    laptop, phone = laptop_and_phone(scenario)
    send(laptop, "short A")
    laptop.wait_for("✓ done")
    edit_last_prompt(laptop, "short A", " edited")
    laptop.wait_for("branch 2/2")
    laptop.wait_for(lambda s: "short A edited" in transcript(s) and s.count("✓ done") == 1)
    send(laptop, "short B")
    laptop.wait_for(lambda s: s.count("✓ done") == 2, what="short B answered")
    phone.wait_for(lambda s: "short B" in transcript(s), timeout=FOLLOW_S, what="the new branch")
    phone.wait_for(
        lambda s: re.search(rf"{USER} · laptop edited.*branch 2/2", s), what="who moved it"
    )
    send(phone, "short C")
    laptop.wait_for(lambda s: "short C" in transcript(s), timeout=FOLLOW_S)
    # the last turn on screen is short C's, done (three answers do not fit on one screen, so
    # counting the "✓ done" shown would depend on the terminal's height)
    phone.wait_for(
        lambda s: "“short C”" in s and "✓ done" in turn_header(s), what="short C answered"
    )
    log = scenario.channel_log()
    [short_c] = prompt_ids(log, "short C")
    continues = ancestry(log, short_c)
    assert continues[:2] == ["short B", "short A edited"] and "short A" not in continues


# --- 2. Esc, ctrl+r, ctrl+t, ctrl+n on my other device --------------------------------------


@pytest.mark.demo_pace(SLOW)
def test_repro_2_the_phone_steers_the_laptops_turn(scenario: Scenario) -> None:
    """The laptop's turn is mine on the phone too (same user): esc, ctrl+r, ctrl+t, ctrl+n
    apply there (an 80-column footer shows only keys that apply), and ctrl+r steers it."""
    laptop, phone = laptop_and_phone(scenario, size=MEDIUM)
    send(laptop, "tell me about channels")
    phone.wait_for("● streaming", what="the laptop's turn streaming on the phone")
    phone.wait_for(
        lambda s: all(k in footer_keys(s) for k in ("Cancel mine", "Steer", "Alongside")),
        timeout=FOLLOW_S,
        what="the turn keys on the phone",
    )
    phone.type("shorter please")
    phone.press("ctrl+r")
    laptop.wait_for("↪ steer", what="the phone's steer in the laptop's turn")
    assert f"↪ steer by {USER} · phone" in laptop.text, laptop.dump()  # who steered it


# --- 5. Switch session ----------------------------------------------------------------------


def test_repro_5_switch_session_opens_the_session(scenario: Scenario) -> None:
    """Switch session… to a session where the phone is: a bad id is refused in the dialog
    with a line saying why; then the laptop is in that room (the phone present), no error
    line is left, the join command leads there, and what is typed goes to the composer."""
    other = f"{scenario.session}b"
    laptop = scenario.chat("laptop", device="laptop", connected=False)
    scenario.open(laptop, scenario.chat("phone", device="phone", session=other, connected=False))
    laptop.click(5, 10)  # the focus away from the composer, as after reading back
    open_switch_dialog(laptop)
    laptop.type("not a session id")
    laptop.press("enter")
    error = laptop.wait_for(
        lambda s: next(
            (
                line
                for line in s.splitlines()
                if "session id" in line.lower() and "open:" not in line
            ),
            None,
        ),
        what="the dialog's error line",
    )
    for _ in "not a session id":
        laptop.press("backspace")
    laptop.type(other)
    laptop.press("enter")
    laptop.wait_gone("Session id to open:")
    laptop.wait_for(f"session {other}")
    laptop.wait_for(lambda s: "phone" in s.splitlines()[1], timeout=FOLLOW_S, what="the phone")
    assert str(error).strip(" │") not in laptop.text
    laptop.type("typed after switching")
    laptop.wait_for(composer_shows("typed after switching"))
    palette_command(laptop, "join command", "Show the join command")
    laptop.wait_for(lambda s: f"tui-session chat --session {other}" in toast(s), what="the join")


# --- 6. attribution; who may approve ----------------------------------------------------------


def test_repro_6_cancels_and_approvals_name_who_did_them(scenario: Scenario) -> None:
    laptop, phone = laptop_and_phone(scenario)
    send(laptop, "a story please")
    laptop.wait_for("This is the offline demo model")
    laptop.press("escape")
    laptop.wait_for("⏹ cancelled", what="the cancel on the laptop")  # before its next key
    phone.wait_for("⏹ cancelled", what="the cancel on the phone")
    assert re.search(rf"⏹ cancelled.*{USER} · laptop", phone.text), phone.dump()
    send(laptop, "please delete my temp files")
    phone.wait_for("needs approval")
    phone.press("alt+n")
    laptop.wait_for("denied", what="the denial on the laptop")
    assert re.search(rf"denied.*{USER} · phone", laptop.text), laptop.dump()


def test_repro_6_bob_cannot_approve_adas_tool_call(scenario: Scenario) -> None:
    """ada's turn waits for approval; bob presses alt+y: he is told he may not, and nothing
    changes for the turn (ada then approves it)."""
    laptop = scenario.chat("laptop", device="laptop", connected=False)
    bob = scenario.chat("bob", user="bob", device="desktop", connected=False)
    scenario.open(laptop, bob)
    send(laptop, "please delete my temp files")
    for terminal in (laptop, bob):  # both show the turn waiting before bob tries
        terminal.wait_for(lambda s: "⏸ waiting for approval" in s and "needs approval" in s)
    assert "needs approval · only ada may decide" in bob.text, bob.dump()  # before he tries
    assert "may decide" not in laptop.text, laptop.dump()  # hers to decide
    bob.press("alt+y")
    shown = bob.wait_for(
        lambda s: ("tool returned" in s or re.search(r"(?i)may not approve", toast(s))) and s,
        what="the approval refused in words, or (the bug) carried out",
    )
    assert "tool returned" not in str(shown), bob.dump()
    assert "only ada" in toast(str(shown))  # who may decide
    for terminal in (laptop, bob):  # nothing changed for the turn
        assert "⏸ waiting for approval" in terminal.text and "needs approval" in terminal.text
    laptop.press("alt+y")
    bob.wait_for("tool returned", what="the owner's approval carried out")


# --- 7. first screen, join hint ------------------------------------------------------------------


def test_repro_7_the_first_screen_shows_the_agent_and_its_model(scenario: Scenario) -> None:
    fresh = scenario.chat("fresh", device="laptop")
    fresh.wait_for(
        lambda s: "offline-demo (offline demo)" in header(s) and "agent" in s.splitlines()[1],
        timeout=FOLLOW_S,
        what="the agent and its model before any prompt",
    )


def test_repro_7_the_join_hint_runs_as_printed(scenario: Scenario) -> None:
    """Like `make chat` with a hub and agent on other ports: no TUI_SESSION_* variables, the
    venv not on the PATH, the endpoint and agent URL given as flags."""
    env = {**clean_environ(), "HOME": scenario.server.env["HOME"], "USER": USER}
    env["TUI_SESSION_DATA_DIR"] = scenario.server.env["TUI_SESSION_DATA_DIR"]
    env["PATH"] = "/usr/bin:/bin"
    flags = [
        "--endpoint",
        f"127.0.0.1:{scenario.server.port}",
        "--agent-url",
        scenario.server.env["TUI_SESSION_CLIENT_AGENT_URL"],
    ]
    argv = [TUI_SESSION, "chat", "--session", scenario.session, "--device", "laptop", *flags]
    laptop = Terminal("laptop", argv, env=env)
    scenario.terminals.append(laptop)
    laptop.wait_for(lambda s: "Join from another terminal:" in toast(s), what="the join hint")
    # the toast's last line may be drawn a moment later (a frame arrives in pieces under load)
    hint = laptop.wait_for(
        lambda s: re.search(r"Join from another terminal: (.*--agent-url http\S+)", toast(s)),
        timeout=FOLLOW_S,
        what="the whole hint, ending with the agent URL",
    )
    command = hint.group(1).strip()  # type: ignore[union-attr]
    assert all(flag in command for flag in flags), command
    phone = Terminal("phone", ["/bin/sh", "-c", command], env=env, size=MEDIUM)
    scenario.terminals.append(phone)
    phone.wait_for("● connected")
    send(phone, "the hint works")
    laptop.wait_for(lambda s: "the hint works" in transcript(s))


# --- 9. states that never clear ------------------------------------------------------------------


def test_repro_9_agent_not_reached_does_not_keep_a_starting_strip(scenario: Scenario) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    laptop = scenario.chat("laptop", device="laptop", args=("--agent-url", nowhere))
    send(laptop, "is anyone there")
    laptop.wait_for("agent not reached")
    laptop.wait_for(
        lambda s: "starting" not in s and re.search(r"^ ○ ", s, re.MULTILINE),
        timeout=FOLLOW_S,
        what="the active-turns strip idle, not 'starting'",
    )


# --- 10. errors before the UI opens ----------------------------------------------------------


def opened_or_exited(terminal: Terminal) -> None:
    """Wait until the UI is up (its footer drawn) or the process has ended."""
    try:
        terminal.wait_for(lambda s: PALETTE in s, what="the UI")
    except TerminalClosed:
        pass  # exited: the error line is in its output


@pytest.fixture
def not_a_hub() -> Iterator[int]:
    """A port held by a program that accepts connections and says nothing."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            listener.settimeout(0.2)
            while not stop.is_set():
                try:
                    accepted.append(listener.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield listener.getsockname()[1]
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()


@pytest.mark.parametrize(
    "args, cause",
    [
        (["--session", "my session"], "session"),
        (["--session", "x" * 300], "session"),
        (["--user", ""], "user"),
    ],
    ids=["space in the session id", "300-character session id", "empty user"],
)
def test_repro_10_bad_input_is_refused_before_the_ui_opens(
    scenario: Scenario, args: list[str], cause: str
) -> None:
    terminal = scenario.spawn("chat", [TUI_SESSION, "chat", *args], connected=False)
    opened_or_exited(terminal)
    assert terminal.wait_exit(timeout=3) == 2
    lines = [line for line in terminal.output.splitlines() if line.strip()]
    assert len(lines) == 1 and cause in lines[0], lines


def test_repro_10_a_port_that_is_not_a_hub_and_an_unreachable_endpoint(
    scenario: Scenario, not_a_hub: int
) -> None:
    nobody = free_port()
    # a hub named by address needs credentials, checked first (no network): this terminal has
    # them (the agent's token endpoint), so what is said is what is at the address
    token_url = f"http://127.0.0.1:{scenario.server.agent_port}/api/token"
    said = []
    for port in (not_a_hub, nobody):
        argv = [
            TUI_SESSION,
            "chat",
            "--session",
            scenario.session,
            "--endpoint",
            f"127.0.0.1:{port}",
        ]
        terminal = scenario.spawn(
            f"chat to {port}",
            argv,
            connected=False,
            env={"TUI_SESSION_CLIENT_AUTH_URL": token_url},
        )
        opened_or_exited(terminal)
        assert terminal.wait_exit(timeout=3) != 0
        lines = [line for line in terminal.output.splitlines() if line.strip()]
        assert len(lines) == 1 and str(port) in lines[0], lines
        assert "started `tui-session serve`" not in terminal.output
        said.append(lines[0].replace(str(port), "PORT"))
    # each its own cause: not "needs credentials" (which says nothing of what is there)
    assert said[0] != said[1] and not any("credentials" in line for line in said), said
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", nobody)) != 0  # no server was started there


def test_repro_10_a_paste_over_the_hubs_limit_keeps_the_draft_and_names_the_limit(
    scenario: Scenario,
) -> None:
    laptop = scenario.chat("laptop", device="laptop")
    text = "long paste " * (96 * 1024 // 11)
    laptop.paste(text)
    laptop.wait_for(lambda s: "long paste long paste" in s, what="the paste in the composer")
    laptop.press("enter")
    shown = laptop.wait_for(
        lambda s: ("40009" in s or re.search(r"(?i)limit", s)) and s, what="the refusal"
    )
    assert "40009" not in str(shown) and re.search(r"(?i)limit.*\d+\s*KB", str(shown)), shown
    assert "long paste long paste" in laptop.text  # the draft is still there
    assert not prompt_ids(scenario.channel_log(), text)
