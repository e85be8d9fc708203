"""Hub benchmarks: real ably-python clients against `tui-session hub` running as a child process.

1. Publish-to-receive latency with 1, 10 and 100 subscribers on one channel (msgpack, and JSON
   too for 10). The subscribers run in worker processes (each its own AblyRealtime connection),
   the publisher in this one, the hub in its own: no two sides share an event loop, except that
   the subscribers of one worker share theirs (the 100-subscriber case runs on 1 and 2 workers
   to show what that costs). The publisher sends at a steady pace, each message carrying its
   time.perf_counter_ns() (CLOCK_MONOTONIC: comparable across processes on one machine).
2. Durable appends per second: streams of `append_message` to one message each, many in flight
   at once, through the hub's group commit (an ACK means fsynced); side by side with one SQLite
   commit per append (the store's own pragmas and statements, synchronous=FULL) on a scratch file,
   and with the same statements batched, as the storage layer's ceiling.

Absolute numbers depend on the machine: read the ratios. Nothing is gated on them. Loops are
bounded in count and in time. The last line printed is the JSON of all results.

    .venv/bin/python bench/hub.py                          # about 1-2 minutes
    .venv/bin/python bench/hub.py --quick                  # about 20 s
    .venv/bin/python bench/hub.py --profile /tmp/hubprof   # also py-spy the hub during appends
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ably.types.message import Message  # noqa: E402

from tui_session.hub import messages as hub_messages  # noqa: E402
from tui_session.hub.auth import AuthStore  # noqa: E402
from tui_session.hub.store import Store, serial_of  # noqa: E402
from tui_session.transport.connect import hub_realtime, hub_rest  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
SETUP_S = 60.0  # bound on connecting and attaching one case's clients
# Defaults, except the per-connection publish rate limit (hub.max_inbound_rate, 1000/s): a
# benchmark that streams appends as fast as the hub acknowledges them must not be throttled.
BENCH_CONFIG = "[hub]\nmax_inbound_rate = 1000000\n"


@dataclass(frozen=True)
class Plan:
    messages: int  # latency: measured messages per case
    warmup: int  # latency: messages sent first and not counted
    pace_ms: float  # latency: one publish every pace_ms (a steady stream, not a flood)
    appends: int  # appends per hub case (split across its streams)
    answer_appends: int  # appends per message; then the stream starts a new one
    window: int  # appends kept in flight per stream (a sliding window)
    streams: tuple[int, ...]
    baseline_appends: int  # appends in the one-commit-per-append SQLite baseline
    case_s: float  # time bound of every timed loop
    profile_s: int  # py-spy recording time with --profile


FULL = Plan(200, 20, 10.0, 20000, 500, 200, (1, 4), 2000, 30.0, 8)
QUICK = Plan(100, 10, 10.0, 4000, 500, 200, (1, 4), 500, 10.0, 5)

# (subscribers, binary protocol, worker processes)
LATENCY_CASES = [(1, True, 1), (10, True, 1), (10, False, 1), (100, True, 1), (100, True, 2)]


# ---- the hub child process -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class HubChild:
    """`python -m tui_session.cli hub` on a free loopback port, with its own data dir."""

    def __init__(self, root: Path, config: str = BENCH_CONFIG) -> None:
        self.root = root
        self.config = config
        self.data_dir = root / "hub-data"
        self.port = free_port()
        self.host = "127.0.0.1"
        self.key = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def start(self, timeout: float = 30.0) -> None:
        config = self.root / "config.toml"
        config.write_text(self.config)  # never the user's config file
        log_path = self.root / "hub.log"
        logs = str(self.root / "logs")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TUI_SESSION_LOG_DIR": logs}
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tui_session.cli",
                "hub",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--config",
                str(config),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
        deadline = time.monotonic() + timeout
        while "tui-session hub on" not in log_path.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hub did not start: {log_path.read_text()[-2000:]!r}")
            time.sleep(0.05)
        self.key = AuthStore(self.data_dir).root_key()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_s(self) -> float:
        return process_cpu_s(self.pid)

    def client(self, client_id: str, **options: Any) -> Any:
        return hub_realtime(self.host, self.port, self.key, client_id, **options)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._log is not None:
            self._log.close()


async def connected(client: Any, timeout: float = SETUP_S) -> None:
    if client.connection.state.value != "connected":
        await asyncio.wait_for(client.connection.once_async("connected"), timeout)


async def close_all(clients: list[Any]) -> None:
    async def close(client: Any) -> None:
        with suppress(Exception):
            await asyncio.wait_for(client.close(), 5)

    await asyncio.gather(*(close(c) for c in clients))


# ---- helpers ---------------------------------------------------------------------------------

SDK_CLOSE_ERRORS = [0]


def quiet_sdk_close_errors(loop: asyncio.AbstractEventLoop) -> None:
    """ably-python 3.1.4 closes its connection in tasks nobody awaits, which fail (a bare
    Exception, ConnectionClosedOK, or `None.dispose()`) when the socket is already closing: count
    those instead of printing their tracebacks; report anything else as usual."""

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        task = context.get("task") or context.get("future")
        coro = getattr(task, "get_coro", lambda: None)()
        name = getattr(coro, "__qualname__", "")
        if name in ("WebSocketTransport.close", "ConnectionManager.close_impl"):
            SDK_CLOSE_ERRORS[0] += 1
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ms(ns: float) -> float:
    return round(ns / 1e6, 3)


def receive(pipe: Any, timeout: float) -> tuple[str, Any]:
    """The next message from a worker, or ("timeout", None)."""
    if pipe.poll(timeout):
        return pipe.recv()
    return "timeout", None


# ---- 1. latency --------------------------------------------------------------------------------


def subscriber_worker(spec: dict[str, Any], pipe: Any) -> None:
    """A worker process: `spec["subs"]` subscribers on one event loop, reporting their samples."""
    run_worker(_subscribe_and_record, spec, pipe)


def run_worker(main: Any, spec: dict[str, Any], pipe: Any) -> None:
    """Run `main(spec, pipe)` in a worker process; an exception is reported on the pipe."""
    try:
        asyncio.run(main(spec, pipe))
    except BaseException as exc:
        with suppress(Exception):
            pipe.send(("error", repr(exc)))
    finally:
        pipe.close()


class Samples:
    """What a subscriber worker records: (message index, receive - send in ns) per delivery of
    a payload "<index> <perf_counter_ns at send>"; `everything` is set once all have come."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.items: list[tuple[int, int]] = []
        self.everything = asyncio.Event()

    def record(self, data: Any) -> None:
        now = time.perf_counter_ns()
        if not data:
            return  # the create a token stream starts with
        index, sent = data.split()
        self.items.append((int(index), now - int(sent)))
        if len(self.items) >= self.expected:
            self.everything.set()

    async def report(self, spec: dict[str, Any], pipe: Any) -> None:
        """Say ready, wait for every sample (bounded by spec["run_s"]), send the result."""
        pipe.send(("ready", spec["subs"]))
        cpu0 = time.process_time()
        with suppress(TimeoutError):
            await asyncio.wait_for(self.everything.wait(), spec["run_s"])
        # Report before closing, so the server's CPU reading is not the clients' goodbyes.
        pipe.send(("result", {"samples": self.items, "cpu_s": time.process_time() - cpu0}))


