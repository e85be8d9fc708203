"""Two "machines" on one box: two network namespaces joined by a veth pair.

Made and removed by the test that uses them; names carry a random tag so parallel runs never
collide, and the addresses (10.213.N.1 and .2 in a /30) live only inside the two namespaces.
Where the kernel or the privileges refuse namespaces the test is skipped, saying why.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

VENV_BIN = str(Path(sys.executable).parent)


@dataclass(frozen=True)
class Machine:
    name: str  # the network namespace
    address: str

    def command(self, args: Sequence[str], env: dict[str, str]) -> list[str]:
        """`args` run inside this machine with exactly `env` (nothing inherited)."""
        pairs = [f"{k}={v}" for k, v in env.items()]
        return ["ip", "netns", "exec", self.name, "env", "-i", *pairs, *args]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """A fresh user's environment: its own HOME and XDG dirs, nothing from this process."""
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PATH": f"{VENV_BIN}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return env


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


@contextlib.contextmanager
def two_machines() -> Iterator[tuple[Machine, Machine]]:
    """("laptop", "phone"), each in its own network namespace, reaching each other."""
    if shutil.which("ip") is None:
        pytest.skip("two-machine test: iproute2's `ip` is not installed")
    if os.geteuid() != 0:
        pytest.skip("two-machine test: network namespaces need root")
    tag = secrets.token_hex(3)
    laptop = Machine(f"tsl-laptop-{tag}", f"10.213.{secrets.randbelow(256)}.1")
    phone = Machine(f"tsl-phone-{tag}", laptop.address.rsplit(".", 1)[0] + ".2")
    veth = (f"tsla{tag}", f"tslb{tag}")  # interface names: at most 15 characters
    made: list[str] = []
    try:
        for machine in (laptop, phone):
            done = _ip("netns", "add", machine.name)
            if done.returncode != 0:
                pytest.skip(f"two-machine test: cannot make a network namespace: {done.stderr}")
            made.append(machine.name)
        steps = [
            ("link", "add", veth[0], "type", "veth", "peer", "name", veth[1]),
            ("link", "set", veth[0], "netns", laptop.name),
            ("link", "set", veth[1], "netns", phone.name),
        ]
        for machine, dev in ((laptop, veth[0]), (phone, veth[1])):
            steps += [
                ("-n", machine.name, "addr", "add", f"{machine.address}/30", "dev", dev),
                ("-n", machine.name, "link", "set", dev, "up"),
                ("-n", machine.name, "link", "set", "lo", "up"),
            ]
        for step in steps:
            done = _ip(*step)
            if done.returncode != 0:
                pytest.skip(f"two-machine test: `ip {' '.join(step)}` failed: {done.stderr}")
        yield laptop, phone
    finally:
        for name in made:  # deleting a namespace deletes its end of the veth pair, and so both
            _ip("netns", "del", name)
