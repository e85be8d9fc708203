"""Property-based fuzzing (hypothesis) of everything that reads hostile input: the hub's frame
decoder, its WebSocket endpoint, every REST route, and the agent service's POST /api/chat and
GET /api/token.

The properties, for every generated input:
- nothing crashes: no exception escapes a handler (the tests fail on any ERROR log record from
  aiohttp, asyncio or tui_session) and no answer is a 5xx;
- every refusal is specific: an Ably error whose code is in the set the endpoint documents, with
  statusCode equal to the HTTP status (REST) or below 500 (realtime);
- a connection is closed only after a connection-level ERROR (or when the input asked for it);
- bystanders are unaffected: a canary pair of SDK clients publishes and receives after every
  realtime and REST example, and a real turn runs through the agent service after its fuzzing.

The default budget keeps `make test` fast; the `soak` variants run many more examples
(`pytest -m soak tests/abuse`). Figures (inputs tried per endpoint) are printed at teardown.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import msgpack
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.abuse.strategies import (
    BAD_CHANNELS,
    GOOD_CHANNELS,
    JSONISH,
    MESSAGE,
    PACKABLE,
    encode,
    mutated,
    protocol_frames,
    wire_payloads,
)
from tests.support.agent import demo_settings, post, running_agent
from tests.support.hub import Collector, HubEndpoint, wait_state
from tests.transport.agent_helpers import Client, invocation, recorder, transport
from tui_session.hub.frames import AblyError, decode_frame

FAST = int(os.environ.get("FUZZ_EXAMPLES", "120"))
SOAK = int(os.environ.get("FUZZ_SOAK_EXAMPLES", "3000"))
FIGURES = os.environ.get("FUZZ_FIGURES")  # a path: append the per-endpoint counts as JSON lines


def budget(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=n == FAST,  # the CI run is reproducible; soak runs explore
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# The codes each surface documents (docs/hub.md, docs/reliability.md).
WS_CODES = {40000, 40003, 40009, 40010, 40012, 40013, 40102, 40142, 40144, 40160, 42911, 91000}
REST_CODES = {
    40000,
    40003,
    40009,
    40010,
    40012,
    40013,
    40101,
    40102,
    40104,
    40142,
    40144,
    40160,
    40400,
    40500,
}
AGENT_CODES = {40000, 40010, 40160, 104010, 42910}
TRIED: Counter[str] = Counter()


def record_figures(name: str, extra: dict[str, Any] | None = None) -> None:
    line = {"test": name, "tried": dict(TRIED), **(extra or {})}
    print("fuzz figures:", json.dumps(line))
    if FIGURES:
        with Path(FIGURES).open("a") as fh:
            fh.write(json.dumps(line) + "\n")
    TRIED.clear()


class Crashes(logging.Handler):
    """Every ERROR record from the server side: an exception that escaped a handler."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in ("aiohttp", "asyncio", "tui_session"):
            self.records.append(record)

    def check(self) -> None:
        assert not self.records, [
            f"{r.name}: {r.getMessage()} {r.exc_info[1] if r.exc_info else ''}"
            for r in self.records
        ]


@pytest.fixture
def crashes() -> Any:
    handler = Crashes()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    handler.check()


@dataclass
class Canary:
    """Two SDK clients on their own channel: every round trip must arrive."""

    publisher: Any
    channel: Any
    got: Collector = field(default_factory=Collector)
    sent: int = 0

    async def round_trip(self) -> None:
        self.sent += 1
        await self.channel.publish("canary", f"alive {self.sent}")
        items = await self.got.wait_for(self.sent, timeout=5)
        assert items[-1].data == f"alive {self.sent}"


@pytest.fixture
async def canary(hub: HubEndpoint) -> AsyncIterator[Canary]:
    publisher, subscriber = hub.realtime("canary-pub"), hub.realtime("canary-sub")
    await wait_state(publisher)
    await wait_state(subscriber)
    bird = Canary(publisher, publisher.channels.get("canary:fuzz"))
    await subscriber.channels.get("canary:fuzz").subscribe(bird.got.add)
    await bird.round_trip()
    yield bird
    await bird.round_trip()
    assert publisher.connection.state.value == "connected"
    assert subscriber.connection.state.value == "connected"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# ---- the frame decoder (pure) ---------------------------------------------------------------


