"""Two machines on one box: "laptop" runs `tui-session serve` on its own network address
(TLS with the certificate serve makes), "phone" joins with `tui-session chat --join` in a real
terminal, with its own empty HOME and, where the box allows, as another OS user who cannot
read the laptop's data dir. Both are real processes read as screens (pty + pyte)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.remote.machines import Machine, clean_env, two_machines
from tests.scenarios.terminal import Terminal

PY = sys.executable
HUB_PORT, AGENT_PORT = 18470, 18471  # inside the laptop's own namespace: free by construction
PACE = 15.0  # demo tokens per second: an answer lasts several seconds, long enough to cancel
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


@dataclass
class Lan:
    laptop: Machine
    phone: Machine
    laptop_home: Path
    config: Path
    phone_prefix: tuple[str, ...]  # run the phone as another OS user, where possible
    tmp: Path
    phone_homes: list[Path] = field(default_factory=list)

    def cli(self, *args: str) -> list[str]:
        return [PY, "-m", "tui_session.cli", *args]

    def invite(self, session: str, *extra: str) -> str:
        done = subprocess.run(
            self.laptop.command(
                self.cli("invite", "--config", str(self.config), "--session", session, *extra),
                clean_env(self.laptop_home),
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return next(line for line in done.stdout.splitlines() if line.startswith("tsj1."))

    def laptop_chat(self, session: str) -> Terminal:
        args = self.cli(
            "chat", "--config", str(self.config), "--session", session, "--device", "laptop"
        )
        return _terminal(
            "laptop", self.laptop.command(args, clean_env(self.laptop_home, TERM="xterm"))
        )

    def phone_chat(self, join: str) -> Terminal:
        # An empty HOME of its own (outside pytest's root-only temp dir, so that the phone's
        # own user can use it).
        home = Path(tempfile.mkdtemp(prefix="tui-session-phone-"))
        self.phone_homes.append(home)
        if self.phone_prefix:
            shutil.chown(home, 65534, 65534)
        args = [*self.phone_prefix, *self.cli("chat", "--join", join, "--device", "phone")]
        return _terminal("phone", self.phone.command(args, clean_env(home, TERM="xterm")))


def _terminal(name: str, argv: list[str]) -> Terminal:
    """A 120x40 terminal running `argv` (`ip netns exec ... env -i ...`: the program's own
    environment is in argv; `ip` only needs to be found)."""
    return Terminal(name, argv, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "xterm"})


def _showing(text: str) -> Callable[[str], str | None]:
    """A `wait_for` condition that returns the screen showing `text` (to read it further)."""
    return lambda screen: screen if text in screen else None


def _close(*terminals: Terminal) -> None:
    """ctrl+q each, as a person quits; killed if it does not end."""
    for terminal in terminals:
        try:
            if terminal.alive:
                terminal.quit(timeout=20)
        finally:
            terminal.kill()


def _can_run_as_nobody(machine: Machine, tmp: Path) -> bool:
    probe = [*NOBODY, PY, "-c", "import tui_session.cli"]
    done = subprocess.run(machine.command(probe, clean_env(tmp)), capture_output=True, timeout=60)
    return done.returncode == 0


@pytest.fixture(scope="module")
def lan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lan]:
    tmp = tmp_path_factory.mktemp("lan")
    with two_machines() as (laptop, phone):
        home = tmp / "laptop-home"
        home.mkdir()
        config = home / "tui-session.toml"
        config.write_text(
            f'[hub]\nhost = "{laptop.address}"\nport = {HUB_PORT}\ndata_dir = "{home / "data"}"\n'
            f'[client]\nuser = "ada"\nagent_url = "https://{laptop.address}:{AGENT_PORT}"\n'
            f"[agent]\nport = {AGENT_PORT}\ndemo_pace = {PACE}\n"
        )
        network = Lan(
            laptop, phone, home, config, NOBODY if _can_run_as_nobody(phone, tmp) else (), tmp
        )
        serve = subprocess.Popen(
            laptop.command(network.cli("serve", "--config", str(config)), clean_env(home)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert serve.stdout is not None
            banner = serve.stdout.readline()  # serve prints its addresses once it listens
            assert f"hub on https://{laptop.address}:{HUB_PORT}" in banner, banner
            # Keep reading what serve writes, so that a full pipe never blocks it.
            threading.Thread(target=serve.stdout.read, daemon=True).start()
            yield network
        finally:
            serve.terminate()
            serve.wait(20)
            for phone_home in network.phone_homes:
                shutil.rmtree(phone_home, ignore_errors=True)


def test_serve_beyond_loopback_made_its_certificate_and_keeps_its_key_private(lan: Lan) -> None:
    data = lan.laptop_home / "data"
    assert (data / "tls" / "hub-cert.pem").exists()
    assert (data.stat().st_mode & 0o077) == 0  # the key's directory: the owner's alone
    if not lan.phone_prefix:
        pytest.skip("the phone runs as root here (setpriv to nobody unavailable)")
    denied = subprocess.run(
        lan.phone.command([*NOBODY, "cat", str(data / "keys.json")], clean_env(lan.tmp)),
        capture_output=True,
    )
    assert denied.returncode != 0  # the phone's user cannot read the laptop's key


def test_a_phone_joins_with_an_invite_prompts_and_cancels_the_laptops_turn(lan: Lan) -> None:
    join = lan.invite("two-machines")
    laptop = lan.laptop_chat("two-machines")
    phone = lan.phone_chat(join)
    try:
        laptop.wait_for("● connected", what="the laptop connected")
        screen = phone.wait_for(_showing("● connected"), what="the phone connected through TLS")
        assert "invite, TLS SHA256:" in screen
        # The phone prompts: its token reaches the agent over https; the answer streams to both.
        phone.type("hello from the phone")
        phone.press("enter")
        for device in (phone, laptop):
            device.wait_for("hello from the phone", what="the phone's prompt")
            device.wait_for("offline demo model", what="the answer streaming")
            device.wait_for("✓ done", timeout=60, what="the answer complete")
        # The laptop prompts; the phone (same user) cancels that turn while it streams.
        laptop.type("a question from the laptop")
        laptop.press("enter")
        phone.wait_for("a question from the laptop", what="the laptop's prompt on the phone")
        phone.wait_for("● streaming", what="the laptop's turn streaming on the phone")
        phone.press("ctrl+g")
        phone.wait_for("Press ctrl+g again", what="the confirmation of cancel all")
        phone.press("ctrl+g")
        for device in (laptop, phone):
            device.wait_for("⏹ cancelled", what="the laptop's turn cancelled")
    finally:
        _close(phone, laptop)


def test_esc_on_the_phone_cancels_the_laptops_turn_of_the_same_user(lan: Lan) -> None:
    join = lan.invite("esc-across-devices")
    laptop = lan.laptop_chat("esc-across-devices")
    phone = lan.phone_chat(join)
    try:
        laptop.wait_for("● connected")
        phone.wait_for("● connected")
        laptop.type("cancel me from the phone")
        laptop.press("enter")
        phone.wait_for("● streaming", what="the laptop's turn streaming on the phone")
        phone.press("escape")
        outcome = laptop.wait_for(
            lambda s: s if "⏹ cancelled" in s or "✓ done" in s else None,
            timeout=60,
            what="the turn to end",
        )
        assert "⏹ cancelled" in outcome
    finally:
        _close(phone, laptop)


def test_a_read_only_phone_watches_and_is_told_it_cannot_prompt(lan: Lan) -> None:
    join = lan.invite("watch-only", "--read-only")
    laptop = lan.laptop_chat("watch-only")
    phone = lan.phone_chat(join)
    try:
        laptop.wait_for("● connected")
        phone.wait_for("read-only invite: you can watch, not prompt", what="the composer says so")
        phone.wait_for("● connected · read-only", what="the header keeps it at any width")
        laptop.type("the laptop asks")
        laptop.press("enter")
        phone.wait_for("the laptop asks", what="the laptop's prompt, watched")
        phone.wait_for("offline demo model", what="its answer, watched")
        # the laptop's turn is ada's, so the phone's too (issue 11): while it runs, Enter there
        # says "your turn is still running"; the refusal comes once it has ended
        phone.wait_for("✓ done", what="the answer ended")
        phone.type("may I ask too?")
        phone.press("enter")
        screen = phone.wait_for(_showing("Unable to send"), what="the refusal, in words")
        assert "read-only" in screen[screen.index("Unable to send") :]
    finally:
        _close(phone, laptop)
