"""SQLite persistence for the hub, in WAL mode with group commit.

Three kinds of record per channel:
- `events`: the channel log, one row per delivered event (create, update, delete, append) in
  channel order; resume and re-attach replay it after a channelSerial.
- `messages`: one row per message holding its latest, accumulated version; history, get-message
  and rewind read it, so an answer streamed by 500 appends is one record, not 500.
- `versions`: snapshots of a message at each create, update and delete.
Connections and their acknowledged msgSerials are kept too, so a client whose hub was SIGKILLed
resumes its connection after the restart and its resent frames are de-duplicated, not stored twice.

Writes go through one writer thread that commits everything queued since its last commit in one
transaction (fsynced: synchronous=FULL), then runs each submitter's callback on the event loop.
A publish is acknowledged from that callback, so an ACK always means durable.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    app TEXT NOT NULL, channel TEXT NOT NULL, seq INTEGER NOT NULL,
    serial TEXT NOT NULL, msg_id TEXT, body BLOB NOT NULL,
    PRIMARY KEY (app, channel, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_by_id ON events (app, channel, msg_id) WHERE msg_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_by_serial ON events (app, channel, serial, seq);
CREATE TABLE IF NOT EXISTS messages (
    app TEXT NOT NULL, channel TEXT NOT NULL, seq INTEGER NOT NULL,
    timestamp INTEGER NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (app, channel, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS versions (
    app TEXT NOT NULL, channel TEXT NOT NULL, seq INTEGER NOT NULL, vseq INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (app, channel, seq, vseq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS connections (
    id TEXT PRIMARY KEY, key TEXT NOT NULL, state BLOB NOT NULL, touched INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS acks (
    connection_id TEXT NOT NULL, msg_serial INTEGER NOT NULL, res BLOB NOT NULL,
    PRIMARY KEY (connection_id, msg_serial)
) WITHOUT ROWID;
"""

# A statement and its parameters; dict parameters are message bodies, packed at commit time.
Sql = tuple[str, tuple[Any, ...]]
MESSAGE_ROW_SQL = (
    "INSERT OR REPLACE INTO messages (app, channel, seq, timestamp, body) VALUES (?,?,?,?,?)"
)
Done = Callable[[Exception | None], None]


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def unpack(blob: bytes) -> Any:
    return msgpack.unpackb(blob, raw=False, strict_map_key=False)


def fold_fragment(message: dict, fragment: dict) -> dict:
    """Apply a logged event to a snapshot: an append's data and extras, or a whole update."""
    if fragment.get("action") != 5:
        return fragment
    folded = dict(message)
    data = fragment.get("data")
    if data is not None:
        folded["data"] = data if folded.get("data") is None else folded["data"] + data
    if "extras" in fragment:
        folded["extras"] = fragment["extras"]
    folded["action"] = 1
    folded["version"] = fragment["version"]
    return folded


def serial_of(seq: int) -> str:
    """Serials are fixed-width so they sort lexicographically in channel order."""
    return f"{seq:016d}"


def seq_of(serial: str) -> int | None:
    return int(serial) if len(serial) == 16 and serial.isdigit() else None


