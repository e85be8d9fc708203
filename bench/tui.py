"""Terminal-client benchmark: the token rate `tui-session chat` renders with 1 and 4 concurrent
streams, while frame time and key-to-screen latency stay bounded.

Two processes, so the client's event loop does nothing but the client:
- a child (this script with `--serve`) runs the hub and a bench agent built on the transport's
  `AgentSession` (the same API the agent service uses). For a prompt `bench <pace> <tokens>` it
  streams a long Markdown answer (paragraphs, lists, Python fences) at `pace` tokens per second
  on an absolute schedule: the tokens due at each wake-up go out as one delta, one append.
- this process runs the real app (`make_app`, as `tui-session chat` builds it) headless under
  `App.run_test`, sends the first prompt with Enter and the others with ctrl+n (send alongside),
  and measures while the turns stream:
  - tokens delivered (in the session's model) and rendered (in the turn widgets' Markdown),
    sampled every 100 ms; each rate counts from the first token delivered to the last one
    delivered or rendered (so rendered <= delivered <= offered);
  - frame time: the duration of each `Screen._on_timer_update` of the chat screen (layout plus
    the compositor rendering the dirty regions: the whole frame except the terminal write,
    which a headless run skips), and frames per second;
  - turn render: the duration of each `TurnItem` redraw from a snapshot;
  - event-loop lag: how late a 10 ms ticker fires;
  - key-to-screen: a key pressed in the composer via Pilot every ~250 ms, timed until the
    composer's value shows it, and until the next frame has been rendered after that.
Offered = pace x streams. Loops are bounded in count and in time. The last line printed is the
JSON of all results.

    .venv/bin/python bench/tui.py            # about 1 minute
    .venv/bin/python bench/tui.py --quick    # about 25 s
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from aiohttp import web  # noqa: E402

from tui_session.agent.models.demo import chunk_text  # noqa: E402
from tui_session.config import HubSettings, Settings  # noqa: E402
from tui_session.transport.agent import AgentSession  # noqa: E402
from tui_session.transport.client import ClientSession  # noqa: E402
from tui_session.transport.connect import hub_realtime  # noqa: E402

PACES = (50, 200, 800, 2000)
STREAMS = (1, 4)
SIZE = (120, 40)
SETUP_S = 30.0
SAMPLE_S = 0.1
KEY_EVERY_S = 0.25


# --- the answer ------------------------------------------------------------------------------


def answer_tokens(count: int) -> list[str]:
    """`count` token-ish pieces of a long Markdown answer (the same text for every turn)."""
    section = (
        "## Part {n}\n\nStreaming Markdown in a terminal means re-rendering only the last block "
        "while the earlier blocks stay as they are, so a long answer costs no more per token "
        "than a short one.\n\n- a first point about part {n}\n- a second point, with `code`\n"
        "- a third point, **bold** and *italic*\n\n```python\ndef part_{n}(items):\n"
        "    total = 0\n    for item in items:\n        total += len(item)\n    return total\n"
        "```\n\n"
    )
    tokens: list[str] = []
    n = 1
    while len(tokens) < count:
        tokens.extend(chunk_text(section.format(n=n)))
        n += 1
    return tokens[:count]


class TokenCounter:
    """How many whole tokens of the answer a text prefix holds."""

    def __init__(self, tokens: list[str]) -> None:
        self.ends: list[int] = []
        total = 0
        for token in tokens:
            total += len(token)
            self.ends.append(total)

    def __call__(self, text_len: int) -> int:
        return bisect.bisect_right(self.ends, text_len)


# --- the child: hub + bench agent ------------------------------------------------------------


def text_events(item_id: str, deltas: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    base = {"item_id": item_id, "output_index": 0, "content_index": 0}
    item = {"id": item_id, "type": "message", "role": "assistant"}

    async def events() -> AsyncIterator[dict[str, Any]]:
        yield {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**item, "status": "in_progress", "content": []},
        }
        yield {
            "type": "response.content_part.added",
            **base,
            "part": {"type": "output_text", "text": "", "annotations": []},
        }
        text = ""
        async for delta in deltas:
            text += delta
            yield {"type": "response.output_text.delta", **base, "delta": delta}
        yield {"type": "response.output_text.done", **base, "text": text}
        part = {"type": "output_text", "text": text, "annotations": []}
        yield {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {**item, "status": "completed", "content": [part]},
        }

    return events()


async def paced(tokens: list[str], pace: float) -> AsyncIterator[str]:
    """Tokens on an absolute schedule; those due at one wake-up go out as one delta."""
    loop = asyncio.get_running_loop()
    start, sent = loop.time(), 0
    while sent < len(tokens):
        due = min(len(tokens), int((loop.time() - start) * pace) + 1)
        if due > sent:
            yield "".join(tokens[sent:due])
            sent = due
        if sent < len(tokens):
            await asyncio.sleep(max(0.0, start + sent / pace - loop.time()))


class BenchAgent:
    def __init__(self, host: str, port: int, key: str) -> None:
        self.realtime = hub_realtime(host, port, key, "bench-agent")
        self.sessions: dict[str, AgentSession] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.n = 0

    async def start(self) -> None:
        await asyncio.wait_for(self.realtime.connection.once_async("connected"), SETUP_S)
        app = web.Application()
        app.router.add_post("/api/chat", self.chat)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        name = body.get("sessionName", "")
        session = self.sessions.get(name)
        if session is None:
            session = self.sessions[name] = await AgentSession.connect(self.realtime, name)
        run = await session.create_run(body)
        if run.duplicate:
            return web.json_response(run.ids())
        await run.start()
        task = asyncio.get_running_loop().create_task(self.serve(run))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return web.json_response(run.ids())

    async def serve(self, run: Any) -> None:
        try:
            context = await run.context_messages()
            words = last_user_text(context).split()
            pace, count = float(words[1]), int(words[2])
            self.n += 1
            await run.pipe(text_events(f"msg_{self.n}", paced(answer_tokens(count), pace)))
        finally:
            with contextlib.suppress(Exception):
                await run.end()


def last_user_text(context: list[dict[str, Any]]) -> str:
    for message in reversed(context):
        if message.get("role") == "user":
            return "".join(
                p.get("text", "") for i in message.get("items", []) for p in i.get("content", [])
            )
    return ""


async def serve() -> None:
    from tui_session.hub.server import start_hub

    data_dir = Path(tempfile.mkdtemp(prefix="bench-tui-"))
    # no per-connection rate limit: the agent's appends are what is being measured against
    settings = HubSettings(host="127.0.0.1", port=0, data_dir=data_dir, max_inbound_rate=10**7)
    hub = await start_hub(settings)
    key = hub.hub.auth.root_key()
    agent = BenchAgent("127.0.0.1", hub.port, key)
    await agent.start()
    print(json.dumps({"port": hub.port, "key": key, "agent_port": agent.port}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()  # until the parent closes stdin
    for task in list(agent.tasks):
        task.cancel()
    for session in agent.sessions.values():
        with contextlib.suppress(Exception):
            await asyncio.wait_for(session.end(), 2)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(agent.realtime.close(), 2)
    if agent.runner is not None:
        await agent.runner.cleanup()
    await hub.stop()


# --- the client: the real app, headless ------------------------------------------------------


class Probe:
    """Timings collected by hooks on the chat screen's frames and the turn widgets' redraws."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, float]] = []  # (end time, duration)
        self.renders: list[float] = []
        self.lag: list[float] = []
        self.on = False

    def install(self) -> Any:
        from tui_session.tui.screens.chat import ChatScreen
        from tui_session.tui.widgets.turn import TurnItem

        probe = self
        frame, render = ChatScreen._on_timer_update, TurnItem._render_latest

        def timed_frame(screen: Any) -> None:
            start = time.perf_counter()
            frame(screen)
            end = time.perf_counter()
            if probe.on:
                probe.frames.append((end, end - start))

        async def timed_render(item: Any) -> None:
            start = time.perf_counter()
            await render(item)
            if probe.on:
                probe.renders.append(time.perf_counter() - start)

        ChatScreen._on_timer_update = timed_frame  # type: ignore[method-assign]
        TurnItem._render_latest = timed_render  # type: ignore[method-assign]

        def uninstall() -> None:
            ChatScreen._on_timer_update = frame  # type: ignore[method-assign]
            TurnItem._render_latest = render  # type: ignore[method-assign]

        return uninstall

    async def ticker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.01
            await asyncio.sleep(0.01)
            if self.on:
                self.lag.append(max(0.0, loop.time() - due))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rate(delivered: list[tuple[float, int]], samples: list[tuple[float, int]], total: int) -> float:
    """Tokens per second from the first token delivered to the last of `samples`' tokens
    (all of them, or as many as there were when the case ran out of time)."""
    first = next((t for t, n in delivered if n > 0), None)
    if first is None or not samples:
        return 0.0
    top = max(n for _, n in samples)
    last = next(t for t, n in samples if n == top)
    return top / (last - first) if last > first else 0.0


