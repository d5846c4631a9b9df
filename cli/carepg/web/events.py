"""GET /workers/{id}/events: a worker's available shifts as they change, as Server-Sent Events.

Served by the ASGI front (front.py) on granian's event loop, not by the WSGI app: a stream is a coroutine, not a
thread, so one process holds thousands. One relay per process holds one database connection (the "listener") and
asks the feed (shifts.available_shift_changes_for, sql/shifts/available_shift_changes.sql) for all of the
process's subscribers at once:

  * while anyone listens it calls shifts.await_concerning_changes(cursor, its subscribers' workers), which asks
    inside the database every CAREPG_WEB_EVENTS_POLL seconds (5 ms; an index range of what was logged since; the
    triggers do not NOTIFY, the SQL file says why) and answers as soon as something may concern one of them, or
    after AWAIT_TIMEOUT with the cursor past changes that concern none of them (other workers' documents). When
    something may concern one, it reads the changes for every subscriber in one snapshot (one statement; with
    newcomers, one REPEATABLE READ transaction): the established ones at their shared cursor, newcomers at theirs,
    so that everyone leaves it at one cursor. Then it NOTIFYs carepg_shift_changes for other listeners;
  * each subscriber has an outbox bounded in bytes (what does not fit becomes one 'reset'), and one whose socket
    stays full for SEND_TIMEOUT seconds is dropped: it resumes with Last-Event-ID;
  * when the database goes away the streams stay open (heartbeats go on); the relay reconnects and resumes at its
    cursor, so nothing is lost within the feed's retention.

The protocol: the first event is `ready` (the stream is registered; data {"worker_id", "cursor"}); then
`available` (data: the shift as /shifts shows it, with "shift_id"), `unavailable` ({"shift_id"}) and `reset`
(refetch). Every event has an id, the cursor to resume from: the events of one batch carry the cursor before it
and its last one the cursor after it, so a client cut off in the middle of a batch gets the whole batch again
(events say what is true now: receiving one twice changes nothing). A comment every CAREPG_WEB_EVENTS_HEARTBEAT
seconds (15) keeps proxies from closing an idle stream, with an id-only message when the cursor moved, so
Last-Event-ID stays fresh.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import json
import os
import re

import psycopg

from .. import shifts
from ..errors import CarepgError, InvalidInput, ServerUnavailable, from_database
from . import logs

log = logs.setup()

OUTBOX_BYTES = 1024 * 1024  # what may wait for one subscriber; more becomes one 'reset'
SEND_TIMEOUT = 10.0  # seconds one write to a subscriber may take before it is dropped
MAX_SUBSCRIBERS = 10_000  # per process (the feed takes at most that many per call)
RECONNECT_MAX = 2.0  # seconds between attempts to reach the database, at most
# Seconds the relay's question waits in the database at most: how long a newcomer may wait for its `ready` (the
# relay's connection is busy with the question meanwhile), and one round trip per process that often when idle.
AWAIT_TIMEOUT = 0.1

# What a client may send as Last-Event-ID: a cursor (the database checks the rest, CP400).
_CURSOR = re.compile(r"[0-9]{1,19}(-[0-9]{1,19}(\.[0-9]{1,19})*)?")
_CURSOR_MAX = 20019


class Alarm:
    """A wait that ends after some seconds or at wake(), whichever comes first: a bare future and a timer, no task
    and no TimeoutError, cheap enough for every stream and every probe. (A queue's get() in a task and
    asyncio.wait() cost ~0.1 ms a stream per event: for one event to a thousand streams, most of its latency.)"""

    def __init__(self) -> None:
        self.waiter: asyncio.Future | None = None  # set while someone waits

    def wake(self, *_) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def wait(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        timer = loop.call_later(seconds, self.wake)
        try:
            await self.waiter
        finally:
            timer.cancel()
            self.waiter = None


@dataclasses.dataclass(eq=False)
class Subscriber:
    worker_id: int
    start_from: dt.datetime | None
    start_to: dt.datetime | None
    after: str | None  # Last-Event-ID: where the client stands (None: from now)
    outbox: collections.deque = dataclasses.field(default_factory=collections.deque)
    queued: int = 0  # bytes in the outbox
    registered: asyncio.Future | None = None  # the relay sets None (streaming) or the CarepgError that refused it
    cursor: str | None = None  # the last cursor sent as an event's id
    # What the stream waits on when nothing is queued: woken by send(), the client leaving or the heartbeat's time.
    alarm: Alarm = dataclasses.field(default_factory=Alarm)

    def send(self, chunk: bytes) -> None:
        self.queued += len(chunk)
        self.outbox.append(chunk)
        self.alarm.wake()

    def replace_with_reset(self, event_id: str) -> None:
        """Too much waiting to be read: what is queued goes, one 'reset' (refetch) takes its place. A client that
        reads slowly catches up from its refetch; one that stopped reading is dropped when a write times out."""
        self.outbox.clear()
        self.queued = 0
        self.send(sse("reset", {}, event_id))


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def sse(event: str, data: dict, event_id: str) -> bytes:
    return f"event: {event}\nid: {event_id}\ndata: {_json(data)}\n\n".encode()


def event_data(row) -> dict:
    """What an event says of a shift: all of it when available (the shape of /shifts, with "shift_id")."""
    if row[0] != "available":
        return {"shift_id": row[1]} if row[1] is not None else {}
    shift = shifts.shift_json({"shift_id": row[1], "facility_id": row[2], "facility_name": row[3], "start": row[4],
                               "end": row[5], "profession": row[6]})  # fmt: skip
    return {"shift_id": shift.pop("id"), **shift}


def deliver(sub: Subscriber, rows: list, before: str, after: str, made: dict | None = None) -> None:
    """A batch's events to one subscriber: ids are the cursor before the batch, the last one the cursor after.
    If the batch would take the outbox past OUTBOX_BYTES, a 'reset' replaces it and what was waiting. `made`: the
    events already written for other subscribers of the same read (the same shift for many is written once)."""
    if not rows:
        return
    if made is None:
        made = {}
    chunks = []
    for i, row in enumerate(rows):
        key = (row, after if i == len(rows) - 1 else before)
        chunk = made.get(key)
        if chunk is None:
            chunk = made[key] = sse(row[0], event_data(row), key[1])
        chunks.append(chunk)
    if sub.queued + sum(map(len, chunks)) > OUTBOX_BYTES:
        sub.replace_with_reset(after)
    else:
        for chunk in chunks:
            sub.send(chunk)
    sub.cursor = after


class Relay:
    """One per process and event loop: one database connection, every subscriber of the process."""

    def __init__(self, url: str, poll: float, heartbeat: float) -> None:
        self.url = url
        self.poll = poll  # seconds between probes of the feed while anyone listens
        self.heartbeat = heartbeat  # seconds between comments on an idle stream
        self.cursor: str | None = None  # where every established subscriber stands
        self.established: list[Subscriber] = []
        self.pending: list[Subscriber] = []
        self.conn: psycopg.AsyncConnection | None = None
        self.task: asyncio.Task | None = None
        self.alarm = Alarm()  # the relay's wait before its next probe, cut short by a newcomer
        self.workers: list[int] | None = None  # the established subscribers' workers, for the probe

    def subscribe(self, sub: Subscriber) -> None:
        if len(self.established) + len(self.pending) >= MAX_SUBSCRIBERS:
            raise ServerUnavailable(f"this server process holds {MAX_SUBSCRIBERS} event streams already; retry")
        sub.registered = asyncio.get_running_loop().create_future()
        self.pending.append(sub)
        self.alarm.wake()
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.run())

    def unsubscribe(self, sub: Subscriber) -> None:
        for group in (self.established, self.pending):
            if sub in group:
                group.remove(sub)
        self.workers = None

    async def run(self) -> None:
        while True:
            await self.serve_subscribers()
            await self.close_connection()
            if not (self.established or self.pending):  # nobody came while the connection closed
                return

    async def connect(self) -> psycopg.AsyncConnection:
        conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=3)
        # The question waits inside the database and must see each commit as it happens: READ COMMITTED, whatever
        # the database's or the role's default isolation.
        await conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED")
        return conn

    async def serve_subscribers(self) -> None:
        loop = asyncio.get_running_loop()
        pause = 0.05
        while self.established or self.pending:
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = await self.connect()
                asked = loop.time()
                if self.pending or await self.concerned():
                    await self.read()
                elif not self.pending and loop.time() - asked < self.poll:  # never spin, whatever the server does
                    await self.alarm.wait(self.poll)
                pause = 0.05
            except (psycopg.Error, OSError) as exc:
                await self.close_connection()
                err = from_database(exc) if isinstance(exc, psycopg.Error) else None
                self.refuse_pending(err or ServerUnavailable(f"database unreachable: {exc}"))
                log.warning("event relay: database unavailable, retrying",
                            extra={"fields": {"event": "relay", "sqlstate": getattr(exc, "sqlstate", None)}})
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECONNECT_MAX)
            except Exception:  # a bug: say so, and keep the streams going from the cursor
                log.exception("event relay failed", extra={"fields": {"event": "bug"}})
                await self.close_connection()
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECONNECT_MAX)

    async def close_connection(self) -> None:
        if self.conn is not None:
            try:
                await self.conn.close()
            except psycopg.Error:
                pass
            self.conn = None

    def refuse_pending(self, err: CarepgError) -> None:
        for sub in self.pending:
            if not sub.registered.done():
                sub.registered.set_result(err)
        self.pending.clear()

    async def concerned(self) -> bool:
        """Whether anything logged since the cursor may concern a subscriber, asked in the database until it does
        or AWAIT_TIMEOUT passes; if nothing does, the cursor moves past what was logged."""
        if self.cursor is None:
            return True
        if self.workers is None:  # made again only when the subscribers change
            self.workers = sorted({s.worker_id for s in self.established})
        workers = self.workers
        cur = await self.conn.execute(shifts.QUERIES["await_concerning_changes"], {
            "after": self.cursor, "worker_ids": workers, "poll": self.poll, "timeout": AWAIT_TIMEOUT})  # fmt: skip
        moved = (await cur.fetchone())[0]
        if moved is None:
            return True
        self.cursor = moved
        return False

    async def read(self) -> None:
        """Everyone's changes in one snapshot: the established at the shared cursor, newcomers at theirs."""
        group, newcomers = list(self.established), list(self.pending)
        if not newcomers:  # one statement is one snapshot: no transaction block, three round trips fewer
            cursor, found = await self.read_established(group)
        else:
            cursor, found = await self.read_with_newcomers(group, newcomers)
        if cursor is not None:
            self.cursor = cursor
        if found:
            await self.conn.execute(shifts.QUERIES["notify_shift_changes"], {"cursor": self.cursor})

    async def read_established(self, group: list[Subscriber]) -> tuple[str | None, bool]:
        """The established subscribers' changes since the shared cursor, delivered: (the next cursor, any?)."""
        if not group:
            return None, False
        before = self.cursor
        cur = await self.conn.execute(shifts.QUERIES["shift_changes_for"], {
            "worker_ids": [s.worker_id for s in group], "start_froms": [s.start_from for s in group],
            "start_tos": [s.start_to for s in group], "after": before})  # fmt: skip
        rows = await cur.fetchall()
        per_subscriber: dict[int, list] = {}
        for row in rows[:-1]:
            per_subscriber.setdefault(row[0], []).append(row[1:])
        cursor = rows[-1][-1]
        made: dict = {}
        for n, sub_rows in per_subscriber.items():
            deliver(group[n - 1], sub_rows, before, cursor, made)
        return cursor, bool(per_subscriber)

    async def read_with_newcomers(self, group: list[Subscriber],
                                  newcomers: list[Subscriber]) -> tuple[str | None, bool]:  # fmt: skip
        """The established and the newcomers in one REPEATABLE READ snapshot, so all leave at one cursor."""
        async with self.conn.transaction():
            await self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor, found = await self.read_established(group)
            for sub in newcomers:
                try:
                    async with self.conn.transaction():  # a savepoint: one refusal spoils nobody else's read
                        cur = await self.conn.execute(shifts.QUERIES["shift_changes"], {
                            "worker_id": sub.worker_id, "after": sub.after, "start_from": sub.start_from,
                            "start_to": sub.start_to})  # fmt: skip
                        rows = await cur.fetchall()
                except psycopg.Error as exc:
                    mapped = from_database(exc)
                    if mapped is None or isinstance(mapped, ServerUnavailable):
                        raise
                    self.pending.remove(sub)
                    sub.registered.set_result(mapped)
                    continue
                cursor = rows[-1][-1]
                start = sub.after or cursor
                sub.send(sse("ready", {"worker_id": sub.worker_id, "cursor": start}, start))
                sub.cursor = start
                deliver(sub, [r[:-1] for r in rows[:-1]], start, cursor)
                self.pending.remove(sub)
                self.established.append(sub)
                self.workers = None
                sub.registered.set_result(None)
        return cursor, found


