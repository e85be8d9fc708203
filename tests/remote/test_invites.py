"""Invites end to end: `tui-session invite` on the hub's machine, a terminal that joins with
nothing but the join string (the same Access and session factory `chat --join` uses), what
the invite allows and what the hub and the agent service refuse, and `--revoke`."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ably import AblyException

from tests.support.hub import wait_until
from tui_session.access import AccessError, for_invite, preflight, read_join
from tui_session.config import AgentSettings, ClientSettings, HubSettings, Settings
from tui_session.credentials import jwt
from tui_session.credentials.tls import ensure_self_signed
from tui_session.hub.server import start_hub
from tui_session.invite import (
    Invite,
    InviteError,
    make_invite,
    parse_ttl,
    revocation_target,
)
from tui_session.launch import session_factory
from tui_session.protocol import ProtocolError
from tui_session.serve import RunningServe, start_serve
from tui_session.transport.client import ClientSession
from tui_session.tui.options import OpenSession

A, B = "session:a", "session:b"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[RunningServe]:
    settings = Settings(
        hub=HubSettings(host="127.0.0.1", port=0, data_dir=tmp_path / "data"),
        agent=AgentSettings(host="127.0.0.1", port=0, model="offline-demo", demo_pace=40),
    )
    running = await start_serve(settings)
    yield running
    await running.stop()


def invite(served: RunningServe, user: str, channel: str = A, **kw: Any) -> Invite:
    return make_invite(
        served.hub.hub.auth.root_key(),
        hub_host="127.0.0.1",
        hub_port=served.hub.port,
        tls=served.hub.tls,
        agent_url=f"http://127.0.0.1:{served.agent.port}",
        channel=channel,
        user=user,
        ttl_ms=kw.pop("ttl_ms", 3_600_000),
        **kw,
    )


async def join(
    invitation: Invite, channel: str | None = None, device: str = "phone"
) -> OpenSession:
    """What `chat --join` does: the join string alone, decoded, opens the session."""
    decoded = read_join(invitation.encode(), given={}, user=None)
    settings = Settings(client=ClientSettings(user=decoded.user, device=device))
    factory = session_factory(settings, access=for_invite(decoded))
    return await factory(channel or decoded.channel)


async def local(served: RunningServe, user: str) -> OpenSession:
    """A terminal on the hub's machine (the hub's key signs its token)."""
    settings = Settings(
        hub=replace(served.hub.hub.settings, port=served.hub.port),
        client=ClientSettings(
            user=user, device="laptop", agent_url=f"http://127.0.0.1:{served.agent.port}"
        ),
    )
    return await session_factory(settings)(A)


async def post(served: RunningServe, token: str, event_id: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"http://127.0.0.1:{served.agent.port}/api/chat",
            json={"inputEventId": event_id, "sessionName": A},
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            return response.status, await response.json()


async def ended(session: ClientSession, handle: Any, timeout: float = 30) -> str:
    await wait_until(lambda: bool(handle.run_id), timeout, "the turn to start")
    await wait_until(
        lambda: (t := session.turn(handle.run_id)) is not None and t.terminal, timeout, "its end"
    )
    return session.turn(handle.run_id).status


# ---- the join string ---------------------------------------------------------------------------


def test_the_join_string_round_trips_and_holds_no_key(tmp_path: Path) -> None:
    tls = ensure_self_signed(tmp_path / "tls", ["10.0.0.5"])
    key = "appX.k1:the-secret-part"
    made = make_invite(
        key,
        hub_host="10.0.0.5",
        hub_port=8470,
        tls=tls,
        agent_url="https://10.0.0.5:8471",
        channel=A,
        user="ada",
        ttl_ms=parse_ttl("8h"),
        read_only=True,
    )
    text = made.encode()
    assert text.startswith("tsj1.") and "\n" not in text
    assert "the-secret-part" not in base64.urlsafe_b64decode(text[5:] + "==").decode()
    back = Invite.decode(text)
    assert back == made and back.fingerprint == tls.fingerprint()
    claims = jwt.verify(back.token, {"appX.k1": "the-secret-part"}.get)
    assert claims.client_id == "ada" and claims.revocation_key == f"invite:{made.invite_id}"
    assert claims.capability is not None
    assert claims.capability.allows(A, "subscribe")
    assert not claims.capability.allows(A, "publish")  # read-only
    assert not claims.capability.allows(B, "subscribe")
    assert claims.expires_ms == made.expires_ms
    assert made.command() == f"tui-session chat --join {text}"


def test_a_damaged_altered_or_expired_join_string_is_one_sentence(tmp_path: Path) -> None:
    made = make_invite(
        "appX.k1:s",
        hub_host="127.0.0.1",
        hub_port=1,
        tls=ensure_self_signed(tmp_path, ["x"]),
        agent_url=None,
        channel=A,
        user="ada",
        ttl_ms=60_000,
    )
    data = json.loads(jwt.b64url_decode(made.encode()[5:]))

    def encoded(**changes: Any) -> str:
        return "tsj1." + jwt.b64url(json.dumps({**data, **changes}).encode())

    cases = {
        "hello": "not a join string",
        made.encode()[:-20]: "damaged",
        encoded(fingerprint="SHA256:00"): "does not match its fingerprint",
        encoded(user="root"): "not for the user it names",
        encoded(expires=1): "expired",
    }
    for text, says in cases.items():
        with pytest.raises(InviteError, match=says):
            Invite.decode(text)


def test_ttls_and_revocation_targets() -> None:
    assert parse_ttl("30m") == 1_800_000 and parse_ttl("2d") == 172_800_000
    for bad in ("8", "8 hours", "0h", "8d"):
        with pytest.raises(InviteError):
            parse_ttl(bad)
    assert revocation_target("Ab3_x") == "revocationKey:invite:Ab3_x"
    assert revocation_target("clientId:carol") == "clientId:carol"
    assert revocation_target("channel:session:a") == "channel:session:a"
    with pytest.raises(InviteError):
        revocation_target("colour:blue")


async def test_join_refuses_contradicting_flags_and_checks_the_hub_first(
    served: RunningServe, tmp_path: Path
) -> None:
    text = invite(served, "carol").encode()
    with pytest.raises(AccessError, match="drop --session"):
        read_join(text, given={"--session": "x"}, user=None)
    with pytest.raises(AccessError, match="for user 'carol'"):
        read_join(text, given={}, user="mallory")
    gone = replace(Invite.decode(text), hub_port=1)
    with pytest.raises(AccessError, match="cannot reach the hub"):
        await asyncio.to_thread(preflight, gone, 2)
    other = ensure_self_signed(tmp_path / "other", ["x"]).cert_der()
    plain = replace(gone, hub_port=served.hub.port, tls=True, cert=other)
    with pytest.raises(AccessError, match="does not speak TLS"):
        await asyncio.to_thread(preflight, plain, 2)
    lan = await start_hub(HubSettings(host="0.0.0.0", port=0, data_dir=tmp_path / "lan"))
    try:
        assert lan.tls is not None
        impostor = replace(plain, hub_port=lan.port)
        with pytest.raises(AccessError, match="does not present the certificate"):
            await asyncio.to_thread(preflight, impostor, 2)
        genuine = replace(impostor, cert=lan.tls.cert_der())
        await asyncio.to_thread(preflight, genuine, 2)
    finally:
        await lan.stop()


# ---- what an invite allows ---------------------------------------------------------------------


async def test_a_joined_terminal_prompts_with_its_invite_alone_and_only_in_its_session(
    served: RunningServe,
) -> None:
    opened = await join(invite(served, "carol"))
    try:
        handle = await opened.session.send("hello from carol's phone")
        assert await ended(opened.session, handle) == "complete"  # the agent took its token
    finally:
        await opened.close()  # type: ignore[misc]
    with pytest.raises(AblyException) as refused:
        await join(invite(served, "carol"), channel=B)
    assert (refused.value.code, refused.value.status_code) == (40160, 401)


async def test_a_read_only_invite_watches_but_cannot_prompt_cancel_or_approve(
    served: RunningServe,
) -> None:
    opened = await local(served, "alice")
    alice = opened.session
    watcher = read_only = None
    try:
        handle = await alice.send("please delete notes.txt")  # the demo asks for approval
        await wait_until(
            lambda: bool((t := alice.turn(handle.run_id or "")) and t.pending_approvals),
            30,
            "the approval request",
        )
        read_only = invite(served, "carol", read_only=True)
        watcher = await join(read_only)
        session = watcher.session
        # Watching works: history, live messages and presence.
        await wait_until(lambda: session.turn(handle.run_id) is not None, 10, "alice's turn")
        await wait_until(
            lambda: any(m.client_id == "alice" for m in session.members), 10, "alice present"
        )
        # Acting does not: the hub refuses each publish (40160)...
        for attempt in (session.send("let me in"), session.cancel(handle.run_id)):
            with pytest.raises(ProtocolError) as refused:
                await attempt
            assert int(refused.value.code) == 40160
        # ... and a decision on alice's tool call is refused before it is published: only
        # alice may decide it (40380, protocol/approvals.py), read-only or not
        with pytest.raises(ProtocolError) as refused:
            await session.approve(handle.run_id, *alice_request(session, handle.run_id), True)
        assert int(refused.value.code) == 40380
        # ...and the agent refuses the token outright (40301), whatever it names.
        status, body = await post(served, read_only.token, handle.input_event_id)
        assert (status, body["error"]["code"]) == (403, 40301)
        assert "read-only" in body["error"]["message"]
        assert alice.turn(handle.run_id).status == "suspended"  # nothing changed for the turn
    finally:
        if watcher is not None:
            await watcher.close()  # type: ignore[misc]
        await opened.close()  # type: ignore[misc]


def alice_request(session: ClientSession, run_id: str) -> tuple[str, str]:
    request = session.turn(run_id).pending_approvals[0]
    return request.assistant_cmid, request.call_id


async def test_a_third_user_cannot_ask_for_or_cancel_someone_elses_turn(
    served: RunningServe,
) -> None:
    opened = await local(served, "alice")
    alice = opened.session
    carol_invite = invite(served, "carol")
    carol = await join(carol_invite)
    try:
        handle = await alice.send("a long answer for alice")
        # carol's token asking the agent to answer alice's prompt: refused, 40302.
        status, body = await post(served, carol_invite.token, handle.input_event_id)
        assert (status, body["error"]["code"]) == (403, 40302)
        await wait_until(lambda: bool(handle.run_id), 20, "alice's turn")
        run_id = handle.run_id
        await wait_until(lambda: carol.session.turn(run_id) is not None, 20, "carol sees it")
        # carol can publish a cancel, but the agent applies only the owner's or an operator's.
        await carol.session.cancel(run_id)
        assert not alice.turn(run_id).terminal  # the cancel arrived while the turn ran...
        assert await ended(alice, handle) == "complete"  # ...and changed nothing
    finally:
        await carol.close()  # type: ignore[misc]
        await opened.close()  # type: ignore[misc]


async def test_revoking_an_invite_cuts_it_and_refuses_its_next_connect_and_post(
    served: RunningServe, tmp_path: Path
) -> None:
    carol_invite = invite(served, "carol")
    carol = await join(carol_invite)
    realtime = carol.session.realtime
    cut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    realtime.connection.on(
        lambda c: c.current.value != "connected" and not cut.done() and cut.set_result(c.reason)
    )
    handle = await carol.session.send("before the revocation")
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "tui_session.cli",
            "invite",
            "--revoke",
            carol_invite.invite_id,
            "--data-dir",
            str(served.hub.hub.settings.data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        assert done.returncode == 0, done.stderr
        assert "the hub has cut the connections" in done.stdout
        assert (await asyncio.wait_for(cut, 10)).code == 40141
        status, body = await post(served, carol_invite.token, handle.input_event_id)
        assert (status, body["error"]["code"]) == (401, 40141)
        fresh = for_invite(carol_invite).realtime("carol", A)
        refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fresh.connection.on(
            lambda c: c.reason is not None and not refused.done() and refused.set_result(c.reason)
        )
        assert (await asyncio.wait_for(refused, 10)).code == 40141
        await fresh.close()
    finally:
        await carol.close()  # type: ignore[misc]


# ---- the command ---------------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui_session.cli", *args], capture_output=True, text=True, timeout=60
    )


async def test_the_invite_command_prints_a_join_string_and_the_command(
    served: RunningServe,
) -> None:
    data = str(served.hub.hub.settings.data_dir)
    done = await asyncio.to_thread(
        cli, "invite", "--session", "a", "--user", "dave", "--ttl", "2h", "--data-dir", data
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    [join_string] = [line for line in lines if line.startswith("tsj1.")]
    assert f"  tui-session chat --join {join_string}" in lines
    made = Invite.decode(join_string)
    assert (made.user, made.channel, made.read_only) == ("dave", A, False)
    assert made.hub_address == f"127.0.0.1:{served.hub.port}"
    assert made.agent_url == f"http://127.0.0.1:{served.agent.port}"
    assert "works on this machine only" in done.stderr  # this hub listens on loopback
    assert f"tui-session invite --revoke {made.invite_id}" in done.stdout


def test_the_invite_command_needs_a_running_hub(tmp_path: Path) -> None:
    done = cli("invite", "--session", "a", "--data-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith("error: no hub is running") and "Traceback" not in done.stderr