async def until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def run_case(server: dict[str, Any], streams: int, pace: float, window_s: float) -> dict:
    from textual import events

    from tui_session.tui.app import make_app
    from tui_session.tui.options import ChatOptions, OpenSession
    from tui_session.tui.widgets import Composer, TurnItem

    host, port, key = "127.0.0.1", server["port"], server["key"]
    agent_url = f"http://127.0.0.1:{server['agent_port']}"
    channel = f"bench-{uuid.uuid4().hex[:8]}"

    async def factory(name: str) -> OpenSession:
        realtime = hub_realtime(host, port, key, "alice")
        session = await ClientSession.connect(realtime, name, agent_url=agent_url, device="bench")

        async def close() -> None:
            await session.close()
            await realtime.close()

        return OpenSession(session, close)

    options = ChatOptions(session_name=channel, spinner=False, notify="off")
    app = make_app(Settings(), factory, options)
    count = max(20, int(pace * window_s))
    counter = TokenCounter(answer_tokens(count))
    probe = Probe()
    uninstall = probe.install()
    delivered: list[tuple[float, int]] = []
    rendered: list[tuple[float, int]] = []
    keys: list[float] = []
    key_frames: list[float] = []
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(lambda: app.chat.controller is not None, SETUP_S, "the session")
            controller = app.chat.controller
            assert controller is not None
            session = controller.session
            composer = app.chat.query_one(Composer)
            driver = app._driver
            assert driver is not None
            ticker = asyncio.get_running_loop().create_task(probe.ticker())

            def items() -> list[Any]:
                return list(app.chat.query(TurnItem))

            def totals() -> tuple[int, int]:
                got = shown = 0
                for item in items():
                    view = session.turn(item.view.run_id)
                    got += counter(len(view.text)) if view is not None else 0
                    shown += counter(len(item.rendered_text))
                return got, shown

            async def sampler() -> None:
                while True:
                    got, shown = totals()
                    now = time.perf_counter()
                    delivered.append((now, got))
                    rendered.append((now, shown))
                    await asyncio.sleep(SAMPLE_S)

            sampling = asyncio.get_running_loop().create_task(sampler())
            for i in range(streams):
                composer.text = f"bench {pace:g} {count}"
                await pilot.press("enter" if i == 0 else "ctrl+n")
                # an own prompt is "pending" in the active turns as soon as it is published
                await until(lambda: app.chat.mine_busy, SETUP_S, "my turn active")
            await until(lambda: len(items()) == streams, SETUP_S, "every turn")
            probe.on = True
            started = time.perf_counter()
            limit = started + window_s * 3 + 10
            composer.text = ""
            typed = 0
            while time.perf_counter() < limit:
                if all(i.view.terminal for i in items()) and totals()[1] >= count * streams:
                    break
                # the key event Pilot.press sends, through the driver, without Pilot's
                # waiting for the app to go idle (it does not while turns stream)
                t0 = time.perf_counter()
                driver.send_message(events.Key("x", "x"))
                typed += 1
                await until(lambda n=typed: composer.text.count("x") >= n, 5, "the key")
                t1 = time.perf_counter()
                keys.append(t1 - t0)
                frames_at = len(probe.frames)
                with contextlib.suppress(TimeoutError):
                    await until(lambda f=frames_at: len(probe.frames) > f, 1, "a frame")
                    key_frames.append(probe.frames[frames_at][0] - t0)
                await asyncio.sleep(max(0.0, t0 + KEY_EVERY_S - time.perf_counter()))
            ended = time.perf_counter()
            probe.on = False
            sampling.cancel()
            ticker.cancel()
            final_got, final_shown = totals()
            delivered.append((ended, final_got))
            rendered.append((ended, final_shown))
            all_terminal = all(i.view.terminal for i in items())
            if app.chat.mine_busy:  # out of time: stop the streams before the next case
                await controller.cancel_mine()
                with contextlib.suppress(TimeoutError):
                    await until(lambda: not app.chat.mine_busy, 10, "cancelled")
    finally:
        uninstall()
    frame_times = [d for _, d in probe.frames]
    frame_ends = [e for e, _ in probe.frames]
    span = (frame_ends[-1] - frame_ends[0]) if len(frame_ends) > 1 else 0.0
    done_at = next((t for t, n in delivered if n >= count * streams), None)
    shown_at = next((t for t, n in rendered if n >= count * streams), None)
    return {
        "streams": streams,
        "pace": pace,
        "offered_tps": pace * streams,
        "tokens_per_turn": count,
        "delivered_tps": round(rate(delivered, delivered, count * streams)),
        "rendered_tps": round(rate(delivered, rendered, count * streams)),
        "complete": all_terminal and final_shown >= count * streams,
        "render_behind_ms": round((shown_at - done_at) * 1000)
        if done_at is not None and shown_at is not None
        else None,
        "fps": round((len(frame_ends) - 1) / span, 1) if span else 0.0,
        "frame_p50_ms": round(pct(frame_times, 0.5) * 1000, 2),
        "frame_p95_ms": round(pct(frame_times, 0.95) * 1000, 2),
        "frame_max_ms": round(max(frame_times, default=float("nan")) * 1000, 2),
        "turn_render_p95_ms": round(pct(probe.renders, 0.95) * 1000, 2),
        "loop_lag_p95_ms": round(pct(probe.lag, 0.95) * 1000, 2),
        "loop_lag_max_ms": round(max(probe.lag, default=float("nan")) * 1000, 2),
        "key_samples": len(keys),
        "key_p50_ms": round(pct(keys, 0.5) * 1000, 1),
        "key_p95_ms": round(pct(keys, 0.95) * 1000, 1),
        "key_max_ms": round(max(keys, default=float("nan")) * 1000, 1),
        "key_to_frame_p95_ms": round(pct(key_frames, 0.95) * 1000, 1),
    }