async def _subscribe_and_record(spec: dict[str, Any], pipe: Any) -> None:
    quiet_sdk_close_errors(asyncio.get_running_loop())
    samples = Samples(spec["subs"] * spec["total"])
    clients: list[Any] = []

    def listener(message: Any) -> None:
        samples.record(message.data)

    try:
        for i in range(spec["subs"]):
            clients.append(
                hub_realtime(
                    spec["host"],
                    spec["port"],
                    spec["key"],
                    f"{spec['name']}-{i}",
                    use_binary_protocol=spec["binary"],
                )
            )
        await asyncio.gather(*(connected(c) for c in clients))
        channels = [c.channels.get(spec["channel"]) for c in clients]
        attaching = asyncio.gather(*(ch.subscribe(listener) for ch in channels))
        await asyncio.wait_for(attaching, SETUP_S)
        await samples.report(spec, pipe)
    finally:
        await close_all(clients)


class AblyPublisher:
    """The publishing side of a latency case: one message per publish, or (`token`) one
    response message created first and then one `append_message` per token, as an agent
    streams a model's tokens."""

    def __init__(self, hub: HubChild, channel: str, binary: bool, token: bool) -> None:
        self.hub, self.channel_name, self.binary, self.token = hub, channel, binary, token
        self.client: Any = None
        self.channel: Any = None
        self.serial: str | None = None

    async def start(self) -> None:
        self.client = self.hub.client(
            "bench-publisher", use_binary_protocol=self.binary, transport_params={"echo": "false"}
        )
        await connected(self.client)
        self.channel = self.client.channels.get(self.channel_name)
        await asyncio.wait_for(self.channel.attach(), SETUP_S)
        if self.token:
            created = await asyncio.wait_for(self.channel.publish("response", ""), SETUP_S)
            self.serial = created.serials[0]

    async def publish(self, index: int, text: str) -> None:
        if self.serial is not None:
            await self.channel.append_message(Message(serial=self.serial, data=text))
        else:
            await self.channel.publish("latency", text)

    async def stop(self) -> None:
        if self.client is not None:
            await close_all([self.client])


