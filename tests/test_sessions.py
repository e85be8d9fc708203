"""One idea of a session: id <-> channel, the naming rules (checked against the hub's own), and
the join command."""

from __future__ import annotations

import shlex

import pytest
from ably import AblyException
from hypothesis import given
from hypothesis import strategies as st

from tests.support.hub import Collector, HubEndpoint, wait_state
from tui_session import sessions
from tui_session.hub.channels import check_channel_name as hub_check_channel_name
from tui_session.hub.frames import AblyError
from tui_session.sessions import InvalidName, JoinCommand


def hub_accepts_channel(name: str) -> bool:
    try:
        hub_check_channel_name(name)
    except AblyError:
        return False
    return True


def ours_accepts_channel(name: str) -> bool:
    try:
        sessions.check_channel_name(name)
    except InvalidName:
        return False
    return True


EDGE_CHANNELS = [
    "",
    "a",
    "session:demo",
    ":leading-colon",
    "trailing:",
    "has space",
    "tab\there",
    "new\nline",
    "[?rewind=1]qualified",
    "brack]et",
    "ünïcødé",
    "*",
    "x" * 256,
    "x" * 257,
]


@pytest.mark.parametrize("name", EDGE_CHANNELS)
def test_channel_names_follow_the_hub_rule(name: str) -> None:
    assert ours_accepts_channel(name) == hub_accepts_channel(name)


@given(st.text(max_size=300))
def test_channel_names_agree_with_the_hub_on_any_text(name: str) -> None:
    assert ours_accepts_channel(name) == hub_accepts_channel(name)


@given(st.text(max_size=300))
def test_a_valid_session_id_always_makes_a_channel_the_hub_accepts(session_id: str) -> None:
    try:
        channel = sessions.channel_name(session_id)
    except InvalidName:
        # refused only when empty (`session:` names no session) or its channel is refused
        assert not session_id or not hub_accepts_channel(sessions.PREFIX + session_id)
        return
    assert hub_accepts_channel(channel)
    assert sessions.session_id_of(channel) == session_id


def test_session_id_and_channel_round_trip() -> None:
    assert sessions.channel_name("demo") == "session:demo"
    assert sessions.session_id_of("session:demo") == "demo"
    assert sessions.session_id_of("other-channel") is None
    assert sessions.display_name("session:demo") == "demo"
    assert sessions.display_name("other-channel") == "other-channel"
    assert sessions.channel_name(sessions.new_session_id()).startswith("session:")


@pytest.mark.parametrize(
    ("session_id", "cause"),
    [
        ("my session", "must not contain spaces"),
        ("", "is empty"),
        ("x" * 300, "300 characters long; at most 248"),
        ("a[b]", "'[' or ']'"),
    ],
)
def test_a_bad_session_id_is_one_sentence_naming_the_cause(session_id: str, cause: str) -> None:
    with pytest.raises(InvalidName, match=r"session id") as caught:
        sessions.check_session_id(session_id)
    assert cause in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("*", "means 'any client'"),
        ("x" * 65, "65 characters long; at most 64"),
        (" ada", "surrounding spaces"),
        ("a\x1b[2Jb", "control characters"),
    ],
)
def test_bad_user_and_device_names_are_refused(name: str, cause: str) -> None:
    for check, what in ((sessions.check_user, "user name"), (sessions.check_device, "device")):
        with pytest.raises(InvalidName, match=what) as caught:
            check(name)
        assert cause in str(caught.value)


async def test_every_name_we_accept_the_hub_accepts_as_a_client_id(hub: HubEndpoint) -> None:
    """The hub (like Ably) refuses only '*' as a clientId; our rule is narrower (length,
    control characters), so everything we let through connects, enters presence and publishes
    under exactly that clientId on a real hub."""
    channel = "session:names"
    for name in ("ada", "Ada Lovelace", "ünï-cødé@host", "x" * sessions.NAME_MAX, "a:b/c"):
        sessions.check_user(name)
        client = hub.realtime(name)
        await wait_state(client)
        seen = Collector()
        ch = client.channels.get(channel)
        await ch.subscribe(seen.add)
        await ch.publish("hello", name)
        [message] = await seen.wait_for(1)
        assert message.client_id == name
        await ch.presence.enter({"device": name})
        members = await ch.presence.get()
        assert name in {m.client_id for m in members}
        await client.close()


async def test_the_hub_refuses_what_we_refuse_as_a_client_id(hub: HubEndpoint) -> None:
    with pytest.raises(InvalidName):
        sessions.check_user("*")
    client = hub.realtime()  # key auth without a clientId: may publish as anyone but '*'
    await wait_state(client)
    await client.channels.get("session:names").attach()
    with pytest.raises(AblyException) as refused:
        await client.connection.connection_manager.send_protocol_message(
            {"action": 15, "channel": "session:names", "messages": [{"clientId": "*"}]}
        )
    assert refused.value.code == 40012


def test_join_command_runs_as_printed() -> None:
    assert JoinCommand().for_channel("session:demo") == "tui-session chat --session demo"
    assert JoinCommand().for_channel("raw") == "tui-session chat --channel raw"
    join = JoinCommand(
        "/home/me/.venv/bin/tui-session", endpoint="10.0.0.2:9000", agent_url="http://h:1"
    )
    command = join.for_channel("session:a;b")
    assert shlex.split(command) == [
        "/home/me/.venv/bin/tui-session",
        *("chat", "--session", "a;b"),
        *("--endpoint", "10.0.0.2:9000", "--agent-url", "http://h:1"),
    ]
    assert "--endpoint" not in JoinCommand(endpoint="local").for_channel("session:x")