def decodes_or_refuses(raw: str | bytes, fmt: str) -> None:
    try:
        frame = decode_frame(raw, fmt)  # type: ignore[arg-type]
    except AblyError as exc:
        assert exc.code in (40000, 40013) and exc.status == 400
        return
    assert isinstance(frame, dict)
    assert isinstance(frame["action"], int) and not isinstance(frame["action"], bool)


@budget(FAST * 3)
@given(
    raw=st.one_of(
        wire_payloads("json"),
        wire_payloads("msgpack"),
        JSONISH.map(json.dumps),
        PACKABLE.map(lambda v: msgpack.packb(v, use_bin_type=True)),
    ),
    fmt=st.sampled_from(["json", "msgpack"]),
)
def test_frame_decoder_decodes_or_refuses_with_40000(raw: str | bytes, fmt: str) -> None:
    TRIED["frame decoder"] += 1
    decodes_or_refuses(raw, fmt)


# ---- the WebSocket endpoint -----------------------------------------------------------------


def peek_action(payload: str | bytes, fmt: str) -> Any:
    """The action the hub will read from this payload, if it can read one."""
    try:
        frame = decode_frame(payload, fmt)  # type: ignore[arg-type]
    except AblyError:
        return None
    return frame.get("action")


def wire_decode(msg: aiohttp.WSMessage) -> dict[str, Any]:
    if msg.type == aiohttp.WSMsgType.BINARY:
        return msgpack.unpackb(msg.data, raw=False)
    return json.loads(msg.data)


async def ws_case(hub: HubEndpoint, http: aiohttp.ClientSession, payload: Any, fmt: str) -> None:
    """Send one hostile payload on a fresh connection, then a ping; check every answer."""
    params = {"v": "5", "key": hub.key, "clientId": "fuzzer"}
    if fmt == "msgpack":
        params["format"] = "msgpack"
    action = peek_action(payload, fmt)
    async with http.ws_connect(f"ws://{hub.host}:{hub.port}/", params=params) as ws:
        first = wire_decode(await ws.receive(5))
        assert first["action"] == 4, first
        if isinstance(payload, bytes):
            await ws.send_bytes(payload)
        else:
            await ws.send_str(payload)
        probe = encode({"action": 0, "id": "probe"}, fmt)
        await (ws.send_bytes(probe) if isinstance(probe, bytes) else ws.send_str(probe))
        replies, probed, closed, reply_for_0 = [], False, False, False
        wants_reply = action in (14, 15, 19, 21)
        while not (probed and (reply_for_0 or not wants_reply)):
            msg = await ws.receive(5)
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                closed = True
                break
            frame = wire_decode(msg)
            if frame.get("action") == 0:
                probed = probed or frame.get("id") == "probe"
                continue
            replies.append(frame)
            if frame.get("action") in (1, 2) and frame.get("msgSerial") == 0:
                reply_for_0 = True
            if frame.get("action") == 9 and "channel" not in frame:
                wants_reply = False  # a connection-level error: no ACK will follow
    errors = [f["error"] for f in replies if f.get("action") in (2, 9)]
    for error in errors:
        assert error["code"] in WS_CODES, (payload, error)
        assert 400 <= error["statusCode"] < 500, (payload, error)
        assert error["message"]
    if closed:
        fatal = [f for f in replies if f.get("action") == 9 and "channel" not in f]
        asked = action in (5, 7)  # DISCONNECT, CLOSE
        assert fatal or asked, ("closed without an ERROR", payload, replies)
        if action == 7:
            assert any(f.get("action") == 8 for f in replies), "CLOSE is answered with CLOSED"


@budget(FAST)
@given(payload=wire_payloads("json"))
@example(payload='{"action": 15, "msgSerial": 0, "channel": "fuzz", "messages": [{"data": 1}]}')
@example(payload='{"action": 14, "msgSerial": 0, "channel": "fuzz", "presence": [{}]}')
async def test_ws_json_frames(hub, http, canary, crashes, payload) -> None:
    TRIED["websocket json"] += 1
    await ws_case(hub, http, payload, "json")
    await canary.round_trip()


@budget(FAST)
@given(payload=wire_payloads("msgpack"))
async def test_ws_msgpack_frames(hub, http, canary, crashes, payload) -> None:
    TRIED["websocket msgpack"] += 1
    await ws_case(hub, http, payload, "msgpack")
    await canary.round_trip()


@pytest.fixture(scope="module", autouse=True)
def figures() -> Any:
    yield
    record_figures("tests/abuse/test_fuzz.py")