async def paced_fanout(
    plan: Plan,
    subs: int,
    workers: int,
    worker: Any,
    spec: dict[str, Any],
    publisher: Any,
    server_cpu_s: Any,
) -> dict:
    """Fan-out latency, whatever the server: `subs` subscribers split over `workers` spawned
    processes running `worker(spec, pipe)`; once all are ready, `publisher.publish(index,
    "<index> <sent ns>")` at a steady pace (not waiting for earlier ACKs). `server_cpu_s()`
    reads the server's CPU seconds. Returns the row of statistics (no `format`)."""
    total = plan.warmup + plan.messages
    run_s = SETUP_S + total * plan.pace_ms / 1000 + 20
    ctx = mp.get_context("spawn")
    procs: list[Any] = []
    pipes: list[Any] = []
    started = False
    try:
        shares = [subs // workers + (1 if w < subs % workers else 0) for w in range(workers)]
        for w, share in enumerate(shares):
            parent, child = ctx.Pipe()
            worker_spec = {**spec, "name": f"{spec['name']}-{w}", "subs": share}
            worker_spec |= {"total": total, "run_s": run_s}
            proc = ctx.Process(target=worker, args=(worker_spec, child), daemon=True)
            proc.start()
            child.close()
            procs.append(proc)
            pipes.append(parent)
        for pipe in pipes:
            kind, payload = await asyncio.to_thread(receive, pipe, SETUP_S + 30)
            if kind != "ready":
                raise RuntimeError(f"subscriber worker did not get ready: {kind} {payload}")

        await publisher.start()
        started = True
        acks: list[int] = []

        async def publish(index: int) -> None:
            sent = time.perf_counter_ns()
            await publisher.publish(index, f"{index} {sent}")
            if index >= plan.warmup:
                acks.append(time.perf_counter_ns() - sent)

        loop = asyncio.get_running_loop()
        server_cpu0 = server_cpu_s()
        start = loop.time()
        tasks = []
        for index in range(total):  # a steady pace: publishes do not wait for earlier ACKs
            delay = start + index * plan.pace_ms / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(publish(index)))
        await asyncio.wait_for(asyncio.gather(*tasks), plan.case_s)
        samples: list[tuple[int, int]] = []
        worker_cpu: list[float] = []
        for pipe in pipes:
            kind, payload = await asyncio.to_thread(receive, pipe, run_s)
            if kind != "result":
                raise RuntimeError(f"subscriber worker failed: {kind} {payload}")
            samples += payload["samples"]
            worker_cpu.append(payload["cpu_s"])
        busy_s = loop.time() - start
        server_cpu = server_cpu_s() - server_cpu0
    finally:
        if started:
            await publisher.stop()
        for proc in procs:
            await asyncio.to_thread(proc.join, 15)
            if proc.is_alive():
                proc.terminate()
                await asyncio.to_thread(proc.join, 5)
            if proc.is_alive():
                proc.kill()
        for pipe in pipes:
            pipe.close()

    measured = [(i, lat) for i, lat in samples if i >= plan.warmup]
    latencies = sorted(lat for _, lat in measured)
    by_message: dict[int, list[int]] = defaultdict(list)
    for index, lat in measured:
        by_message[index].append(lat)
    firsts = [min(v) for v in by_message.values()]
    spreads = [max(v) - min(v) for v in by_message.values()]
    acks.sort()
    return {
        "subscribers": subs,
        "workers": workers,
        "expected": subs * plan.messages,
        "received": len(measured),
        "p50_ms": ms(percentile(latencies, 0.50)),
        "p99_ms": ms(percentile(latencies, 0.99)),
        "max_ms": ms(latencies[-1]) if latencies else math.nan,
        "first_p50_ms": ms(statistics.median(firsts)) if firsts else math.nan,
        "spread_p50_ms": ms(statistics.median(spreads)) if spreads else math.nan,
        "ack_p50_ms": ms(percentile(acks, 0.50)),
        "ack_p99_ms": ms(percentile(acks, 0.99)),
        "server_cpu_ms_per_msg": round(server_cpu * 1000 / total, 3),
        # CPU of the subscriber workers per message delivered, and the busiest worker's share
        # of one core while the case ran (near 100%: its event loop is what queues messages).
        "sub_cpu_us_per_delivery": round(sum(worker_cpu) * 1e6 / max(1, len(samples)), 1),
        "busiest_worker_cpu_pct": round(100 * max(worker_cpu) / busy_s, 1),
    }


