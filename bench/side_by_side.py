"""The hub side by side with the per-token Redis buffer (bench/baseline_redis.py), same run,
same machine: a `tui-session hub` child process and a `redis-server` child process.

1. Fan-out: a model token to every subscriber, p50/p99 with 1, 10 and 100 subscribers in worker
   processes (bench.hub.paced_fanout serves both): hub = one response message, then one
   `append_message` per token; baseline = one XADD per token, subscribers on XREAD BLOCK.
2. Late-joiner hydration: a session of 1,000 turns of ~600 tokens; time until the newest 30 turns
   are ready, and records read. Hub: ClientSession.connect (history pages, one record per
   response) and a bare REST history read; baseline: XREVRANGE, one entry per token.
3. Resume: a client cut off for 10 s mid-stream (a loopback proxy refuses it); from the
   reconnect to caught up: time and bytes through the proxy.
4. Durable appends/s: hub (ACK = fsynced, bench.hub.append_case) vs XADD with AOF
   `appendfsync always`, both with 200 in flight per stream.
5. End to end: the offline demo model at 200 tokens/s, 4 concurrent turns, to a running client:
   token produced (in the agent) -> token rendered (Textual app under Pilot, headless: the turn
   widget's text; or ClientSession's TurnUpdated if the app cannot run).
6. Scale: 100 sessions streaming 50 tokens/s each to 3 clients each: hub CPU and memory, one
   append per token and one per 2 tokens (the agent's 40 ms coalescing at 50 tokens/s). Load
   clients are bare WebSocket (msgpack) clients in worker processes, so the load stays light.

Absolute numbers depend on the machine: read the ratios. Nothing is gated on them. Every loop is
bounded in count and time. The last line printed is the JSON of the ratios (and all results).

    .venv/bin/python bench/side_by_side.py                 # ~5 min
    .venv/bin/python bench/side_by_side.py --quick         # ~2 min
    .venv/bin/python bench/side_by_side.py --profile DIR   # py-spy of the hub during 1 and 6
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import msgpack  # noqa: E402
from ably.types.message import Message  # noqa: E402

from bench import hub as hb  # noqa: E402
from bench.baseline_redis import (  # noqa: E402
    RedisPublisher,
    RedisServer,
    newest_turns,
    read_after,
    redis_subscriber_worker,
    rss_mb,
    stream_key,
)
from tui_session.agent.models.demo import chunk_text  # noqa: E402
from tui_session.protocol import (  # noqa: E402
    InputHeaders,
    Publish,
    ResponsesEncoder,
    RunHeaders,
    Step,
    default_step_id,
    user_text,
)
from tui_session.transport.client import ClientSession  # noqa: E402
from tui_session.transport.client_events import TurnUpdated  # noqa: E402

ms, percentile, ratio, table = hb.ms, hb.percentile, hb.ratio, hb.table


@dataclass(frozen=True)
class Plan:
    fanout: hb.Plan  # pace, counts and bounds of the fan-out cases
    fanout_cases: tuple[tuple[int, int], ...]  # (subscribers, worker processes)
    turns: int  # hydration: turns in the session
    turn_tokens: int  # hydration: tokens per answer
    newest: int  # hydration: turns to show
    hydrate_reps: int
    resume_pace: float  # resume: tokens per second
    resume_cut_s: float
    appends: hb.Plan  # durable appends: bench.hub's plan
    append_streams: tuple[int, ...]
    e2e_rounds: int  # end to end: rounds of 4 concurrent turns
    scale_sessions: int
    scale_rate: float  # tokens per second per session
    scale_s: float  # measured seconds per scale case (after a warm-up)
    profile_s: int


FULL = Plan(
    fanout=hb.FULL,
    fanout_cases=((1, 1), (10, 1), (100, 2)),
    turns=1000,
    turn_tokens=600,
    newest=30,
    hydrate_reps=5,
    resume_pace=200.0,
    resume_cut_s=10.0,
    appends=replace(hb.FULL, appends=10000),
    append_streams=(1, 4),
    e2e_rounds=5,
    scale_sessions=100,
    scale_rate=50.0,
    scale_s=15.0,
    profile_s=8,
)
QUICK = Plan(
    fanout=hb.QUICK,
    fanout_cases=((1, 1), (10, 1), (100, 2)),
    turns=300,
    turn_tokens=600,
    newest=30,
    hydrate_reps=3,
    resume_pace=200.0,
    resume_cut_s=10.0,
    appends=replace(hb.QUICK, appends=4000),
    append_streams=(1,),
    e2e_rounds=2,
    scale_sessions=50,
    scale_rate=50.0,
    scale_s=8.0,
    profile_s=5,
)

TOKEN = "t{:06d} "  # resume: every token the same size, so text length counts tokens
TOKEN_LEN = len(TOKEN.format(0))


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else float("nan")


async def profiled(pid: int, seconds: int, out_dir: Path | None, name: str) -> Any:
    """Start py-spy on `pid` (bench.hub.start_py_spy) when profiling; returns its handle."""
    if out_dir is None:
        return None
    started = await asyncio.to_thread(hb.start_py_spy, pid, seconds, out_dir, name)
    if started is not None:
        await asyncio.sleep(1.0)  # py-spy attaches
    return started


async def profile_summary(started: Any, seconds: int) -> dict | None:
    if started is None:
        return None
    proc, raw = started
    try:
        await asyncio.to_thread(proc.wait, seconds + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            await asyncio.to_thread(proc.wait, 5)
    return {"file": str(raw), **(await asyncio.to_thread(hb.summarize_profile, raw))}


class ProfiledStart:
    """A publisher that starts py-spy on the hub just before its first token."""

    def __init__(self, inner: Any, pid: int, seconds: int, out: Path, started: list) -> None:
        self.inner, self.pid, self.seconds = inner, pid, seconds
        self.out, self.started = out, started

    async def start(self) -> None:
        await self.inner.start()
        self.started.append(await profiled(self.pid, self.seconds, self.out, "hub-fanout"))

    async def publish(self, index: int, text: str) -> None:
        await self.inner.publish(index, text)

    async def stop(self) -> None:
        await self.inner.stop()


# ---- 1. fan-out --------------------------------------------------------------------------------


async def fanout(hub: hb.HubChild, redis: RedisServer, plan: Plan, prof: Path | None) -> dict:
    rows = []
    profile = None
    fp = plan.fanout
    seconds = int((fp.warmup + fp.messages) * fp.pace_ms / 1000) + 1
    for subs, workers in plan.fanout_cases:
        started: list[Any] = []
        wrap = None
        if prof is not None and subs == max(s for s, _ in plan.fanout_cases):

            def wrap(publisher: Any, started: list[Any] = started) -> Any:
                return ProfiledStart(publisher, hub.pid, seconds, prof, started)

        row = await hb.latency_case(hub, fp, subs, True, workers, token=True, wrap=wrap)
        if started and started[0] is not None:
            profile = await profile_summary(started[0], seconds)
        rows.append({"system": "hub", **row})
        print(f"  fan-out hub {subs} subs: done", flush=True)
        session = f"fanout-{subs}"
        spec = {"host": redis.host, "port": redis.port, "session": session, "name": "redis-sub"}
        row = await hb.paced_fanout(
            plan.fanout,
            subs,
            workers,
            redis_subscriber_worker,
            spec,
            RedisPublisher(redis, session),
            redis.cpu_s,
        )
        row["format"] = "resp"
        row["hub_cpu_ms_per_msg"] = row.pop("server_cpu_ms_per_msg")
        rows.append({"system": "redis", **row})
        print(f"  fan-out redis {subs} subs: done", flush=True)
    return {"rows": rows, "profile": profile}


# ---- 2. hydration ------------------------------------------------------------------------------


def turn_text(turn: int, tokens: int) -> str:
    words = [f"w{turn}x{i}" for i in range(tokens)]
    return " ".join(words)


def turn_ops(turn: int, tokens: int, parent: str | None) -> tuple[list, Any, str, list[dict]]:
    """A completed turn through the protocol's own encoders: the prompt's publishes, the run
    headers, the answer's codec message id and its Responses events (~`tokens` deltas)."""
    cmid = f"U{turn}"
    headers = InputHeaders(cmid, f"E{turn}", run_client_id="alice", parent=parent)
    prompt = user_text(headers, f"question {turn}")
    run = RunHeaders(
        run_id=f"R{turn}",
        invocation_id=f"I{turn}",
        input_codec_message_id=cmid,
        run_client_id="alice",
        input_client_id="alice",
        parent=cmid,
    )
    text = turn_text(turn, tokens)
    item = f"msg_{turn}"
    base = {"item_id": item, "output_index": 0, "content_index": 0}
    events = [
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": item, "type": "message", "role": "assistant", "status": "in_progress"}
            | {"content": []},
        },
        {
            "type": "response.content_part.added",
            **base,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
        *({"type": "response.output_text.delta", **base, "delta": d} for d in chunk_text(text)),
        {"type": "response.output_text.done", **base, "text": text},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {"id": item, "type": "message", "status": "completed"},
        },
    ]
    return prompt, run, f"A{turn}", events


