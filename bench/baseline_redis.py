"""The baseline: the per-token Redis buffer most teams build first, on a real `redis-server`.

The pattern (what `bench/side_by_side.py` measures the hub against):
- every model token is one `XADD` to the session's stream (`session:<name>`), an entry
  `{t: "prompt" | "tok" | "end", turn: <n>, d: <text>}`;
- a live client sits on `XREAD BLOCK` from the last id it has;
- a client that reconnects replays from its last id (`XREAD` / `XRANGE` after it), and a late
  joiner reads backwards (`XREVRANGE`) until it has the turns it wants to show.

`RedisServer` starts the Debian `redis-server` on a free loopback port with its own temp dir
(`--save ''`, no AOF; or AOF with `appendfsync always` for durable writes) and stops it after.

    .venv/bin/python bench/baseline_redis.py     # a smoke run: start, stream, replay, stop
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis.asyncio as aioredis  # noqa: E402

from bench.hub import SETUP_S, Samples, free_port, process_cpu_s, run_worker  # noqa: E402

PAGE = 1000  # entries per XREAD / XREVRANGE call


class RedisServer:
    """`redis-server` on 127.0.0.1:<free port>, data in `root`; `aof`: every write fsynced."""

    def __init__(self, root: Path, *, aof: bool = False) -> None:
        self.root = root
        self.aof = aof
        self.host = "127.0.0.1"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found (apt-get install -y redis-server)")
        self.root.mkdir(parents=True, exist_ok=True)
        command = [binary, "--bind", self.host, "--port", str(self.port), "--dir", str(self.root)]
        command += ["--save", "", "--daemonize", "no", "--protected-mode", "yes"]
        command += ["--logfile", str(self.root / "redis.log"), "--maxclients", "2000"]
        if self.aof:
            command += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            command += ["--appendonly", "no"]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with subprocess.Popen(
                    ["redis-cli", "-h", self.host, "-p", str(self.port), "ping"],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                ) as ping:
                    if ping.communicate(timeout=5)[0].strip() == b"PONG":
                        return
            except (OSError, subprocess.TimeoutExpired):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_s(self) -> float:
        return process_cpu_s(self.pid)

    def rss_mb(self) -> float:
        return rss_mb(self.pid)

    def client(self, port: int | None = None) -> aioredis.Redis:
        """One connection (no pool): what one terminal holds. `port`: e.g. a proxy's."""
        return aioredis.Redis(
            host=self.host,
            port=port or self.port,
            decode_responses=True,
            single_connection_client=True,
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


# ---- the pattern -------------------------------------------------------------------------------


def stream_key(session: str) -> str:
    return f"session:{session}"


async def add_token(r: aioredis.Redis, session: str, turn: int, text: str) -> str:
    """One model token: one XADD. Returns its entry id."""
    return await r.xadd(stream_key(session), {"t": "tok", "turn": turn, "d": text})


async def read_after(
    r: aioredis.Redis, session: str, last_id: str, block_ms: int | None = None
) -> list[tuple[str, dict[str, str]]]:
    """The entries after `last_id` (at most PAGE), waiting up to `block_ms` for the first."""
    reply = await r.xread({stream_key(session): last_id}, count=PAGE, block=block_ms)
    return reply[0][1] if reply else []


async def replay(r: aioredis.Redis, session: str, last_id: str) -> list[tuple[str, dict]]:
    """A reconnecting client: everything after its last id, page by page."""
    out: list[tuple[str, dict]] = []
    while True:
        page = await read_after(r, session, last_id)
        if not page:
            return out
        out += page
        last_id = page[-1][0]
        if len(page) < PAGE:
            return out


async def newest_turns(r: aioredis.Redis, session: str, turns: int) -> tuple[list[str], int]:
    """A late joiner: read backwards until `turns` whole turns are in; their texts (oldest
    first) and how many entries were read."""
    texts: list[list[str]] = []  # newest turn first, tokens newest first
    current: list[str] = []
    read = 0
    upper = "+"
    while len(texts) < turns:
        page = await r.xrevrange(stream_key(session), max=upper, min="-", count=PAGE)
        if not page:
            break
        read += len(page)
        for _entry_id, fields in page:
            kind = fields["t"]
            if kind == "tok":
                current.append(fields["d"])
            elif kind == "prompt":  # a turn's first entry: the turn is whole
                current.append(fields["d"] + "\n")
                texts.append(current)
                current = []
                if len(texts) == turns:
                    break
        upper = "(" + page[-1][0]
    return ["".join(reversed(t)) for t in reversed(texts)], read


# ---- fan-out: subscribers in worker processes (see bench.hub.paced_fanout) ----------------------


def redis_subscriber_worker(spec: dict[str, Any], pipe: Any) -> None:
    run_worker(_xread_and_record, spec, pipe)


async def _xread_and_record(spec: dict[str, Any], pipe: Any) -> None:
    samples = Samples(spec["subs"] * spec["total"])
    clients = [
        aioredis.Redis(
            host=spec["host"],
            port=spec["port"],
            decode_responses=True,
            single_connection_client=True,
        )
        for _ in range(spec["subs"])
    ]

    async def follow(r: aioredis.Redis) -> None:
        last_id = "0-0"  # a fresh stream per case: everything in it is this case's
        while True:
            for entry_id, fields in await read_after(r, spec["session"], last_id, 5000):
                last_id = entry_id
                samples.record(fields["d"])

    tasks: list[asyncio.Task[None]] = []
    try:
        await asyncio.wait_for(asyncio.gather(*(r.ping() for r in clients)), SETUP_S)
        tasks = [asyncio.create_task(follow(r)) for r in clients]
        await asyncio.sleep(0.2)  # every XREAD BLOCK is in
        await samples.report(spec, pipe)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for r in clients:
            await r.aclose()


class RedisPublisher:
    """The publishing side of a fan-out case: one XADD per token."""

    def __init__(self, server: RedisServer, session: str) -> None:
        self.server, self.session = server, session
        self.r: aioredis.Redis | None = None

    async def start(self) -> None:
        self.r = self.server.client()
        await self.r.ping()

    async def publish(self, index: int, text: str) -> None:
        assert self.r is not None
        await self.r.xadd(stream_key(self.session), {"t": "tok", "turn": 0, "d": text})

    async def stop(self) -> None:
        if self.r is not None:
            await self.r.aclose()


# ---- smoke run ---------------------------------------------------------------------------------


async def _smoke(server: RedisServer) -> None:
    r = server.client()
    live = server.client()
    got: list[str] = []

    async def follow() -> None:
        last = "0-0"
        while len(got) < 100:
            for entry_id, fields in await read_after(live, "smoke", last, 1000):
                last = entry_id
                got.append(fields["d"])

    follower = asyncio.create_task(follow())
    await r.xadd(stream_key("smoke"), {"t": "prompt", "turn": 0, "d": "hello"})
    ids = [await add_token(r, "smoke", 0, f"t{i} ") for i in range(99)]
    await asyncio.wait_for(follower, 10)
    missed = await replay(r, "smoke", ids[49])
    texts, read = await newest_turns(r, "smoke", 1)
    print(f"live {len(got)} entries, replay after #50: {len(missed)}, newest turn: {read} read")
    print(f"turn text: {texts[0][:40]!r}...")
    await r.aclose()
    await live.aclose()


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="tui-session-redis-"))
    server = RedisServer(root)
    try:
        server.start()
        print(f"redis-server pid {server.pid} on {server.host}:{server.port} ({root})")
        asyncio.run(_smoke(server))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