async def latency_case(
    hub: HubChild,
    plan: Plan,
    subs: int,
    binary: bool,
    workers: int,
    *,
    token: bool = False,
    wrap: Any = None,
) -> dict:
    """`token`: one append per token to a response message instead of one publish each;
    `wrap(publisher)`: e.g. to start a profiler when publishing starts."""
    fmt = "msgpack" if binary else "json"
    kind = "token" if token else "latency"
    channel = f"bench:{kind}:{subs}:{fmt}:{workers}"
    spec = {
        "host": hub.host,
        "port": hub.port,
        "key": hub.key,
        "channel": channel,
        "name": f"sub-{kind}-{fmt}-{subs}",
        "binary": binary,
    }
    publisher = AblyPublisher(hub, channel, binary, token)
    if wrap is not None:
        publisher = wrap(publisher)
    row = await paced_fanout(plan, subs, workers, subscriber_worker, spec, publisher, hub.cpu_s)
    row["hub_cpu_ms_per_msg"] = row.pop("server_cpu_ms_per_msg")
    return {"subscribers": subs, "format": fmt, **row}


# ---- 2. appends --------------------------------------------------------------------------------


async def append_case(hub: HubChild, plan: Plan, streams: int, appends: int, tag: str) -> dict:
    """`streams` publishers, each streaming answers of `answer_appends` appends (one message
    each, like an agent's reply), keeping `window` appends in flight."""
    clients = [
        hub.client(f"bench-agent-{tag}-{s}", transport_params={"echo": "false"})
        for s in range(streams)
    ]
    try:
        await asyncio.gather(*(connected(c) for c in clients))
        names = channels_names(tag, streams)
        channels = [c.channels.get(name) for c, name in zip(clients, names, strict=True)]
        await asyncio.wait_for(asyncio.gather(*(ch.attach() for ch in channels)), SETUP_S)
        per_stream = appends // streams
        deadline = time.perf_counter() + plan.case_s

        async def stream(channel: Any) -> list[list[Any]]:
            """A sliding window: a new append goes out as soon as one of `window` is ACKed."""
            answers: list[list[Any]] = []  # [serial, appends sent, appends acknowledged]
            in_flight = asyncio.Semaphore(plan.window)
            pending: set[asyncio.Task[None]] = set()

            async def append(answer: list[Any]) -> None:
                try:
                    await channel.append_message(Message(serial=answer[0], data="tok "))
                    answer[2] += 1
                finally:
                    in_flight.release()

            for _ in range(per_stream):
                if time.perf_counter() > deadline:
                    break
                if not answers or answers[-1][1] >= plan.answer_appends:
                    created = await asyncio.wait_for(channel.publish("response", ""), plan.case_s)
                    answers.append([created.serials[0], 0, 0])
                await asyncio.wait_for(in_flight.acquire(), plan.case_s)
                answers[-1][1] += 1
                task = asyncio.create_task(append(answers[-1]))
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.wait_for(asyncio.gather(*pending), plan.case_s)
            return answers

        hub_cpu0, own_cpu0 = hub.cpu_s(), time.process_time()
        start = time.perf_counter()
        per_channel = await asyncio.gather(*(stream(ch) for ch in channels))
        elapsed = time.perf_counter() - start
        hub_cpu, own_cpu = hub.cpu_s() - hub_cpu0, time.process_time() - own_cpu0

    finally:
        await close_all(clients)
    verified = await verify_answers(hub, channels_names(tag, streams), per_channel)
    total = sum(n for answers in per_channel for _, _, n in answers)
    return {
        "what": f"hub, {streams} stream{'s' if streams > 1 else ''}",
        "streams": streams,
        "appends": total,
        "seconds": round(elapsed, 3),
        "per_s": round(total / elapsed, 1),
        "hub_cpu_pct": round(100 * hub_cpu / elapsed, 1),
        "client_cpu_pct": round(100 * own_cpu / elapsed, 1),
        "hub_cpu_us_per_append": round(hub_cpu * 1e6 / total, 1),
        "client_cpu_us_per_append": round(own_cpu * 1e6 / total, 1),
        "verified": verified,
    }


