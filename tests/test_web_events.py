"""GET /workers/{id}/events over real HTTP against `carepg serve`: the stream's protocol, resuming with
Last-Event-ID, refusals before the stream starts, a subscriber that applies the events holding exactly what
/shifts returns, and the faults: a database restart, a server restart, a client that stops reading."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import http.client
import json
import queue
import random
import re
import resource
import socket
import threading
import time

import psycopg
import pytest

from web_fixtures import free_port, own_token, prepare_database, run_server, token

DAY = "2023-02-01"
OWN = object()  # a stream sends its worker's own token unless told otherwise
CURSOR_SHAPE = re.compile(r"[0-9]{1,19}(-[0-9]{1,19}(\.[0-9]{1,19})*)?")


@dataclasses.dataclass
class Event:
    kind: str
    id: str | None
    data: dict


class Stream:
    """One SSE subscription, read by a thread into a queue (None once the stream ends)."""

    def __init__(self, server, worker_id: int, query: str = "", last_event_id: str | None = None,
                 token: str | None = OWN):
        headers = {"Accept": "text/event-stream"}
        if token is not None:
            headers["Authorization"] = f"Bearer {own_token(f'/workers/{worker_id}/events') if token is OWN else token}"
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
        self.conn.request("GET", f"/workers/{worker_id}/events{query}", headers=headers)
        self.sock = self.conn.sock
        self.response = self.conn.getresponse()
        self.events: queue.Queue = queue.Queue()
        self.comments = 0
        if self.response.status == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        kind, event_id, data = None, None, []
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if line.startswith(":"):
                    self.comments += 1
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line == "" and kind:
                    self.events.put(Event(kind, event_id, json.loads("\n".join(data))))
                    kind, event_id, data = None, None, []
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass  # closed by the test (http.client drops its file under a reading thread)
        self.events.put(None)

    def next(self, timeout: float = 20) -> Event | None:
        return self.events.get(timeout=timeout)

    def until(self, predicate, timeout: float = 20) -> list[Event]:
        """Events up to and including the first that satisfies predicate (a guard against hanging only)."""
        got, deadline = [], time.monotonic() + timeout
        while True:
            event = self.next(max(0.1, deadline - time.monotonic()))
            assert event is not None, f"the stream ended; got {got}"
            got.append(event)
            if predicate(event):
                return got

    def close(self) -> None:
        # Shut the socket first: closing the response while the reader thread is in a read would wait for it.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


@pytest.fixture
def owner(web_db):
    with psycopg.connect(web_db.url, autocommit=True) as conn:
        yield conn


def open_shift(conn, worker_id: int, day: str = DAY, hour: int = 23) -> int:
    """A new open shift the worker may take, at a facility where it holds every document, on `day` at `hour`."""
    facility = conn.execute('SELECT f.id FROM "Facility" AS f WHERE f.is_active AND '
                            "f.id = ANY (shifts.eligible_facility_ids(%s)) ORDER BY f.id LIMIT 1",
                            (worker_id,)).fetchone()[0]  # fmt: skip
    profession = conn.execute('SELECT profession FROM "Worker" WHERE id = %s', (worker_id,)).fetchone()[0]
    start = dt.datetime.fromisoformat(day) + dt.timedelta(hours=hour)
    return conn.execute('INSERT INTO "Shift" (start, "end", profession, facility_id) VALUES (%s, %s, %s, %s) '
                        "RETURNING id", (start, start + dt.timedelta(hours=5), profession, facility)).fetchone()[0]


def test_the_first_event_is_ready_then_changes_arrive_as_they_commit(web_server, web_db, owner):
    w = web_db.workers["CNA"]
    stream = Stream(web_server, w, f"?from={DAY}&to=2023-02-02")
    try:
        assert stream.response.status == 200
        assert stream.response.getheader("Content-Type") == "text/event-stream"
        ready = stream.next()
        assert ready.kind == "ready" and ready.data == {"worker_id": w, "cursor": ready.id}
        shift = open_shift(owner, w)
        added = stream.until(lambda e: e.kind == "available")[-1]
        assert added.data["shift_id"] == shift and added.data["start"] == f"{DAY}T23:00:00.000"
        assert set(added.data) == {"shift_id", "start", "end", "profession", "facility"}
        owner.execute('UPDATE "Shift" SET is_deleted = true WHERE id = %s', (shift,))
        gone = stream.until(lambda e: e.kind == "unavailable")[-1]
        assert gone.data == {"shift_id": shift} and gone.id != added.id
    finally:
        stream.close()


def test_a_client_resuming_with_last_event_id_gets_exactly_what_it_missed(web_server, web_db, owner):
    w = web_db.workers["CNA"]
    first = Stream(web_server, w, f"?from={DAY}&to=2023-02-02")
    ready = first.next()
    first.close()
    missed = open_shift(owner, w)
    owner.execute('UPDATE "Shift" SET is_deleted = true WHERE id = %s', (missed,))
    late = open_shift(owner, w)
    again = Stream(web_server, w, f"?from={DAY}&to=2023-02-02", last_event_id=ready.id)
    try:
        assert again.next().kind == "ready"
        got = again.until(lambda e: e.kind == "available" and e.data["shift_id"] == late)
        assert [(e.kind, e.data["shift_id"]) for e in got] == [("unavailable", missed), ("available", late)]
        assert got[0].id == ready.id and got[-1].id != ready.id  # the batch's ids: the cursor before, then after
    finally:
        again.close()
        owner.execute('UPDATE "Shift" SET is_deleted = true WHERE id = %s', (late,))


@pytest.mark.parametrize(("path", "headers", "status"), [
    ("/workers/2000000000/events", {}, 404),
    ("/workers/abc/events", {}, 400),
    ("/workers/{w}/events?from=2023-02-02&to=2023-02-01", {}, 400),
    ("/workers/{w}/events?from=yesterday", {}, 400),
    ("/workers/{w}/events?limit=5", {}, 400),
    ("/workers/{w}/events?from=2023-02-01&from=2023-02-02", {}, 400),
    ("/workers/{w}/events", {"Last-Event-ID": "junk"}, 400),
    ("/workers/{w}/events", {"Last-Event-ID": "12-13"}, 400),
    ("/workers/{w}/events", {"Last-Event-ID": "9999999999999999"}, 400),
])  # fmt: skip
def test_refusals_come_before_the_stream_starts(web_server, web_db, path, headers, status):
    reply = web_server.request(path.format(w=web_db.workers["CNA"]), headers=headers)
    assert reply.status == status
    assert reply.headers["content-type"] == "application/problem+json" and reply.json()["status"] == status


@pytest.mark.parametrize(("sent", "status"), [(None, 401), ("not-a-token", 401), ("other worker", 403), ("staff", 200)])
def test_a_stream_needs_a_token_that_may_act_for_the_worker(web_server, web_db, sent, status):
    w, other = web_db.workers["CNA"], web_db.workers["RN"]
    given = {"other worker": token(other), "staff": token(staff=True)}.get(sent, sent)
    stream = Stream(web_server, w, token=given)
    try:
        assert stream.response.status == status
        if status == 401:
            assert stream.response.getheader("WWW-Authenticate", "").startswith("Bearer")
        if status == 200:
            assert stream.next().kind == "ready"
        else:
            assert json.loads(stream.response.read())["status"] == status
    finally:
        stream.close()


def test_only_get_may_open_a_stream(web_server, web_db):
    reply = web_server.request(f"/workers/{web_db.workers['CNA']}/events", method="POST", body=b"{}",
                               headers={"Content-Type": "application/json"})  # fmt: skip
    assert reply.status == 405 and "GET" in reply.headers["allow"]


def test_ten_thousand_junk_last_event_ids_are_each_a_400(web_server, web_db):
    rng = random.Random(7)
    alphabet = "0123456789-.,:;x ÿ\t%+"
    conn = http.client.HTTPConnection(web_server.host, web_server.port, timeout=30)
    statuses = {}
    sent = 0
    own = own_token(f"/workers/{web_db.workers['CNA']}/events")
    try:
        while sent < 10_000:
            n = rng.randrange(1, 40)
            junk = "".join(rng.choice(alphabet) for _ in range(n)).strip() or "x"
            if sent % 10 == 0:  # well formed, but not a cursor this server issued (transactions yet to come)
                junk = f"{rng.randrange(10**15, 10**18)}-{rng.randrange(1, 10**6)}"
            elif CURSOR_SHAPE.fullmatch(junk):
                continue  # digits alone are a cursor (an old one): not junk
            sent += 1
            conn.request("GET", f"/workers/{web_db.workers['CNA']}/events",
                         headers={"Last-Event-ID": junk, "Authorization": f"Bearer {own}"})
            resp = conn.getresponse()
            resp.read()
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection(web_server.host, web_server.port, timeout=30)
    finally:
        conn.close()
    assert statuses == {400: 10_000}


def test_a_subscriber_applying_the_events_holds_what_the_shifts_route_returns(web_server, web_db, owner):
    """Each kind of change, over HTTP, the events applied to the first page the client read."""
    w = web_db.workers["CNA"]
    window = f"?from={DAY}&to=2023-02-02"
    stream = Stream(web_server, w, window)
    held: set[int] = set()

    def refetch() -> set[int]:
        reply = web_server.request(f"/workers/{w}/shifts{window}&limit=1000")
        assert reply.status == 200 and reply.json()["next_cursor"] is None
        return {s["id"] for s in reply.json()["shifts"]}

    try:
        stream.next()  # ready: read the shifts after it
        held = refetch()
        document = owner.execute('SELECT document_id FROM "DocumentWorker" WHERE worker_id = %s LIMIT 1', (w,)).fetchone()[0]
        other = owner.execute("""SELECT w.id FROM "Worker" w WHERE w.profession = 'CNA' AND w.is_active AND w.id <> %s
                                 ORDER BY w.id LIMIT 1""", (w,)).fetchone()[0]  # fmt: skip
        new = open_shift(owner, w)
        steps = [
            ('SELECT 1', ()),
            ('UPDATE "Shift" SET worker_id = %s WHERE id = %s', (other, new)),  # taken by someone else
            ('UPDATE "Shift" SET worker_id = NULL WHERE id = %s', (new,)),  # released
            ('DELETE FROM "DocumentWorker" WHERE worker_id = %s AND document_id = %s', (w, document)),
            ('INSERT INTO "DocumentWorker" (worker_id, document_id) VALUES (%s, %s)', (w, document)),
            ("SELECT * FROM shifts.claim_shift(%s, %s)", (w, new)),  # its own claim: what it overlaps goes too
            ("SELECT shifts.release_shift(%s, %s)", (w, new)),
            ('UPDATE "Shift" SET is_deleted = true WHERE id = %s', (new,)),
        ]
        def apply(events) -> None:
            nonlocal held
            for event in events:
                if event.kind == "reset":
                    held = refetch()
                elif event.kind == "available":
                    held.add(event.data["shift_id"])
                elif event.kind == "unavailable":
                    held.discard(event.data["shift_id"])

        for sql, params in steps:
            owner.execute(sql, params)
            truth = refetch()
            assert truth != held or sql == "SELECT 1"  # every step changes what the worker may take
            # Apply events as they come until the client holds the truth (the deadline only guards against a
            # hang: a missing event leaves them apart for ever, and the assertion below says so).
            deadline = time.monotonic() + 20
            while held != truth and time.monotonic() < deadline:
                try:
                    event = stream.next(timeout=0.2)
                except queue.Empty:
                    continue
                assert event is not None, "the stream ended"
                apply([event])
            assert held == truth, sql
    finally:
        stream.close()


def test_a_database_restart_keeps_streams_open_and_loses_nothing(pg_server, tmp_path):
    from carepg import cluster, db

    with cluster.temporary("carepg-events-", port=free_port(), settings={"fsync": "off"}) as own:
        db.ensure_database(own)
        url = own.url()
        workers = prepare_database(url, 3_000)
        with run_server(url, tmp_path) as server:
            w = workers["CNA"]
            stream = Stream(server, w)
            try:
                assert stream.next().kind == "ready"
                own.down()
                time.sleep(0.5)
                own.up()
                with psycopg.connect(url, autocommit=True) as conn:
                    shift = open_shift(conn, w)
                assert stream.until(lambda e: e.data.get("shift_id") == shift, timeout=60)[-1].kind == "available"
            finally:
                stream.close()


def test_a_server_restart_loses_nothing_for_a_client_that_resumes(web_db, owner, tmp_path):
    w = web_db.workers["CNA"]
    with run_server(web_db.url, tmp_path) as server:
        stream = Stream(server, w)
        ready = stream.next()
        stream.close()
    shift = open_shift(owner, w)  # while no server runs
    with run_server(web_db.url, tmp_path) as server:
        again = Stream(server, w, last_event_id=ready.id)
        try:
            assert again.next().kind == "ready"
            assert again.until(lambda e: e.data.get("shift_id") == shift)[-1].kind == "available"
        finally:
            again.close()
            owner.execute('UPDATE "Shift" SET is_deleted = true WHERE id = %s', (shift,))


@pytest.mark.slow
def test_a_subscriber_that_stops_reading_is_dropped_and_costs_bounded_memory(web_db, owner, tmp_path):
    """A client that opens a stream and never reads: once its socket is full the server's writes wait, and after
    events.SEND_TIMEOUT it is let go, instead of the server buffering for ever; the others go on."""
    w = web_db.workers["CNA"]
    with run_server(web_db.url, tmp_path, CAREPG_WEB_EVENTS_HEARTBEAT="0.2") as server:
        stuck = socket.create_connection((server.host, server.port))
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(f"GET /workers/{w}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token(w)}\r\n\r\n"
                      .encode())  # fmt: skip
        live = Stream(server, w)
        made: list[int] = []
        try:
            assert live.next().kind == "ready"
            # ~6 MB of events for each subscriber, 200 shifts at a time (what the feed lists one by one), each
            # batch read by the live subscriber before the next: far past what the stuck client's socket holds.
            for batch in range(120):
                start = dt.datetime(2023, 2, 5) + dt.timedelta(hours=batch)
                rows = owner.execute(
                    'INSERT INTO "Shift" (start, "end", profession, facility_id) SELECT %s + n * interval \'1 second\', '
                    "%s + n * interval '1 second' + interval '1 hour', 'CNA', f FROM generate_series(1, 200) AS n, "
                    '(SELECT min(f.id) AS f FROM "Facility" AS f WHERE f.is_active AND '
                    "f.id = ANY (shifts.eligible_facility_ids(%s))) AS x RETURNING id", (start, start, w)).fetchall()
                made += [r[0] for r in rows]
                live.until(lambda e, last=made[-1]: e.kind == "reset" or e.data.get("shift_id") == last, timeout=60)
            # The stuck stream was let go: its access line is written when its stream ends.
            deadline = time.monotonic() + 60
            streams: list = []
            while not streams and time.monotonic() < deadline:
                streams = [line for line in server.log_lines() if line.get("event") == "access"
                           and line.get("path", "").endswith("/events")]  # fmt: skip
                time.sleep(0.2)
            assert streams, "the subscriber that stopped reading was never dropped"
            # ... and the live one still hears of changes.
            marker = open_shift(owner, w, "2023-02-28")
            assert live.until(lambda e: e.data.get("shift_id") == marker)[-1].kind == "available"
            made.append(marker)
        finally:
            stuck.close()
            live.close()
            owner.execute('DELETE FROM "Shift" WHERE id = ANY (%s)', (made,))


def test_many_subscribers_hold_one_listener_connection_per_process(web_server, web_db, owner):
    w = web_db.workers["CNA"]
    streams = [Stream(web_server, w) for _ in range(200)]
    try:
        for s in streams:
            assert s.next().kind == "ready"
        connections = owner.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'carepg_api' "
                                    "AND datname = current_database()").fetchone()[0]  # fmt: skip
        assert connections <= 4 + 1  # the pool (--threads 4) and the relay's listener
        shift = open_shift(owner, w)
        for s in streams:
            assert s.until(lambda e: e.data.get("shift_id") == shift)[-1].kind == "available"
    finally:
        for s in streams:
            s.close()
        owner.execute('UPDATE "Shift" SET is_deleted = true WHERE id = %s', (shift,))


@pytest.mark.slow
def test_more_streams_than_granian_admits_by_default_all_start(web_db, tmp_path):
    """granian admits backlog / workers requests per worker at once (1,024 with one worker) and leaves the next
    connections waiting, unanswered; a process holds more event streams than that (events.MAX_SUBSCRIBERS), so each
    of 1,100 streams opened at once on one worker gets its `ready`."""
    streams = 1_100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < streams + 256:
        pytest.skip(f"this machine allows {hard} open files per process; the test needs {streams + 256}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, streams + 256), hard))
    w = web_db.workers["CNA"]
    request = (f"GET /workers/{w}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token(w)}\r\n"
               "Accept: text/event-stream\r\n\r\n").encode()  # fmt: skip

    async def follow(server, writers: list) -> bool:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writers.append(writer)
        writer.write(request)
        seen = b""
        while b"event: ready" not in seen:
            chunk = await reader.read(4096)
            if not chunk:
                return False
            seen += chunk
        return True

    async def open_all(server) -> list:
        writers: list = []
        tasks = [asyncio.create_task(follow(server, writers)) for _ in range(streams)]
        try:
            done, _ = await asyncio.wait(tasks, timeout=60)
            return [t.result() if t in done and not t.exception() else False for t in tasks]
        finally:
            for task in tasks:
                task.cancel()
            for writer in writers:
                writer.close()

    try:
        with run_server(web_db.url, tmp_path) as server:
            started = asyncio.run(open_all(server))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert started.count(True) == streams, f"{started.count(False)} of {streams} streams never started"
