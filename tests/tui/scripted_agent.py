"""A tiny scripted agent for the terminal-client tests, built only on the public transport API
(`AgentSession` / `Run`) and a real HTTP endpoint (POST /api/chat), like the agent service.

The answer to a prompt is scripted from its text:
- default: "Echo: <prompt>" plus a short Markdown list, in word chunks;
- "slow ...": streams the first chunks, then waits for `release` (or a cancel / steer);
- "fail ...": streams a little, then the model stream breaks (the run ends `error`);
- "delete ...": a gated tool call (`delete_files`), then suspends for approval; the
  continuation answers with the tool's output.
It enters presence as an agent with its model name, so the presence bar can show it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from tests.support.hub import HubEndpoint, wait_state
from tests.transport.agent_helpers import text_events, tool_call_events
from tui_session.protocol import approved_unexecuted_calls
from tui_session.transport.agent import AgentSession, Run

log = logging.getLogger(__name__)


def words(text: str) -> list[str]:
    out, current = [], ""
    for ch in text:
        current += ch
        if ch == " ":
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return out


def answer_for(prompt: str) -> str:
    return f"Echo: {prompt}\n\n- first point\n- second point\n"


class ScriptedAgent:
    # Named for what it is: tests must never show a scripted agent as the demo model.
    def __init__(
        self, hub: HubEndpoint, *, client_id: str = "agent", model: str = "scripted-test-agent"
    ):
        self.hub = hub
        self.client_id = client_id
        self.model = model
        self.release = asyncio.Event()  # lets "slow" prompts finish
        self.hold_after = 3  # chunks streamed before a "slow" prompt waits
        self.runs: list[Run] = []
        self.started = asyncio.Event()  # set at every run start (tests clear it)
        self._sessions: dict[str, AgentSession] = {}
        self._tasks: set[asyncio.Task] = set()
        self._realtime: Any = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._n = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> ScriptedAgent:
        self._realtime = self.hub.realtime(self.client_id)
        await wait_state(self._realtime)
        app = web.Application()
        app.router.add_post("/api/chat", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def join(self, channel_name: str) -> AgentSession:
        """Serve a session channel and enter its presence as an idle agent."""
        session = self._sessions.get(channel_name)
        if session is None:
            session = await AgentSession.connect(self._realtime, channel_name)
            self._sessions[channel_name] = session
            await session.channel.presence.enter(
                {"kind": "agent", "status": "idle", "model": self.model}
            )
        return session

    async def stop(self) -> None:
        self.release.set()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for session in self._sessions.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.end(), 5)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        session = await self.join(body.get("sessionName", ""))
        wake = asyncio.Event()
        run = await session.create_run(body, on_steer=lambda _m, _r: wake.set())
        if run.duplicate:
            return web.json_response(run.ids())
        await run.start()
        self.runs.append(run)
        self.started.set()
        task = asyncio.get_running_loop().create_task(self._serve(run, wake))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.json_response(run.ids())

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    async def _serve(self, run: Run, wake: asyncio.Event) -> None:
        try:
            if run.continuation:
                context = await run.context_messages()
                calls = approved_unexecuted_calls(context)
                for call in calls:
                    output = {
                        "type": "function_call_output",
                        "item": {
                            "type": "function_call_output",
                            "call_id": call["call_id"],
                            "output": "deleted 3 files",
                        },
                    }
                    await run.pipe(self._source([output]))
                done = "Done: deleted 3 files." if calls else "Understood: not deleting anything."
                await run.pipe(self._source(text_events(self._id("msg"), words(done))))
                await run.end()
                return
            while run.has_input():
                context = await run.context_messages()
                prompt = _last_user_text(context)
                if "delete" in prompt.lower():
                    events = tool_call_events(
                        self._id("fc"), self._id("call"), "delete_files", '{"path": "/tmp/x"}'
                    )
                    await run.pipe(self._source(events))
                    await run.suspend()
                    return
                chunks = words(answer_for(prompt))
                slow = prompt.lower().startswith("slow")
                fail = prompt.lower().startswith("fail")
                wake.clear()
                await run.pipe(
                    self._source(
                        text_events(self._id("msg"), chunks),
                        hold=(self.hold_after + 2) if slow else None,
                        wake=wake,
                        fail=5 if fail else None,
                    )
                )
            await run.end()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("scripted agent run failed")
            with contextlib.suppress(Exception):
                await run.end()

    async def _source(
        self,
        events: list[dict[str, Any]],
        *,
        hold: int | None = None,
        wake: asyncio.Event | None = None,
        fail: int | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        for i, event in enumerate(events):
            if fail is not None and i == fail:
                raise RuntimeError("model stream broke")
            if hold is not None and i == hold:
                waits = [asyncio.ensure_future(self.release.wait())]
                if wake is not None:
                    waits.append(asyncio.ensure_future(wake.wait()))
                _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for p in pending:
                    p.cancel()
            yield event


def _last_user_text(context: list[dict[str, Any]]) -> str:
    for message in reversed(context):
        if message.get("role") == "user":
            return "".join(
                part.get("text", "")
                for item in message.get("items", [])
                for part in item.get("content", [])
            )
    return ""