# ---- REST -----------------------------------------------------------------------------------

ROUTES = [
    ("GET", "/time"),
    ("POST", "/keys/{key}/requestToken"),
    ("POST", "/apps"),
    ("DELETE", "/apps/{app}"),
    ("GET", "/channels/{channel}"),
    ("GET", "/channels/{channel}/messages"),
    ("POST", "/channels/{channel}/messages"),
    ("GET", "/channels/{channel}/messages/{serial}"),
    ("PATCH", "/channels/{channel}/messages/{serial}"),
    ("GET", "/channels/{channel}/messages/{serial}/versions"),
    ("GET", "/channels/{channel}/presence"),
    ("GET", "/channels/{channel}/presence/history"),
    ("PUT", "/channels/{channel}/messages"),  # a method no route has
    ("GET", "/no/such/route"),
]
QUERY_KEYS = ["limit", "direction", "start", "end", "from_serial", "cursor", "clientId", "x"]
HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
SEGMENT = (
    st.sampled_from([*GOOD_CHANNELS, *BAD_CHANNELS[1:], "0000000000000001", "%", "..", "x/y"])
    | HEADER_TEXT.filter(bool)
).map(lambda s: quote(s, safe=""))


@st.composite
def rest_requests(draw: st.DrawFn) -> dict[str, Any]:
    method, template = draw(st.sampled_from(ROUTES))
    path = template.format(
        key=draw(SEGMENT | st.just("{keyname}")),
        app=draw(SEGMENT | st.just("{app}")),
        channel=draw(SEGMENT),
        serial=draw(SEGMENT),
    )
    query = draw(st.dictionaries(st.sampled_from(QUERY_KEYS), HEADER_TEXT, max_size=3))
    auth = draw(
        st.sampled_from(["basic", "bearer", "garbage-basic", "garbage-bearer", "none", "x"])
    )
    content_type = draw(
        st.sampled_from(["application/json", "application/x-msgpack", "text/plain", None])
    )
    accept = draw(st.sampled_from(["application/json", "application/x-msgpack", None]))
    body = draw(
        st.one_of(
            st.none(),
            st.binary(max_size=300),
            JSONISH.map(lambda v: json.dumps(v).encode()),
            st.lists(MESSAGE, max_size=3).map(lambda v: json.dumps(v).encode()),
            MESSAGE.map(lambda v: json.dumps(v).encode()),
            PACKABLE.map(lambda v: msgpack.packb(v, use_bin_type=True)),
            mutated(protocol_frames().map(lambda f: json.dumps(f).encode())),
        )
    )
    return {
        "method": method,
        "route": template,
        "path": path,
        "query": query,
        "auth": auth,
        "content_type": content_type,
        "accept": accept,
        "body": body,
    }


def rest_headers(hub: HubEndpoint, request: dict[str, Any]) -> dict[str, str]:
    import base64

    auth = hub.running.hub.auth  # type: ignore[attr-defined]
    headers: dict[str, str] = {}
    choice = request["auth"]
    if choice == "basic":
        headers["Authorization"] = "Basic " + base64.b64encode(hub.key.encode()).decode()
    elif choice == "bearer":
        token = auth.issue_token(hub.key.split(":")[0], "fuzzer")["token"]
        headers["Authorization"] = "Bearer " + base64.b64encode(token.encode()).decode()
    elif choice == "garbage-basic":
        headers["Authorization"] = "Basic !!notbase64"
    elif choice == "garbage-bearer":
        headers["Authorization"] = "Bearer " + uuid.uuid4().hex
    elif choice == "x":
        headers["Authorization"] = "Digest whatever"
    if request["content_type"]:
        headers["Content-Type"] = request["content_type"]
    if request["accept"]:
        headers["Accept"] = request["accept"]
    return headers


async def rest_case(hub: HubEndpoint, http: aiohttp.ClientSession, request: dict) -> int:
    key_name = hub.key.split(":")[0]
    path = request["path"].replace("{keyname}", key_name)
    path = path.replace("{app}", key_name.split(".")[0])
    url = f"{hub.base_url}{path}"
    async with http.request(
        request["method"],
        url,
        params=request["query"],
        data=request["body"],
        headers=rest_headers(hub, request),
    ) as response:
        raw = await response.read()
        status = response.status
        assert status in (200, 201, 204, 400, 401, 404, 405, 413), (request, status, raw[:300])
        if status >= 400:
            if response.content_type == "application/x-msgpack":
                body = msgpack.unpackb(raw, raw=False)
            else:
                body = json.loads(raw)
            error = body["error"]
            assert error["code"] in REST_CODES, (request, error)
            assert error["statusCode"] == status, (request, error)
            assert response.headers["X-Ably-Errorcode"] == str(error["code"])
        return status