def channels_names(tag: str, streams: int) -> list[str]:
    return [f"bench:append:{tag}:{s}" for s in range(streams)]


async def verify_answers(hub: HubChild, names: list[str], per_channel: list[Any]) -> Any:
    """Every ACK meant durable: each stored answer must hold every acknowledged fragment.
    Read over REST with a client of its own, a few at a time; True, False or the error."""
    rest = hub_rest(hub.host, hub.port, hub.key, "bench-verifier")
    reading = asyncio.Semaphore(4)

    async def check(name: str, serial: str, appended: int) -> bool:
        async with reading:
            stored = await asyncio.wait_for(rest.channels.get(name).get_message(serial), SETUP_S)
        return stored.data == "tok " * appended

    try:
        checks = [
            check(name, serial, n)
            for name, answers in zip(names, per_channel, strict=True)
            for serial, _, n in answers
        ]
        return all(await asyncio.gather(*checks))
    except Exception as exc:
        return f"error: {exc!r}"
    finally:
        with suppress(Exception):
            await rest.close()


def sqlite_appends(plan: Plan, path: Path, appends: int, per_commit: int) -> dict:
    """The hub's append statements, straight on SQLite: `per_commit` appends per transaction.

    Same pragmas (Store._open: WAL, synchronous=FULL), same schema, statements, folding and
    commit code as hub appends (event + latest message + the connection's ack record), and the
    same answers of `answer_appends` appends each.
    """
    store = Store(path)
    app, channel, conn_id = "bench", "bench:baseline", "baseline-conn"
    now = int(time.time() * 1000)
    message: dict[str, Any] = {}
    seq = done = commits = 0
    in_answer = plan.answer_appends
    try:
        start = time.perf_counter()
        while done < appends and time.perf_counter() - start < plan.case_s:
            statements = []
            for _ in range(min(per_commit, appends - done)):
                if in_answer >= plan.answer_appends:  # the next answer: a new message
                    seq += 1
                    serial = serial_of(seq)
                    message = {"id": f"m{seq}", "name": "response", "data": "", "action": 0}
                    message |= {"serial": serial, "timestamp": now, "clientId": "agent"}
                    statements += [
                        Store.put_event(app, channel, seq, serial, message["id"], message),
                        Store.put_message(app, channel, seq, now, message),
                        Store.put_version(app, channel, seq, seq, message),
                    ]
                    target, in_answer = seq, 0
                seq += 1
                version = {"serial": serial_of(seq), "timestamp": now, "clientId": "agent"}
                op = {"action": 5, "serial": message["serial"], "data": "tok ", "id": f"op{seq}"}
                fragment = hub_messages.fragment_of(message, op, version)
                message = hub_messages.fold_append(message, op, version)
                statements += [
                    Store.put_event(app, channel, seq, message["serial"], None, fragment),
                    Store.put_message(app, channel, target, now, message),
                    Store.put_ack(conn_id, seq, {"serials": [version["serial"]]}),
                ]
                in_answer += 1
                done += 1
            store._commit(statements)
            commits += 1
        elapsed = time.perf_counter() - start
    finally:
        store._writer.close()
        store._reader.close()
    return {
        "what": f"sqlite, {per_commit} append{'s' if per_commit > 1 else ''}/commit",
        "streams": 1,
        "appends": done,
        "seconds": round(elapsed, 3),
        "per_s": round(done / elapsed, 1),
        "commit_ms": round(elapsed * 1000 / commits, 3),
    }