COLUMNS = [
    ("streams", "streams"),
    ("pace", "tok/s each"),
    ("offered_tps", "offered"),
    ("delivered_tps", "delivered"),
    ("rendered_tps", "rendered"),
    ("render_behind_ms", "behind ms"),
    ("fps", "fps"),
    ("frame_p50_ms", "frame p50"),
    ("frame_p95_ms", "frame p95"),
    ("frame_max_ms", "frame max"),
    ("turn_render_p95_ms", "turn p95"),
    ("loop_lag_p95_ms", "lag p95"),
    ("loop_lag_max_ms", "lag max"),
    ("key_p50_ms", "key p50"),
    ("key_p95_ms", "key p95"),
    ("key_max_ms", "key max"),
    ("key_to_frame_p95_ms", "key→frame p95"),
]


def table(rows: list[dict]) -> str:
    head = [title for _, title in COLUMNS]
    body = [[str(row.get(k)) for k, _ in COLUMNS] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)


async def run(quick: bool) -> dict:
    window_s = 1.5 if quick else 3.0
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert child.stdout is not None and child.stdin is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), SETUP_S)
        server = json.loads(line)
        rows = []
        for streams in STREAMS:
            for pace in PACES:
                try:
                    row = await run_case(server, streams, pace, window_s)
                except TimeoutError as err:
                    row = {"streams": streams, "pace": pace, "error": str(err)}
                rows.append(row)
                print(
                    f"  {streams} stream(s) at {pace} tok/s: rendered {row.get('rendered_tps')} "
                    f"tok/s, frame p95 {row.get('frame_p95_ms')} ms, key p95 "
                    f"{row.get('key_p95_ms')} ms",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        child.stdin.close()
        try:
            await asyncio.wait_for(child.wait(), 10)
        except TimeoutError:
            child.kill()
            await child.wait()
    return {
        "bench": "tui",
        "window_s": window_s,
        "terminal": f"{SIZE[0]}x{SIZE[1]} headless",
        "textual": metadata.version("textual"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1.5 s streams instead of 3 s")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return
    results = asyncio.run(run(args.quick))
    print(table(results["rows"]))
    print(json.dumps(results, separators=(",", ":")))


if __name__ == "__main__":
    main()