def as_message(op: Any) -> Message:
    return Message(name=op.name, data=op.data, extras=op.extras)


async def seed_hub(hub: hb.HubChild, channel_name: str, plan: Plan) -> dict:
    """Publish the session through the hub's realtime path, batched: per batch of turns, the
    creates (prompt, run start, step start), then each answer's stream create with the run's
    end, then one append per answer carrying all its deltas and its closing status. The stored
    records are those 600 appends would leave (one latest-version message per answer)."""
    client = hub.client("alice", transport_params={"echo": "false"})
    await hb.connected(client)
    channel = client.channels.get(channel_name)
    await asyncio.wait_for(channel.attach(), hb.SETUP_S)
    start = time.perf_counter()
    batch = 20  # turns per publish: a publish must stay under 64 KiB
    appended = 0
    parent: str | None = None
    try:
        for first in range(0, plan.turns, batch):
            turns = [
                turn_ops(t, plan.turn_tokens, parent if t == first else f"A{t - 1}")
                for t in range(first, min(plan.turns, first + batch))
            ]
            parent = f"A{first + len(turns) - 1}"
            creates: list[Message] = []
            for prompt, run, _, _ in turns:
                creates += [as_message(op) for op in prompt]
                creates += [as_message(run.run_start())]
                step_id = default_step_id(run.invocation_id, 0)
                creates += [as_message(run.step_start(step_id, "alice"))]
            result = await channel.publish(creates)
            serials = iter(result.serials)
            step_serials = []
            for prompt, _, _, _ in turns:
                for _ in prompt:
                    next(serials)
                next(serials)
                step_serials.append(next(serials))
            second: list[Message] = []
            appends: list[tuple[int, Any]] = []  # (index in second, merged append)
            for (_, run, cmid, events), step_serial in zip(turns, step_serials, strict=True):
                step = Step(default_step_id(run.invocation_id, 0), "alice", step_serial)
                encoder = ResponsesEncoder(run.output_encoder(cmid, step))
                ops = [op for event in events for op in encoder.encode(event)] + encoder.finish()
                streams: dict[str, list[Any]] = {}  # stream ref -> [data, extras]
                for op in ops:
                    if not isinstance(op, Publish):
                        merged = streams[op.stream_ref]
                        merged[0] += op.data
                        merged[1] = op.extras
                        continue
                    if op.stream_ref is not None:
                        streams[op.stream_ref] = merged = ["", op.extras]
                        appends.append((len(second), merged))
                    second.append(as_message(op))
                second += [as_message(run.step_end(step)), as_message(run.run_end())]
            result = await channel.publish(second)

            async def append(serial: str, data: str, extras: dict) -> None:
                await channel.append_message(Message(serial=serial, data=data, extras=extras))

            await asyncio.gather(
                *(append(result.serials[i], d, x) for i, (d, x) in appends),
            )
            appended += len(appends)
    finally:
        await hb.close_all([client])
    return {"turns": plan.turns, "answers": appended, "seconds": time.perf_counter() - start}