# ---- profiling -----------------------------------------------------------------------------------


def summarize_profile(raw: Path, top: int = 12) -> dict[str, list[tuple[str, float]]]:
    """Top frames of py-spy's collapsed stacks: by self time, and tui_session frames inclusive."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            if "tui_session" in frame:
                inclusive[frame] += count
    if not total:
        return {"self": [], "tui_session_inclusive": []}

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(frame, round(100 * n / total, 1)) for frame, n in counter.most_common(top)]

    return {"self": share(own), "tui_session_inclusive": share(inclusive)}


def start_py_spy(
    pid: int, seconds: int, out_dir: Path, name: str = "hub-appends"
) -> tuple[subprocess.Popen, Path] | None:
    """py-spy recording `pid` for `seconds` into collapsed stacks (speedscope opens them too)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("--profile: py-spy not found (pip install py-spy); skipped", file=sys.stderr)
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / f"{name}.txt"
    command = [py_spy, "record", "--pid", str(pid), "--duration", str(seconds)]
    command += ["--rate", "200", "--threads", "--nonblocking", "--format", "raw"]
    command += ["--output", str(raw)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, raw


async def profile_appends(hub: HubChild, plan: Plan, out_dir: Path) -> dict | None:
    """An extra 4-stream append run, bounded in time, with py-spy sampling the hub."""
    started = await asyncio.to_thread(start_py_spy, hub.pid, plan.profile_s, out_dir)
    if started is None:
        return None
    proc, raw = started
    try:
        await asyncio.sleep(1.0)  # py-spy attaches
        bounded = Plan(**{**plan.__dict__, "case_s": plan.profile_s + 2.0})
        result = await append_case(hub, bounded, 4, 10**6, "profile")
        await asyncio.to_thread(proc.wait, plan.profile_s + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            await asyncio.to_thread(proc.wait, 5)
    summary = await asyncio.to_thread(summarize_profile, raw)
    return {"file": str(raw), "run": result, **summary}


# ---- report --------------------------------------------------------------------------------------


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    header = [title for title, _ in columns]
    body = [[str(row.get(key, "")) for _, key in columns] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = "?"
    with suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else math.nan


async def run(plan: Plan, quick: bool, profile_dir: Path | None) -> dict:
    quiet_sdk_close_errors(asyncio.get_running_loop())
    scratch = Path(tempfile.mkdtemp(prefix="tui-session-bench-"))
    hub = HubChild(scratch)
    results: dict[str, Any] = {"bench": "hub", "quick": quick, "machine": machine()}
    try:
        hub.start()
        print(
            f"hub pid {hub.pid} on {hub.host}:{hub.port}; scratch {scratch}; "
            f"{results['machine']['cpus']} CPUs, {results['machine']['cpu']}, "
            f"Python {results['machine']['python']}",
            flush=True,
        )

        latency = []
        for subs, binary, workers in LATENCY_CASES:
            row = await latency_case(hub, plan, subs, binary, workers)
            print(f"  latency {subs} subs {row['format']} / {workers} worker(s): done", flush=True)
            latency.append(row)

        appends = [sqlite_appends(plan, scratch / "baseline-1.sqlite3", plan.baseline_appends, 1)]
        print("  appends sqlite 1/commit: done", flush=True)
        for streams in plan.streams:
            appends.append(await append_case(hub, plan, streams, plan.appends, f"s{streams}"))
            print(f"  appends hub {streams} stream(s): done", flush=True)
        appends.append(
            sqlite_appends(plan, scratch / "baseline-n.sqlite3", plan.appends, plan.window)
        )
        print("  appends sqlite batched: done", flush=True)

        profile = await profile_appends(hub, plan, profile_dir) if profile_dir else None
    finally:
        hub.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    def lat(subs: int, fmt: str = "msgpack", workers: int = 1) -> dict:
        return next(
            r
            for r in latency
            if (r["subscribers"], r["format"], r["workers"]) == (subs, fmt, workers)
        )

    one_commit = appends[0]["per_s"]
    hub_rows = [r for r in appends if r["what"].startswith("hub")]
    results["latency"] = latency
    results["appends"] = appends
    results["ratios"] = {
        "p99_100subs_over_1sub": ratio(lat(100)["p99_ms"], lat(1)["p99_ms"]),
        "p99_100subs_2workers_over_1sub": ratio(lat(100, workers=2)["p99_ms"], lat(1)["p99_ms"]),
        "p50_10subs_json_over_msgpack": ratio(lat(10, "json")["p50_ms"], lat(10)["p50_ms"]),
        "p99_10subs_json_over_msgpack": ratio(lat(10, "json")["p99_ms"], lat(10)["p99_ms"]),
        **{
            f"hub_{r['streams']}streams_over_sqlite_1commit": ratio(r["per_s"], one_commit)
            for r in hub_rows
        },
        "sqlite_batched_over_1commit": ratio(appends[-1]["per_s"], one_commit),
    }
    if profile is not None:
        results["profile"] = profile
    results["sdk_close_errors"] = SDK_CLOSE_ERRORS[0]

    print()
    print(
        f"Publish-to-receive latency, ms ({plan.messages} messages after {plan.warmup} "
        f"warm-up, one every {plan.pace_ms:g} ms; subscribers in worker processes)"
    )
    print(
        table(
            latency,
            [
                ("subs", "subscribers"),
                ("format", "format"),
                ("workers", "workers"),
                ("received", "received"),
                ("of", "expected"),
                ("p50", "p50_ms"),
                ("p99", "p99_ms"),
                ("max", "max_ms"),
                ("first p50", "first_p50_ms"),
                ("spread p50", "spread_p50_ms"),
                ("ack p50", "ack_p50_ms"),
                ("ack p99", "ack_p99_ms"),
                ("hub cpu ms/msg", "hub_cpu_ms_per_msg"),
                ("sub cpu us/delivery", "sub_cpu_us_per_delivery"),
                ("worker cpu %", "busiest_worker_cpu_pct"),
            ],
        )
    )
    print(
        "  first p50: median over messages of the fastest subscriber's latency; spread p50: "
        "median of (slowest - fastest)"
    )
    print()
    print(
        f"Durable appends/s ({plan.window} in flight per stream; hub ACK = fsynced; "
        "sqlite rows run the hub's statements directly)"
    )
    print(
        table(
            appends,
            [
                ("what", "what"),
                ("appends", "appends"),
                ("s", "seconds"),
                ("appends/s", "per_s"),
                ("commit ms", "commit_ms"),
                ("hub cpu %", "hub_cpu_pct"),
                ("client cpu %", "client_cpu_pct"),
                ("hub us/append", "hub_cpu_us_per_append"),
                ("client us/append", "client_cpu_us_per_append"),
                ("verified", "verified"),
            ],
        )
    )
    if profile is not None:
        print()
        print(f"py-spy of the hub during {profile['run']['what']} appends ({plan.profile_s} s):")
        print("  self time:")
        for frame, pct in profile.get("self", []):
            print(f"    {pct:5.1f}%  {frame}")
        print("  inclusive, tui_session frames:")
        for frame, pct in profile.get("tui_session_inclusive", []):
            print(f"    {pct:5.1f}%  {frame}")
    print()
    print("Ratios:")
    for name, value in results["ratios"].items():
        print(f"  {name}: {value}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a ~20 s run with smaller counts")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="also run py-spy on the hub during an extra append run; stacks saved in DIR",
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    results = asyncio.run(run(plan, args.quick, args.profile))
    print(json.dumps(results, separators=(",", ":")))


if __name__ == "__main__":
    main()
