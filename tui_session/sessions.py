"""What a session is: an id, the channel it lives on, the names allowed to join it, and the
command that joins it from another terminal.

Session `<id>` lives on the channel `session:<id>`: one channel rule on the `session` namespace
(persistence, message appends) and one capability (`session:*`) cover every session. The naming
rules are the hub's (`hub/channels.py` for channel names, `hub/auth.py` and `hub/channels.py`
for clientIds; `tests/test_sessions.py` checks that both agree), checked here before anything
connects, so a bad name gets one sentence instead of an error code from inside the UI.

A leaf module: no project imports, so the CLI, the launcher, the TUI and the agent all use it.
"""

from __future__ import annotations

import re
import shlex
import uuid
from dataclasses import dataclass

PREFIX = "session:"
ALL_CHANNELS = f"{PREFIX}*"  # every session channel, as a capability resource
CHANNEL_NAME_MAX = 256  # characters; the hub's (and Ably's) limit
SESSION_ID_MAX = CHANNEL_NAME_MAX - len(PREFIX)
NAME_MAX = 64  # characters of a user or device name (ours: the hub sets no length limit)

# The hub's channel-name rule: no whitespace, no '[' or ']' (channel qualifiers such as
# `[?rewind=1]name` use them), and not starting with ':'.
_CHANNEL_CHARS = re.compile(r"[^\s\[\]]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class InvalidName(ValueError):
    """A session id, channel, user or device name the hub would refuse; the message is one
    sentence naming the cause, for the user."""


def channel_name(session_id: str) -> str:
    """The channel of a session id (checked)."""
    return PREFIX + check_session_id(session_id)


def session_id_of(channel: str) -> str | None:
    """The session id of a session channel; None for any other channel."""
    return channel.removeprefix(PREFIX) if channel.startswith(PREFIX) else None


def display_name(channel: str) -> str:
    """What to show for a channel: the session id, or the raw channel name."""
    return session_id_of(channel) or channel


def new_session_id() -> str:
    return uuid.uuid4().hex[:8]


def check_channel_name(name: str) -> str:
    """A raw channel name as the hub accepts it (`hub/channels.py check_channel_name`)."""
    _check_chars("channel name", name, CHANNEL_NAME_MAX)
    if name.startswith(":"):
        raise InvalidName(f"channel name {name!r} is not valid: it must not start with ':'")
    return name


def check_session_id(session_id: str) -> str:
    """A session id whose channel `session:<id>` the hub accepts."""
    return _check_chars("session id", session_id, SESSION_ID_MAX)


def check_user(name: str) -> str:
    """A user name, which is the Ably clientId of every device of that user."""
    return _check_name("user name", name)


def check_device(name: str) -> str:
    """A device name, shown in presence beside the user name."""
    return _check_name("device name", name)


def _check_chars(what: str, value: str, limit: int) -> str:
    if not value:
        raise InvalidName(f"the {what} is empty")
    if len(value) > limit:
        raise InvalidName(f"the {what} is {len(value)} characters long; at most {limit} allowed")
    if not _CHANNEL_CHARS.fullmatch(value):
        raise InvalidName(f"{what} {value!r} is not valid: it must not contain spaces, '[' or ']'")
    return value


def _check_name(what: str, name: str) -> str:
    if not name.strip():
        raise InvalidName(f"the {what} is empty")
    if len(name) > NAME_MAX:
        raise InvalidName(f"the {what} is {len(name)} characters long; at most {NAME_MAX} allowed")
    if name == "*":
        raise InvalidName(f"'*' is not a valid {what}: it means 'any client' in Ably")
    if name != name.strip() or _CONTROL.search(name):
        raise InvalidName(
            f"{what} {name!r} is not valid: no control characters or surrounding spaces"
        )
    return name


@dataclass(frozen=True)
class JoinCommand:
    """How another terminal joins: the program as the user can run it, and the flags that
    differ from the defaults (endpoint, agent URL). `for_channel` prints a command that runs as
    printed (shell-quoted)."""

    program: str = "tui-session"
    endpoint: str | None = None  # None or "local": the default
    agent_url: str | None = None  # None: the default

    def for_channel(self, channel: str) -> str:
        session_id = session_id_of(channel)
        target = ["--session", session_id] if session_id else ["--channel", channel]
        words = [self.program, "chat", *target]
        if self.endpoint and self.endpoint != "local":
            words += ["--endpoint", self.endpoint]
        if self.agent_url:
            words += ["--agent-url", self.agent_url]
        return shlex.join(words)