async def seed_redis(redis: RedisServer, session: str, plan: Plan) -> dict:
    """The same session, the per-token way: a prompt entry, one entry per token, an end entry."""
    r = redis.client()
    start = time.perf_counter()
    key = stream_key(session)
    entries = 0
    try:
        for turn in range(plan.turns):
            pipe = r.pipeline(transaction=False)
            pipe.xadd(key, {"t": "prompt", "turn": turn, "d": f"question {turn}"})
            for piece in chunk_text(turn_text(turn, plan.turn_tokens)):
                pipe.xadd(key, {"t": "tok", "turn": turn, "d": piece})
            pipe.xadd(key, {"t": "end", "turn": turn, "d": ""})
            entries += len(await pipe.execute())
    finally:
        await r.aclose()
    return {"entries": entries, "seconds": time.perf_counter() - start}


async def hydrate_client(hub: hb.HubChild, channel_name: str, plan: Plan, n: int) -> dict:
    """ClientSession.connect on an already connected client: attach, history pages of 100,
    decode, presence enter; the window asks for the newest 30 turns (60 messages)."""
    realtime = hub.client(f"joiner-{n}")
    read = 0

    def count(event: Any) -> None:
        nonlocal read
        if getattr(event, "source", None) == "history":
            read += 1

    try:
        await hb.connected(realtime)
        start = time.perf_counter()
        session = await ClientSession.connect(
            realtime,
            channel_name,
            agent_url=None,
            device="bench",
            initial_messages=2 * plan.newest,
            listener=count,
        )
        elapsed = time.perf_counter() - start
        runs = session.runs()
        texts = [turn.text for turn in runs]
        ok = len(runs) >= plan.newest and texts[-1] == turn_text(plan.turns - 1, plan.turn_tokens)
        await session.close()
    finally:
        await hb.close_all([realtime])
    return {"seconds": elapsed, "records": read, "ok": ok}


async def hydrate_rest(hub: hb.HubChild, channel_name: str, plan: Plan) -> dict:
    """The REST history API: the newest page holding 30 turns (6 records a turn), raw."""
    rest = hb.hub_rest(hub.host, hub.port, hub.key, "joiner-rest")
    try:
        await rest.time()  # the token, and the HTTP connection, before timing
        start = time.perf_counter()
        page = await rest.channels.get(channel_name).history(limit=6 * plan.newest)
        items = list(page.items)
        elapsed = time.perf_counter() - start
        newest = turn_text(plan.turns - 1, plan.turn_tokens)
        ok = any(m.data == newest for m in items)
    finally:
        with contextlib.suppress(Exception):
            await rest.close()
    return {"seconds": elapsed, "records": len(items), "ok": ok}


async def hydrate_redis(redis: RedisServer, session: str, plan: Plan) -> dict:
    r = redis.client()
    try:
        await r.ping()
        start = time.perf_counter()
        texts, read = await newest_turns(r, session, plan.newest)
        elapsed = time.perf_counter() - start
        newest = turn_text(plan.turns - 1, plan.turn_tokens)
        ok = len(texts) == plan.newest and texts[-1].endswith(newest)
    finally:
        await r.aclose()
    return {"seconds": elapsed, "records": read, "ok": ok}


async def hydration(hub: hb.HubChild, redis: RedisServer, plan: Plan) -> dict:
    channel_name = "session:hydrate"
    seeded_hub = await seed_hub(hub, channel_name, plan)
    seeded_redis = await seed_redis(redis, "hydrate", plan)
    print(
        f"  seeded {plan.turns} turns: hub {seeded_hub['seconds']:.1f} s, "
        f"redis {seeded_redis['entries']} entries {seeded_redis['seconds']:.1f} s",
        flush=True,
    )
    runs: dict[str, list[dict]] = {"hub, ClientSession": [], "hub, REST history": [], "redis": []}
    for n in range(plan.hydrate_reps):
        runs["hub, ClientSession"].append(await hydrate_client(hub, channel_name, plan, n))
        runs["hub, REST history"].append(await hydrate_rest(hub, channel_name, plan))
        runs["redis"].append(await hydrate_redis(redis, "hydrate", plan))
    rows = []
    for what, results in runs.items():
        rows.append(
            {
                "what": what,
                "runs": len(results),
                "ms_p50": round(1000 * statistics.median(r["seconds"] for r in results), 2),
                "ms_min": round(1000 * min(r["seconds"] for r in results), 2),
                "records": results[0]["records"],
                "verified": all(r["ok"] for r in results),
            }
        )
    return {"rows": rows, "seed": {"hub": seeded_hub, "redis": seeded_redis}}


# ---- 3. resume ---------------------------------------------------------------------------------


