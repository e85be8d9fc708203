"""The bytes a real Textual app writes to a real pseudo-terminal through `TerminalOutput`.

The child process is a minimal Textual app (the real LinuxDriver, wrapped by
`TerminalOutput.attach`) that sets the title and sends one notification on mount, then exits.
The test reads everything the terminal received and checks the exact sequences and their
order: title stack saved at start, our title, the notification, title stack restored at exit.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import textwrap
import time

import pytest

from tui_session.config import Settings
from tui_session.tui.app import make_app
from tui_session.tui.options import ChatOptions
from tui_session.tui.terminal import TerminalOutput, notify_desktop, tmux_passthrough
from tui_session.tui.terminal_notify import Sequence, Terminal, notification, title_sequence

OSC = re.compile(rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\\\)")
CHILD = textwrap.dedent(
    """
    import os
    from textual.app import App
    from tui_session.tui.terminal_notify import TerminalNotifier, detect
    from tui_session.tui.terminal import TerminalOutput

    output = TerminalOutput()
    notifier = TerminalNotifier(detect(os.environ), os.environ["NOTIFY_MODE"])

    class Probe(App):
        def on_mount(self) -> None:
            output.write(notifier.title("demo", "waiting for you"))
            output.write(notifier.notify("R1", "approval", "demo", "approve delete_files?",
                                         focused=False))
            self.call_after_refresh(self.exit)

    app = Probe()
    output.attach(app)
    app.run()
    """
)


def run_in_pty(env: dict[str, str], timeout: float = 60.0) -> bytes:
    """Run the child app on a fresh 80x24 pty; everything it wrote, once it exited."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, **env},
        start_new_session=True,
    )
    os.close(slave)
    received = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                received += chunk
            elif child.poll() is not None:
                break
        else:
            pytest.fail(f"the app did not exit within {timeout} s; got {bytes(received)[-400:]!r}")
    finally:
        os.close(master)
        if child.poll() is None:
            child.kill()
        child.wait(10)
    assert child.returncode == 0, bytes(received)[-2000:]
    return bytes(received)


def test_a_real_app_writes_title_and_notification_through_its_driver_in_order() -> None:
    env = {"TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app", "NOTIFY_MODE": "auto"}
    for var in ("TMUX", "STY", "KITTY_WINDOW_ID", "VTE_VERSION"):
        env[var] = ""
    out = run_in_pty(env)
    title = title_sequence("demo · waiting for you · tui-session").encode()
    note = notification(Terminal("iTerm2", Sequence.OSC9), "demo", "approve delete_files?").encode()
    assert note == b"\x1b]9;demo: approve delete_files?\x07"
    positions = [out.find(s) for s in (b"\x1b[22;0t", title, note, b"\x1b[23;0t")]
    assert -1 not in positions, out[-2000:]
    assert positions == sorted(positions)
    assert out.count(note) == 1


def test_kitty_gets_osc_99_and_mode_off_writes_no_notification() -> None:
    base = {"TERM": "xterm-kitty", "TERM_PROGRAM": "", "TMUX": "", "STY": ""}
    kitty = run_in_pty({**base, "NOTIFY_MODE": "auto"})
    assert b"\x1b]99;i=R1-approval:d=0:e=1:o=unfocused;" in kitty
    quiet = run_in_pty({**base, "NOTIFY_MODE": "off"})
    assert b"\x1b]99;" not in quiet
    assert b"\x07" not in OSC.sub(b"", quiet)  # no bell outside OSC strings (title, pointer)
    assert title_sequence("demo · waiting for you · tui-session").encode() in quiet


def test_headless_output_only_records() -> None:
    output = TerminalOutput()
    assert output.write("\x07") is False
    assert output.write("") is False
    assert list(output.sent) == ["\x07"]
    assert not output.connected


@pytest.fixture
def tmux_server(tmp_path):
    """A private tmux server (its own socket); yields the TMUX value a pane inside would see."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    socket_path = tmp_path / "tmux.sock"
    tmux = ["tmux", "-S", str(socket_path), "-f", os.devnull]
    subprocess.run([*tmux, "new-session", "-d", "sleep 600"], check=True, timeout=10)
    try:
        yield tmux, f"{socket_path},{os.getpid()},0"
    finally:
        subprocess.run([*tmux, "kill-server"], check=False, timeout=10)


@pytest.mark.parametrize(("setting", "expected"), [("on", True), ("off", False)])
def test_tmux_passthrough_is_asked_of_the_real_tmux(tmux_server, setting, expected) -> None:
    tmux, tmux_env = tmux_server
    subprocess.run([*tmux, "set-option", "-g", "allow-passthrough", setting], check=True)
    assert tmux_passthrough({**os.environ, "TMUX": tmux_env}) is expected


def test_tmux_passthrough_outside_tmux_or_without_an_answer_is_unknown(tmp_path) -> None:
    assert tmux_passthrough({"PATH": os.environ["PATH"]}) is None
    gone = {"PATH": os.environ["PATH"], "TMUX": f"{tmp_path}/no-server,1,0"}
    assert tmux_passthrough(gone) is None


def test_the_chat_app_writes_its_notifications_through_an_attached_output(monkeypatch) -> None:
    """The app factory attaches the output; the chat screen's `notify_desktop` goes through
    it (no private driver access), in this terminal's sequence."""
    monkeypatch.setenv("TERM_PROGRAM", "WezTerm")
    for var in ("TMUX", "STY", "KITTY_WINDOW_ID"):
        monkeypatch.delenv(var, raising=False)

    async def never(_channel: str):  # the app is not run here
        raise AssertionError("not opened")

    app = make_app(Settings(), never, ChatOptions("demo"))
    output = TerminalOutput.of(app)
    assert output is not None and app.driver_class.__name__.startswith("Tapped")
    notify_desktop(app, "tui-session: your turn ended (complete)")
    assert list(output.sent) == ["\x1b]9;tui-session: your turn ended (complete)\x07"]