@budget(FAST * 2)
@given(request=rest_requests())
@example(
    request={
        "method": "POST",
        "route": "/channels/{channel}/messages",
        "path": "/channels/fuzz/messages",
        "query": {},
        "auth": "basic",
        "content_type": "application/json",
        "accept": None,
        "body": b'{"data": "' + b"x" * 1_100_000 + b'"}',
    }
)
async def test_rest_routes(hub, http, canary, crashes, request) -> None:
    TRIED[f"rest {request['method']} {request['route']}"] += 1
    await rest_case(hub, http, request)
    await canary.round_trip()


# ---- the agent service ----------------------------------------------------------------------

SESSION_NAMES = st.sampled_from(["session:fuzz-a", "session:fuzz-b", *BAD_CHANNELS[:4]])
INVOCATIONS = st.one_of(
    st.binary(max_size=200),
    JSONISH.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {},
        optional={
            "inputEventId": st.text(max_size=30) | JSONISH,
            "sessionName": SESSION_NAMES | JSONISH,
            "extra": JSONISH,
        },
    ).map(lambda v: json.dumps(v).encode()),
)


@st.composite
def agent_requests(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        return {"method": "POST", "path": "/api/chat", "body": draw(INVOCATIONS), "params": {}}
    params = draw(
        st.dictionaries(
            st.sampled_from(["clientId", "capability", "x"]),
            st.sampled_from(["", "*", "alice", " ", "a" * 300]) | HEADER_TEXT,
            max_size=2,
        )
    )
    return {"method": "GET", "path": "/api/token", "body": None, "params": params}


@pytest.fixture
async def agent(hub: HubEndpoint, tmp_path: Path) -> AsyncIterator[Any]:
    settings = demo_settings(trigger_deadline_s=0.05)
    async with running_agent(hub, settings, tmp_path / "agent") as running:
        yield running
        # After the barrage, a real turn still runs from start to end.
        wire = await recorder(hub, "session:canary")
        alice = await Client.connect(hub, "session:canary", "alice")
        _cmid, event_id = await alice.prompt("still there?")
        status, ids = await post(running, invocation(event_id, "session:canary"))
        assert status == 200, ids
        end = await wire.wait_for(lambda _m: wire.run_end(ids["runId"]))
        assert transport(end)["run-reason"] == "complete"


@budget(FAST)
@given(request=agent_requests())
@example(  # found by this test: a session name the hub refuses was a 500, now 400 / 40010
    request={
        "method": "POST",
        "path": "/api/chat",
        "body": b'{"inputEventId":"0","sessionName":" "}',
        "params": {},
    }
)
async def test_agent_service_inputs(hub, http, agent, crashes, request) -> None:
    TRIED[f"agent {request['method']} {request['path']}"] += 1
    url = f"http://127.0.0.1:{agent.port}{request['path']}"
    async with http.request(
        request["method"], url, data=request["body"], params=request["params"]
    ) as response:
        status = response.status
        raw = await response.read()
        assert status in (200, 400, 404, 429), (request, status, raw[:300])
        if status >= 400:
            error = json.loads(raw)["error"]
            assert error["code"] in AGENT_CODES and error["statusCode"] == status, (request, error)
            assert error["message"]


# ---- soak variants --------------------------------------------------------------------------


@pytest.mark.soak
@budget(SOAK)
@given(payload=wire_payloads("json") | wire_payloads("msgpack").map(lambda b: b))
async def test_soak_ws_frames(hub, http, canary, crashes, payload) -> None:
    fmt = "msgpack" if isinstance(payload, bytes) else "json"
    TRIED[f"websocket {fmt}"] += 1
    await ws_case(hub, http, payload, fmt)
    await canary.round_trip()


@pytest.mark.soak
@budget(SOAK)
@given(request=rest_requests())
async def test_soak_rest_routes(hub, http, canary, crashes, request) -> None:
    TRIED[f"rest {request['method']} {request['route']}"] += 1
    await rest_case(hub, http, request)
    await canary.round_trip()