_relays: dict[int, Relay] = {}


def relay_for(settings) -> Relay:
    """This process's relay (made again after a fork, like the connection pool), from pool.Settings."""
    pid = os.getpid()
    if pid not in _relays:
        _relays.clear()
        _relays[pid] = Relay(settings.url, settings.events_poll, settings.events_heartbeat)
    return _relays[pid]


def parse_last_event_id(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if len(raw) > _CURSOR_MAX or not _CURSOR.fullmatch(raw):
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise InvalidInput(f"invalid Last-Event-ID {shown!r}: send back the id of the last event you received, "
                           "unchanged, or none to start from now")  # fmt: skip
    return raw


async def stream(receive, send, sub: Subscriber, relay: Relay, headers: list[tuple[str, str]]) -> int:
    """Register, answer (an error before the stream starts, or 200 and the events) and serve until the client
    goes, is dropped or the server stops. The status, for the access log."""
    relay.subscribe(sub)
    try:
        refused = await asyncio.wait_for(sub.registered, 30)
    except TimeoutError:
        refused = ServerUnavailable("the event relay did not answer in time; retry")
    if refused is not None:
        relay.unsubscribe(sub)
        raise refused
    await send({"type": "http.response.start", "status": 200,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]})  # fmt: skip
    gone = asyncio.ensure_future(_disconnected(receive))
    gone.add_done_callback(sub.alarm.wake)
    last_id = sub.cursor
    try:
        while not gone.done():
            if sub.outbox:
                chunk = sub.outbox.popleft()
                sub.queued -= len(chunk)
                last_id = sub.cursor
            else:
                await sub.alarm.wait(relay.heartbeat)
                if sub.outbox or gone.done():
                    continue
                moved = relay.cursor if relay.cursor and relay.cursor != last_id and sub in relay.established else None
                chunk = b":\n\n" + (f"id: {moved}\n\n".encode() if moved else b"")
                if moved:
                    last_id = sub.cursor = moved
            # granian's send waits while the client's socket is full: one that stopped reading is let go.
            async with asyncio.timeout(SEND_TIMEOUT):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except (TimeoutError, OSError):
        pass  # the client went away, or stopped reading: it resumes with Last-Event-ID
    finally:
        gone.cancel()
        relay.unsubscribe(sub)
    return 200


async def _disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