@dataclass(frozen=True)
class HistoryQuery:
    backwards: bool = True
    limit: int = 100
    start: int | None = None  # ms since epoch, inclusive
    end: int | None = None  # ms since epoch, inclusive
    until_seq: int | None = None  # from_serial: nothing after the attach point
    cursor: int | None = None  # continue after (forwards) / before (backwards) this seq


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = self._open()
        self._writer.executescript(SCHEMA)
        self._reader = self._open()
        self._queue: asyncio.Queue[tuple[list[Sql], Done]] | None = None
        self._task: asyncio.Task[None] | None = None
        self.commits = 0

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    # ---- writing ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._write_loop(), name="hub-store-writer")

    async def close(self) -> None:
        if self._task is not None:
            # Let queued writes finish: everything submitted was promised an answer.
            assert self._queue is not None
            await self._queue.join()
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._writer.close()
        self._reader.close()

    def submit(self, statements: list[Sql], done: Done) -> None:
        """Queue statements for the next group commit; `done` runs once they are durable.

        Callbacks run in submission order, so replies built on them keep their order too.
        """
        assert self._queue is not None, "Store.start() first"
        self._queue.put_nowait((statements, done))

    async def _write_loop(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            statements = [s for stmts, _ in batch for s in stmts]
            error: Exception | None = None
            if statements:
                try:
                    await asyncio.to_thread(self._commit, statements)
                    self.commits += 1
                except Exception as exc:  # disk full, I/O error: every submitter is told
                    log.exception("store commit failed")
                    error = exc
            for _, done in batch:
                try:
                    done(error)
                except Exception:
                    log.exception("store callback failed")
                self._queue.task_done()

    def _commit(self, statements: Iterable[Sql]) -> None:
        """One transaction for a batch, in the writer thread. Bodies are packed here, off the
        event loop, and a message's row is written once per batch however many appends it got
        (its last state), not rewritten, whole, once per append."""
        statements = list(statements)
        last_row = {
            params[:3]: index
            for index, (sql, params) in enumerate(statements)
            if sql is MESSAGE_ROW_SQL
        }
        cur = self._writer.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            for index, (sql, params) in enumerate(statements):
                if sql is MESSAGE_ROW_SQL and last_row[params[:3]] != index:
                    continue  # a later statement of this batch writes this message's row
                cur.execute(sql, tuple(pack(p) if isinstance(p, dict) else p for p in params))
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    # ---- statements ------------------------------------------------------------------------

    @staticmethod
    def put_event(
        app: str, channel: str, seq: int, serial: str, msg_id: str | None, body: dict
    ) -> Sql:
        return (
            "INSERT INTO events (app, channel, seq, serial, msg_id, body) VALUES (?,?,?,?,?,?)",
            (app, channel, seq, serial, msg_id, body),
        )

    @staticmethod
    def put_message(app: str, channel: str, seq: int, timestamp: int, body: dict) -> Sql:
        return (MESSAGE_ROW_SQL, (app, channel, seq, timestamp, body))

    @staticmethod
    def put_version(app: str, channel: str, seq: int, vseq: int, body: dict) -> Sql:
        return (
            "INSERT OR REPLACE INTO versions (app, channel, seq, vseq, body) VALUES (?,?,?,?,?)",
            (app, channel, seq, vseq, body),
        )

    @staticmethod
    def put_connection(conn_id: str, key: str, state: dict, touched: int) -> Sql:
        return (
            "INSERT OR REPLACE INTO connections (id, key, state, touched) VALUES (?,?,?,?)",
            (conn_id, key, pack(state), touched),
        )

    @staticmethod
    def delete_connection(conn_id: str) -> list[Sql]:
        return [
            ("DELETE FROM connections WHERE id = ?", (conn_id,)),
            ("DELETE FROM acks WHERE connection_id = ?", (conn_id,)),
        ]

    @staticmethod
    def put_ack(conn_id: str, msg_serial: int, res: dict) -> Sql:
        return (
            "INSERT OR REPLACE INTO acks (connection_id, msg_serial, res) VALUES (?,?,?)",
            (conn_id, msg_serial, pack(res)),
        )

    # ---- reading (committed data only) -----------------------------------------------------

    def max_seq(self, app: str, channel: str) -> int:
        row = self._reader.execute(
            "SELECT max(seq) FROM events WHERE app = ? AND channel = ?", (app, channel)
        ).fetchone()
        return row[0] or 0

    def message(self, app: str, channel: str, seq: int) -> dict | None:
        row = self._reader.execute(
            "SELECT body FROM messages WHERE app = ? AND channel = ? AND seq = ?",
            (app, channel, seq),
        ).fetchone()
        return unpack(row[0]) if row else None

    def serial_for_id(self, app: str, channel: str, msg_id: str) -> str | None:
        row = self._reader.execute(
            "SELECT serial FROM events WHERE app = ? AND channel = ? AND msg_id = ? LIMIT 1",
            (app, channel, msg_id),
        ).fetchone()
        return row[0] if row else None

    def history(self, app: str, channel: str, q: HistoryQuery) -> tuple[list[dict], int | None]:
        """One page of latest-version messages, and the cursor of the next page (or None)."""
        where = ["app = ?", "channel = ?"]
        params: list[Any] = [app, channel]
        if q.start is not None:
            where.append("timestamp >= ?")
            params.append(q.start)
        if q.end is not None:
            where.append("timestamp <= ?")
            params.append(q.end)
        if q.until_seq is not None:
            where.append("seq <= ?")
            params.append(q.until_seq)
        if q.cursor is not None:
            where.append("seq < ?" if q.backwards else "seq > ?")
            params.append(q.cursor)
        order = "DESC" if q.backwards else "ASC"
        rows = self._reader.execute(
            f"SELECT seq, body FROM messages WHERE {' AND '.join(where)} "
            f"ORDER BY seq {order} LIMIT ?",
            (*params, q.limit + 1),
        ).fetchall()
        more = len(rows) > q.limit
        rows = rows[: q.limit]
        next_cursor = rows[-1][0] if more and rows else None
        return [unpack(body) for _, body in rows], next_cursor

    def events_between(
        self, app: str, channel: str, after: int, until: int
    ) -> list[tuple[int, dict]]:
        """The channel log in (after, until]; `until` is what has been delivered live so far."""
        rows = self._reader.execute(
            "SELECT seq, body FROM events WHERE app = ? AND channel = ? AND seq > ? AND seq <= ? "
            "ORDER BY seq",
            (app, channel, after, until),
        ).fetchall()
        return [(s, unpack(body)) for s, body in rows]

    def message_as_of(self, app: str, channel: str, seq: int, as_of: int) -> dict | None:
        """A message as it stood at channel position `as_of`: its last snapshot, plus appends.

        Reads bounded by a position never include writes that are durable but not yet
        delivered live, so what a client is sent at attach is never sent to it again.
        """
        row = self._reader.execute(
            "SELECT vseq, body FROM versions WHERE app = ? AND channel = ? AND seq = ? "
            "AND vseq <= ? ORDER BY vseq DESC LIMIT 1",
            (app, channel, seq, as_of),
        ).fetchone()
        if row is None:
            return None
        vseq, message = row[0], unpack(row[1])
        fragments = self._reader.execute(
            "SELECT body FROM events WHERE app = ? AND channel = ? AND serial = ? "
            "AND seq > ? AND seq <= ? ORDER BY seq",
            (app, channel, message["serial"], vseq, as_of),
        ).fetchall()
        for (body,) in fragments:
            message = fold_fragment(message, unpack(body))
        return message

    def latest_messages(
        self, app: str, channel: str, count: int, since_ms: int | None, as_of: int
    ) -> list[dict]:
        """The newest `count` messages (or those since a time) at a position, oldest first."""
        rows = self._reader.execute(
            "SELECT seq FROM messages WHERE app = ? AND channel = ? AND timestamp >= ? "
            "AND seq <= ? ORDER BY seq DESC LIMIT ?",
            (app, channel, since_ms or 0, as_of, count),
        ).fetchall()
        found = (self.message_as_of(app, channel, seq, as_of) for (seq,) in reversed(rows))
        return [msg for msg in found if msg is not None]

    def versions(self, app: str, channel: str, seq: int) -> list[dict]:
        rows = self._reader.execute(
            "SELECT body FROM versions WHERE app = ? AND channel = ? AND seq = ? ORDER BY vseq",
            (app, channel, seq),
        ).fetchall()
        return [unpack(body) for (body,) in rows]

    def connection(self, conn_id: str) -> tuple[str, dict] | None:
        row = self._reader.execute(
            "SELECT key, state FROM connections WHERE id = ?", (conn_id,)
        ).fetchone()
        return (row[0], unpack(row[1])) if row else None

    def acks(self, conn_id: str) -> dict[int, dict]:
        rows = self._reader.execute(
            "SELECT msg_serial, res FROM acks WHERE connection_id = ?", (conn_id,)
        ).fetchall()
        return {serial: unpack(res) for serial, res in rows}

    def expire_connections(self, touched_before: int) -> list[Sql]:
        ids = [
            r[0]
            for r in self._reader.execute(
                "SELECT id FROM connections WHERE touched < ?", (touched_before,)
            ).fetchall()
        ]
        return [s for conn_id in ids for s in self.delete_connection(conn_id)]