class CountingProxy:
    """A loopback TCP proxy that counts bytes and can be cut: `cut()` resets every connection
    and refuses new ones (accept, then close) until `restore()`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.bytes = 0
        self.refusing = False
        self.reconnected_at: float | None = None  # first connection accepted after restore()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        if self.reconnected_at is None:
            self.reconnected_at = time.perf_counter()
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    self.bytes += len(data)
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._writers -= {writer, up_writer}

    def cut(self) -> None:
        self.refusing = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.bytes = 0
        self.reconnected_at = None
        self.refusing = False

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)


class Stream:
    """Paced tokens into `send(index)`; `durable` counts the acknowledged ones, in order."""

    def __init__(self, pace: float, send: Any) -> None:
        self.pace, self.send = pace, send
        self.sent = 0
        self.acked: set[int] = set()
        self.durable = 0  # tokens 0..durable-1 are all acknowledged
        self.pending: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            delay = start + self.sent / self.pace - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self._one(self.sent))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)
            self.sent += 1

    async def _one(self, index: int) -> None:
        await self.send(index)
        self.acked.add(index)
        while self.durable in self.acked:
            self.acked.discard(self.durable)
            self.durable += 1

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self.pending):
            task.cancel()
        await asyncio.gather(*self.pending, return_exceptions=True)


async def resume_case(system: str, plan: Plan, proxy: CountingProxy, stream: Stream, have: Any):
    """Stream, cut for resume_cut_s, restore; `have()` is how many tokens the client holds."""
    stream.start()
    await asyncio.sleep(2.0)
    received_before = have()
    proxy.cut()
    await asyncio.sleep(plan.resume_cut_s)
    proxy.restore()
    deadline = time.perf_counter() + 60
    while proxy.reconnected_at is None and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.001)
    target = stream.durable
    reconnected = proxy.reconnected_at or time.perf_counter()
    while have() < target and time.perf_counter() < deadline:  # noqa: ASYNC110 (a poll: timing)
        await asyncio.sleep(0.0005)
    caught = time.perf_counter()
    transferred = proxy.bytes
    await stream.stop()
    return {
        "system": system,
        "tokens_before_cut": received_before,
        "missed": target - received_before,
        "caught_up": have() >= target,
        "ms": round(1000 * (caught - reconnected), 2),
        "bytes": transferred,
        "bytes_per_missed_token": round(transferred / max(1, target - received_before), 1),
    }


async def resume_hub(hub: hb.HubChild, plan: Plan) -> dict:
    proxy = CountingProxy(hub.port)
    await proxy.start()
    publisher = hub.client("agent", transport_params={"echo": "false"})
    reader = hb.hub_realtime(
        hub.host, proxy.port, hub.key, "reader", disconnected_retry_timeout=500
    )
    text: list[str] = [""]

    def on_message(message: Any) -> None:
        if message.action is not None and int(message.action) == 5:
            text[0] += message.data or ""
        else:
            text[0] = message.data or ""

    try:
        await asyncio.gather(hb.connected(publisher), hb.connected(reader))
        pub = publisher.channels.get("session:resume")
        await asyncio.wait_for(pub.attach(), hb.SETUP_S)
        await asyncio.wait_for(reader.channels.get("session:resume").subscribe(on_message), 30)
        serial = (await pub.publish("response", "")).serials[0]

        async def send(index: int) -> None:
            await pub.append_message(Message(serial=serial, data=TOKEN.format(index)))

        stream = Stream(plan.resume_pace, send)
        return await resume_case("hub", plan, proxy, stream, lambda: len(text[0]) // TOKEN_LEN)
    finally:
        await hb.close_all([publisher, reader])
        await proxy.stop()


async def resume_redis(redis: RedisServer, plan: Plan) -> dict:
    proxy = CountingProxy(redis.port)
    await proxy.start()
    writer = redis.client()
    received = [0]
    last_id = ["0-0"]

    async def follow() -> None:
        while True:
            r = redis.client(proxy.port)
            try:
                while True:
                    for entry_id, _fields in await read_after(r, "resume", last_id[0], 1000):
                        last_id[0] = entry_id
                        received[0] += 1
            except (OSError, ConnectionError, Exception) as exc:
                if isinstance(exc, asyncio.CancelledError):
                    raise
                await asyncio.sleep(0.5)  # as the hub's client: retry after 500 ms
            finally:
                with contextlib.suppress(Exception):
                    await r.aclose()

    follower = asyncio.create_task(follow())
    try:
        await writer.ping()

        async def send(index: int) -> None:
            entry = {"t": "tok", "turn": 0, "d": TOKEN.format(index)}
            await writer.xadd(stream_key("resume"), entry)

        stream = Stream(plan.resume_pace, send)
        return await resume_case("redis", plan, proxy, stream, lambda: received[0])
    finally:
        follower.cancel()
        with contextlib.suppress(BaseException):
            await follower
        await writer.aclose()
        await proxy.stop()


# ---- 4. durable appends ------------------------------------------------------------------------


async def redis_aof_appends(redis: RedisServer, plan: Plan, streams: int) -> dict:
    """XADD with AOF appendfsync always: per stream one connection, `window` XADDs per
    pipeline (redis fsyncs once per event-loop pass, before replying: its group commit)."""
    window, total = plan.appends.window, plan.appends.appends
    clients = [redis.client() for _ in range(streams)]
    done = [0] * streams
    try:
        await asyncio.gather(*(c.ping() for c in clients))
        deadline = time.perf_counter() + plan.appends.case_s
        cpu0 = redis.cpu_s()
        start = time.perf_counter()

        async def run(s: int) -> None:
            key = stream_key(f"aof-{streams}-{s}")
            while done[s] < total // streams and time.perf_counter() < deadline:
                pipe = clients[s].pipeline(transaction=False)
                for _ in range(min(window, total // streams - done[s])):
                    pipe.xadd(key, {"t": "tok", "turn": 0, "d": "tok "})
                done[s] += len(await pipe.execute())

        await asyncio.gather(*(run(s) for s in range(streams)))
        elapsed = time.perf_counter() - start
        cpu = redis.cpu_s() - cpu0
    finally:
        for c in clients:
            await c.aclose()
    count = sum(done)
    return {
        "what": f"redis AOF always, {streams} stream{'s' if streams > 1 else ''}",
        "streams": streams,
        "appends": count,
        "seconds": round(elapsed, 3),
        "per_s": round(count / elapsed, 1),
        "server_cpu_us_per_append": round(cpu * 1e6 / count, 1),
    }


async def durable_appends(hub: hb.HubChild, redis_aof: RedisServer, plan: Plan) -> list[dict]:
    rows = []
    for streams in plan.append_streams:
        row = await hb.append_case(hub, plan.appends, streams, plan.appends.appends, f"d{streams}")
        row["server_cpu_us_per_append"] = row.pop("hub_cpu_us_per_append")
        rows.append(row)
        rows.append(await redis_aof_appends(redis_aof, plan, streams))
        print(f"  durable appends {streams} stream(s): done", flush=True)
    return rows


# ---- 5. end to end -----------------------------------------------------------------------------


def agent_worker(spec: dict[str, Any], pipe: Any) -> None:
    hb.run_worker(_agent_main, spec, pipe)


async def _agent_main(spec: dict[str, Any], pipe: Any) -> None:
    """The agent service with the offline model, each delta timestamped as it is produced."""
    from tui_session.agent.launch import AblyTarget, start_agent
    from tui_session.agent.models.demo import last_user_text
    from tui_session.config import AgentSettings

    settings = AgentSettings(host="127.0.0.1", port=0, model="offline-demo", demo_pace=200)
    target = AblyTarget(spec["key"], spec["host"], spec["port"])
    running = await start_agent(settings, target, Path(spec["data_dir"]))
    produced: dict[str, list[tuple[int, int]]] = {}  # prompt -> (chars so far, ns)
    backend = running.service.driver.backend

    class Recording:
        name, is_demo = backend.name, True

        def __getattr__(self, attr: str) -> Any:
            return getattr(backend, attr)

        async def stream(self, context: list[dict[str, Any]], **kw: Any) -> Any:
            marks = produced.setdefault(last_user_text(context), [])
            length = 0
            async for event in backend.stream(context, **kw):
                if event.get("type") == "response.output_text.delta":
                    length += len(event["delta"])
                    marks.append((length, time.perf_counter_ns()))
                yield event

    running.service.driver.backend = Recording()
    try:
        pipe.send(("ready", running.port))
        while not await asyncio.to_thread(pipe.poll, 0.2):
            pass
        pipe.recv()
        pipe.send(("result", produced))
    finally:
        await running.stop()


def _render_hook(seen: list[tuple[str, int, int]]) -> Any:
    """Timestamp every render of a turn widget: (run id, rendered text length, ns)."""
    from tui_session.tui.widgets.turn import TurnItem

    original = TurnItem._render_latest

    async def render(self: Any) -> None:
        await original(self)
        seen.append((self.entry_key, len(self.rendered_text), time.perf_counter_ns()))

    TurnItem._render_latest = render  # type: ignore[method-assign]

    def undo() -> None:
        TurnItem._render_latest = original  # type: ignore[method-assign]

    return undo


async def end_to_end(hub: hb.HubChild, plan: Plan, scratch: Path) -> dict:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    spec = {"host": hub.host, "port": hub.port, "key": hub.key, "data_dir": str(scratch)}
    agent = ctx.Process(target=agent_worker, args=(spec, child), daemon=True)
    agent.start()
    child.close()
    seen: list[tuple[str, int, int]] = []  # (run id, rendered chars, ns)
    prompts: dict[str, str] = {}  # run id -> prompt
    where = "TurnUpdated (ClientSession)"
    try:
        kind, port = await asyncio.to_thread(hb.receive, parent, 60)
        if kind != "ready":
            raise RuntimeError(f"agent did not start: {kind} {port}")
        agent_url = f"http://127.0.0.1:{port}"
        realtime = hub.client("e2e-user")
        await hb.connected(realtime)
        session = await ClientSession.connect(
            realtime, "session:e2e", agent_url=agent_url, device="bench"
        )

        async def rounds() -> None:
            for r in range(plan.e2e_rounds):
                texts = [f"round {r} turn {k} of the end to end bench" for k in range(4)]
                handles = await asyncio.gather(*(session.send(t) for t in texts))
                for handle, text in zip(handles, texts, strict=True):
                    run_id = await asyncio.wait_for(handle.started, 30)
                    prompts[run_id] = text
                await asyncio.wait_for(asyncio.gather(*(h.ended for h in handles)), 60)

        try:
            where = await to_screen(session, rounds, seen)
        except Exception as exc:  # the app cannot run here: measure to the client's event
            print(f"  e2e: Textual app not usable ({exc!r}); measuring to TurnUpdated", flush=True)
            seen.clear()
            prompts.clear()

            def on_event(event: Any) -> None:
                if isinstance(event, TurnUpdated):
                    view = session.turn(event.run_id)
                    if view is not None:
                        seen.append((event.run_id, len(view.text), time.perf_counter_ns()))

            unlisten = session.listen(on_event)
            await rounds()
            unlisten()
        await session.close()
        await hb.close_all([realtime])
        parent.send("stop")
        kind, produced = await asyncio.to_thread(hb.receive, parent, 30)
    finally:
        await asyncio.to_thread(agent.join, 15)
        if agent.is_alive():
            agent.terminate()
        parent.close()
    delays = []
    for run_id, prompt in prompts.items():
        renders = [(n, t) for rid, n, t in seen if rid == run_id]
        for length, made in produced.get(prompt, []):
            shown = next((t for n, t in renders if n >= length and t >= made), None)
            if shown is not None:
                delays.append(shown - made)
    delays.sort()
    tokens = sum(len(produced.get(p, [])) for p in prompts.values())
    return {
        "measured_to": where,
        "turns": len(prompts),
        "tokens": tokens,
        "samples": len(delays),
        "p50_ms": ms(percentile(delays, 0.5)),
        "p99_ms": ms(percentile(delays, 0.99)),
        "max_ms": ms(delays[-1]) if delays else float("nan"),
    }


async def to_screen(session: ClientSession, rounds: Any, seen: list) -> str:
    """Run the Textual app headless (Pilot) on the open session while the rounds run."""
    from tui_session.config import Settings
    from tui_session.tui.app import make_app
    from tui_session.tui.options import ChatOptions

    app = make_app(
        Settings(), session, ChatOptions(session_name="session:e2e", spinner=False, notify="off")
    )
    undo = _render_hook(seen)
    try:
        async with app.run_test(headless=True, size=(120, 60)) as pilot:
            await pilot.pause(0.5)
            await rounds()
            await pilot.pause(0.3)
    finally:
        undo()
    if not seen:
        raise RuntimeError("no turn was rendered")
    return "turn widget text (Textual app, Pilot, headless)"


# ---- 6. scale ----------------------------------------------------------------------------------

_SENDING: set[asyncio.Future[Any]] = set()


def keep(awaitable: Any) -> None:
    """Send without waiting (a steady pace), keeping a reference until it is done."""
    future = asyncio.ensure_future(awaitable)
    _SENDING.add(future)
    future.add_done_callback(_SENDING.discard)


def scale_worker(spec: dict[str, Any], pipe: Any) -> None:
    hb.run_worker(_scale_main, spec, pipe)


async def _scale_main(spec: dict[str, Any], pipe: Any) -> None:
    """`spec["sessions"]` sessions: a publisher streaming `rate` tokens/s (one append per
    `per_append` tokens) and `readers` subscribers each; bare clients, no SDK."""
    latencies: list[int] = []
    received = [0]
    stop = asyncio.Event()
    pubs, tasks, closers = await _scale_hub(spec, latencies, received)
    pipe.send(("ready", len(pubs)))
    while not await asyncio.to_thread(pipe.poll, 0.05):
        pass
    pipe.recv()  # go
    loop = asyncio.get_running_loop()
    start, tick = loop.time(), 0
    per_tick = spec["per_append"]
    interval = per_tick / spec["rate"]

    async def ticking() -> None:
        nonlocal tick
        while not stop.is_set():
            tick += 1
            delay = start + tick * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.perf_counter_ns()
            for publish in pubs:
                publish(f"{now} " + "tok " * (per_tick - 1))

    ticker = asyncio.create_task(ticking())
    while not await asyncio.to_thread(pipe.poll, 0.05):
        pass
    pipe.recv()  # stop
    stop.set()
    ticker.cancel()
    for task in tasks:
        task.cancel()
    with contextlib.suppress(BaseException):
        await asyncio.gather(ticker, *tasks, return_exceptions=True)
    pipe.send(("result", {"latencies": latencies, "received": received[0]}))
    for close in closers:
        with contextlib.suppress(Exception):
            await close()


async def _scale_hub(spec: dict[str, Any], latencies: list[int], received: list[int]) -> Any:
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))  # > 100 sockets
    query = urlencode({"key": spec["key"], "format": "msgpack", "v": "2", "echo": "false"})
    url = f"ws://{spec['host']}:{spec['port']}/?{query}"

    async def open_ws() -> Any:
        ws = await http.ws_connect(url, max_msg_size=0, autoping=True)
        frame = msgpack.unpackb(await ws.receive_bytes())
        assert frame["action"] == 4, frame
        return ws

    async def attach(ws: Any, channel: str) -> None:
        await ws.send_bytes(msgpack.packb({"action": 10, "channel": channel}))
        while msgpack.unpackb(await ws.receive_bytes())["action"] != 11:
            pass

    async def read(ws: Any) -> None:
        async for raw in ws:
            frame = msgpack.unpackb(raw.data)
            if frame.get("action") != 15:
                continue
            now = time.perf_counter_ns()
            for message in frame["messages"]:
                data = message.get("data")
                if data:
                    received[0] += 1
                    latencies.append(now - int(data.split(" ", 1)[0]))

    pubs, tasks, sockets = [], [], []
    for s in range(spec["first"], spec["first"] + spec["sessions"]):
        channel = f"session:scale-{spec['tag']}-{s}"
        for _ in range(spec["readers"]):
            ws = await open_ws()
            await attach(ws, channel)
            sockets.append(ws)
            tasks.append(asyncio.create_task(read(ws)))
        ws = await open_ws()
        await attach(ws, channel)
        sockets.append(ws)
        await ws.send_bytes(
            msgpack.packb(
                {"action": 15, "channel": channel, "msgSerial": 0, "messages": [{"data": ""}]}
            )
        )
        while (ack := msgpack.unpackb(await ws.receive_bytes()))["action"] != 1:
            pass
        serial = ack["res"][0]["serials"][0]
        counter = [1]

        def publish(data: str, ws: Any = ws, channel: str = channel, serial: str = serial,
                    counter: list[int] = counter) -> None:  # fmt: skip
            frame = {"action": 15, "channel": channel, "msgSerial": counter[0]}
            frame["messages"] = [{"action": 5, "serial": serial, "data": data}]
            counter[0] += 1
            keep(ws.send_bytes(msgpack.packb(frame)))

        async def drain_acks(ws: Any = ws) -> None:
            async for _ in ws:
                pass

        tasks.append(asyncio.create_task(drain_acks()))
        pubs.append(publish)

    async def close() -> None:
        for ws in sockets:
            await ws.close()
        await http.close()

    return pubs, tasks, [close]


async def scale_case(
    kind: str, server: Any, plan: Plan, per_append: int, prof: Path | None, key: str = ""
) -> dict:
    workers = 2
    ctx = mp.get_context("spawn")
    procs, pipes = [], []
    share = plan.scale_sessions // workers
    rss0 = rss_mb(server.pid)
    tag = f"{per_append}"
    profile = None
    try:
        for w in range(workers):
            parent, child = ctx.Pipe()
            spec = {"kind": kind, "host": server.host, "port": server.port, "key": key}
            spec |= {"first": w * share, "sessions": share, "readers": 3, "tag": tag}
            spec |= {"rate": plan.scale_rate, "per_append": per_append}
            proc = ctx.Process(target=scale_worker, args=(spec, child), daemon=True)
            proc.start()
            child.close()
            procs.append(proc)
            pipes.append(parent)
        for pipe in pipes:
            kind_, payload = await asyncio.to_thread(hb.receive, pipe, 120)
            if kind_ != "ready":
                raise RuntimeError(f"scale worker did not get ready: {kind_} {payload}")
        rss_idle = rss_mb(server.pid)
        for pipe in pipes:
            pipe.send("go")
        await asyncio.sleep(2.0)  # warm-up
        started = None
        if kind == "hub" and per_append == 1:
            started = await profiled(server.pid, plan.profile_s, prof, "hub-scale")
        cpu0, t0 = server.cpu_s(), time.perf_counter()
        rss_peak = 0.0
        while time.perf_counter() - t0 < plan.scale_s:
            await asyncio.sleep(0.5)
            rss_peak = max(rss_peak, rss_mb(server.pid))
        cpu, elapsed = server.cpu_s() - cpu0, time.perf_counter() - t0
        if started is not None:
            profile = await profile_summary(started, plan.profile_s)
        for pipe in pipes:
            pipe.send("stop")
        latencies: list[int] = []
        received = 0
        for pipe in pipes:
            kind_, payload = await asyncio.to_thread(hb.receive, pipe, 60)
            if kind_ != "result":
                raise RuntimeError(f"scale worker failed: {kind_} {payload}")
            latencies += payload["latencies"]
            received += payload["received"]
    finally:
        for proc in procs:
            await asyncio.to_thread(proc.join, 15)
            if proc.is_alive():
                proc.terminate()
        for pipe in pipes:
            pipe.close()
    latencies.sort()
    sessions = share * workers
    return {
        "system": kind,
        "sessions": sessions,
        "clients": sessions * 3,
        "tokens_per_append": per_append,
        "tokens_per_s": round(sessions * plan.scale_rate),
        "writes_per_s": round(sessions * plan.scale_rate / per_append),
        "server_cpu_pct": round(100 * cpu / elapsed, 1),
        "rss_mb_before": rss0,
        "rss_mb_connected": rss_idle,
        "rss_mb_peak": rss_peak,
        "deliveries": received,
        "delivery_p50_ms": ms(percentile(latencies, 0.5)),
        "delivery_p99_ms": ms(percentile(latencies, 0.99)),
        "profile": profile,
    }


# ---- run ---------------------------------------------------------------------------------------


SECTIONS = ("fanout", "hydration", "resume", "appends", "e2e", "scale")


async def run(plan: Plan, quick: bool, prof: Path | None, only: tuple[str, ...]) -> dict:
    hb.quiet_sdk_close_errors(asyncio.get_running_loop())
    scratch = Path(tempfile.mkdtemp(prefix="tui-session-side-"))
    hub = hb.HubChild(scratch / "hub")
    redis = RedisServer(scratch / "redis")
    redis_aof = RedisServer(scratch / "redis-aof", aof=True)
    machine = hb.machine()
    results: dict[str, Any] = {"bench": "side_by_side", "quick": quick, "machine": machine}
    try:
        (scratch / "hub").mkdir()
        hub.start()
        redis.start()
        redis_aof.start()
        print(
            f"hub pid {hub.pid} :{hub.port}, redis-server pids {redis.pid} :{redis.port} "
            f"(--save '') and {redis_aof.pid} :{redis_aof.port} (AOF always); scratch {scratch}",
            flush=True,
        )
        if "fanout" in only:
            results["fanout"] = await fanout(hub, redis, plan, prof)
        if "hydration" in only:
            results["hydration"] = await hydration(hub, redis, plan)
            print("  hydration: done", flush=True)
        if "resume" in only:
            results["resume"] = [await resume_hub(hub, plan), await resume_redis(redis, plan)]
            print("  resume: done", flush=True)
        if "appends" in only:
            results["appends"] = await durable_appends(hub, redis_aof, plan)
        if "e2e" in only:
            results["e2e"] = await end_to_end(hub, plan, scratch)
            print("  end to end: done", flush=True)
        if "scale" in only:
            scale = []
            for per_append in (1, 2):
                scale.append(await scale_case("hub", hub, plan, per_append, prof, hub.key))
                print(f"  scale hub, {per_append} token(s)/append: done", flush=True)
            results["scale"] = scale
    finally:
        hub.stop()
        redis.stop()
        redis_aof.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    results["ratios"] = ratios(results)
    results["sdk_close_errors"] = hb.SDK_CLOSE_ERRORS[0]
    report(results, plan)
    return results


def ratios(results: dict) -> dict[str, float]:
    """Baseline over hub (>1: the hub is ahead) for times, bytes, records and CPU; hub over
    baseline for appends/s."""
    out: dict[str, float] = {}
    if "fanout" in results:
        rows = results["fanout"]["rows"]
        for subs in sorted({r["subscribers"] for r in rows}):
            h = next(r for r in rows if r["subscribers"] == subs and r["system"] == "hub")
            b = next(r for r in rows if r["subscribers"] == subs and r["system"] == "redis")
            out[f"fanout_p50_{subs}subs_redis_over_hub"] = ratio(b["p50_ms"], h["p50_ms"])
            out[f"fanout_p99_{subs}subs_redis_over_hub"] = ratio(b["p99_ms"], h["p99_ms"])
    if "hydration" in results:
        hyd = {r["what"]: r for r in results["hydration"]["rows"]}
        for what, key in (("hub, ClientSession", "client"), ("hub, REST history", "rest")):
            out[f"hydration_time_redis_over_hub_{key}"] = ratio(
                hyd["redis"]["ms_p50"], hyd[what]["ms_p50"]
            )
            out[f"hydration_records_redis_over_hub_{key}"] = ratio(
                hyd["redis"]["records"], hyd[what]["records"]
            )
    if "resume" in results:
        h, b = results["resume"]
        out["resume_time_redis_over_hub"] = ratio(b["ms"], h["ms"])
        out["resume_bytes_redis_over_hub"] = ratio(b["bytes"], h["bytes"])
    for row in results.get("appends", []):
        if row["what"].startswith("hub"):
            other = next(
                r
                for r in results["appends"]
                if r["streams"] == row["streams"] and r["what"].startswith("redis")
            )
            out[f"durable_{row['streams']}streams_hub_over_redis_aof"] = ratio(
                row["per_s"], other["per_s"]
            )
    if "e2e" in results:
        out["e2e_p50_ms"] = results["e2e"]["p50_ms"]
        out["e2e_p99_ms"] = results["e2e"]["p99_ms"]
    for row in results.get("scale", []):
        out[f"scale_hub_cpu_pct_{row['tokens_per_append']}tok_per_append"] = row["server_cpu_pct"]
    return out


def print_profile(title: str, profile: dict | None) -> None:
    if not profile:
        return
    print(f"\npy-spy of the hub during {title}:")
    print("  self time:")
    for frame, pct in profile.get("self", []):
        print(f"    {pct:5.1f}%  {frame}")
    print("  inclusive, tui_session frames:")
    for frame, pct in profile.get("tui_session_inclusive", []):
        print(f"    {pct:5.1f}%  {frame}")


def report(results: dict, plan: Plan) -> None:
    fp = plan.fanout
    if "fanout" in results:
        print()
        print(
            f"1. Fan-out, token -> every subscriber, ms ({fp.messages} tokens after {fp.warmup} "
            f"warm-up, one every {fp.pace_ms:g} ms; hub: append_message, redis: XADD / XREAD BLOCK)"
        )
        print(
            table(
                results["fanout"]["rows"],
                [
                    ("system", "system"),
                    ("subs", "subscribers"),
                    ("workers", "workers"),
                    ("received", "received"),
                    ("of", "expected"),
                    ("p50", "p50_ms"),
                    ("p99", "p99_ms"),
                    ("max", "max_ms"),
                    ("first p50", "first_p50_ms"),
                    ("spread p50", "spread_p50_ms"),
                    ("ack p50", "ack_p50_ms"),
                    ("server cpu ms/token", "hub_cpu_ms_per_msg"),
                    ("sub cpu us/delivery", "sub_cpu_us_per_delivery"),
                ],
            )
        )
        print_profile("the 100-subscriber fan-out", results["fanout"]["profile"])
    if "hydration" in results:
        seed = results["hydration"]["seed"]
        print()
        print(
            f"2. Late joiner: newest {plan.newest} of {plan.turns} turns of ~{plan.turn_tokens} "
            f"tokens (seeded: hub {seed['hub']['seconds']:.1f} s, redis {seed['redis']['entries']} "
            f"entries in {seed['redis']['seconds']:.1f} s)"
        )
        print(
            table(
                results["hydration"]["rows"],
                [
                    ("what", "what"),
                    ("runs", "runs"),
                    ("ms p50", "ms_p50"),
                    ("ms min", "ms_min"),
                    ("records read", "records"),
                    ("verified", "verified"),
                ],
            )
        )
    if "resume" in results:
        print()
        print(
            f"3. Resume: cut off {plan.resume_cut_s:g} s mid-stream at {plan.resume_pace:g} "
            "tokens/s (one append / XADD per token); reconnect -> caught up"
        )
        print(
            table(
                results["resume"],
                [
                    ("system", "system"),
                    ("missed tokens", "missed"),
                    ("caught up", "caught_up"),
                    ("ms", "ms"),
                    ("bytes", "bytes"),
                    ("bytes/missed token", "bytes_per_missed_token"),
                ],
            )
        )
    if "appends" in results:
        print()
        print(
            f"4. Durable appends/s ({plan.appends.window} in flight per stream; hub ACK = fsynced "
            "group commit; redis appendfsync always, pipelines of that size)"
        )
        print(
            table(
                results["appends"],
                [
                    ("what", "what"),
                    ("appends", "appends"),
                    ("s", "seconds"),
                    ("appends/s", "per_s"),
                    ("server cpu us/append", "server_cpu_us_per_append"),
                ],
            )
        )
    if "e2e" in results:
        e2e = results["e2e"]
        print()
        print(
            "5. End to end: offline model at 200 tokens/s, 4 concurrent turns x "
            f"{plan.e2e_rounds} rounds; produced (agent) -> {e2e['measured_to']}"
        )
        print(
            table(
                [e2e],
                [
                    ("turns", "turns"),
                    ("tokens", "tokens"),
                    ("samples", "samples"),
                    ("p50 ms", "p50_ms"),
                    ("p99 ms", "p99_ms"),
                    ("max ms", "max_ms"),
                ],
            )
        )
    if "scale" in results:
        print()
        print(
            f"6. Scale: {plan.scale_sessions} sessions x {plan.scale_rate:g} tokens/s x 3 clients, "
            f"{plan.scale_s:g} s measured after 2 s warm-up (bare clients in 2 worker processes)"
        )
        print(
            table(
                results["scale"],
                [
                    ("system", "system"),
                    ("sessions", "sessions"),
                    ("clients", "clients"),
                    ("tokens/append", "tokens_per_append"),
                    ("tokens/s", "tokens_per_s"),
                    ("writes/s", "writes_per_s"),
                    ("server cpu %", "server_cpu_pct"),
                    ("rss MB before", "rss_mb_before"),
                    ("connected", "rss_mb_connected"),
                    ("peak", "rss_mb_peak"),
                    ("deliveries", "deliveries"),
                    ("p50 ms", "delivery_p50_ms"),
                    ("p99 ms", "delivery_p99_ms"),
                ],
            )
        )
        print_profile("scale, 1 token/append", results["scale"][0]["profile"])
    print()
    print("Ratios (baseline / hub for times, bytes, records, CPU; hub / baseline for appends/s):")
    for name, value in results["ratios"].items():
        print(f"  {name}: {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (~2 min)")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy the hub in 1 and 6")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write all results here")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    only = tuple(args.only.split(",")) if args.only else SECTIONS
    results = asyncio.run(run(plan, args.quick, args.profile, only))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    summary = {k: results[k] for k in ("bench", "quick", "machine", "ratios")}
    print(json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
