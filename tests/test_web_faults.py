"""Faults under load: a running `carepg serve`, clients hammering it, and the database restarted, EXECUTE revoked,
and carepg_api dropped and created again (migrating down to before 0010 and up). Every answer meanwhile is a 200,
404 or 503, and the same server process recovers fully each time, without a restart.

This test owns a small cluster of its own, so stopping it disturbs no other test. The load is bounded (a few
threads, each at most MAX_REQUESTS requests, stopped after each phase).
"""

from __future__ import annotations

import collections
import http.client
import threading
import time

import psycopg
import pytest

from carepg import cluster, db, migrations
from conftest import FAST_SETTINGS
from web_fixtures import free_port, own_token, prepare_database, run_server

CLIENTS = 4
MAX_REQUESTS = 20_000
ALLOWED = {200, 404, 503}
JSON_FUNCTION = "shifts.available_shifts_json(integer, timestamp, timestamp, timestamp, integer, integer)"


class Load:
    """Client threads sending a mix of pages, unknown workers and health checks, counting the statuses."""

    def __init__(self, server, paths: list[str]) -> None:
        self.server, self.paths = server, paths
        self.statuses: collections.Counter = collections.Counter()
        self.bodies: dict[int, bytes] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(CLIENTS)]

    def _client(self, n: int) -> None:
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=30)
        for i in range(MAX_REQUESTS):
            if self._stop.is_set():
                break
            path = self.paths[(n + i) % len(self.paths)]
            try:
                conn.request("GET", path, headers={"Authorization": f"Bearer {own_token(path)}"})
                reply = conn.getresponse()
                status, body = reply.status, reply.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=30)
                status, body = -1, b"connection failed"
            with self._lock:
                self.statuses[status] += 1
                self.bodies.setdefault(status, body)
        conn.close()

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)


def until(server, path: str, status: int, within: float = 60.0):
    """Poll until `path` answers `status` (a guard against hanging, not a timing assertion)."""
    deadline = time.monotonic() + within
    while True:
        reply = server.request(path)
        if reply.status == status or time.monotonic() > deadline:
            return reply
        time.sleep(0.1)


def assert_recovered(server, page: str) -> None:
    """Recovered means every connection of the pool is good again: many answers in a row, all 200."""
    assert until(server, page, 200).status == 200
    for _ in range(25):
        assert server.request(page).status == 200
        assert server.request("/healthz").status == 200


@pytest.fixture
def own_cluster():
    with cluster.temporary("carepg-faults-", port=free_port(), settings=FAST_SETTINGS) as server:
        yield server


@pytest.mark.slow
def test_restart_revoke_and_a_recreated_role_under_load(own_cluster, tmp_path):
    db.ensure_database(own_cluster)
    url = own_cluster.url()
    workers = prepare_database(url)
    page = f"/workers/{workers['CNA']}/shifts?limit=50"
    paths = [page, f"/workers/{workers['RN']}/shifts?limit=5", "/workers/2000000000/shifts", "/healthz"]
    with run_server(url, tmp_path, CAREPG_WEB_POOL_TIMEOUT="1") as server:
        assert server.request(page).status == 200

        # 1. The database restarts.
        with Load(server, paths) as load:
            time.sleep(0.5)
            own_cluster.down()
            time.sleep(0.5)
            own_cluster.up()
            # The database is back: health says so at once (it used to need several requests).
            assert server.request("/healthz").status == 200
            assert_recovered(server, page)
        assert set(load.statuses) <= ALLOWED, (load.statuses, load.bodies)
        assert load.statuses[503] and load.statuses[200]

        # 2. EXECUTE is revoked: a 503 that says what is wrong; granting it back is enough.
        with Load(server, paths) as load, psycopg.connect(url, autocommit=True) as owner:
            time.sleep(0.3)
            owner.execute(f"REVOKE EXECUTE ON FUNCTION {JSON_FUNCTION} FROM carepg_api")
            denied = until(server, page, 503)
            detail = denied.json()["detail"]
            assert "as role carepg_api" in detail and "available_shifts_json" in detail and "grant" in detail
            assert denied.json()["title"] == "Database permission denied"
            assert server.request("/healthz").status == 503
            owner.execute(f"GRANT EXECUTE ON FUNCTION {JSON_FUNCTION} TO carepg_api")
            assert_recovered(server, page)
        assert set(load.statuses) <= ALLOWED, (load.statuses, load.bodies)

        # 3. carepg_api is dropped and created again (a new oid): the pooled sessions still belong to the old
        # one, and PostgreSQL answers them "permission denied" for everything until they are replaced.
        with Load(server, paths) as load:
            time.sleep(0.3)
            migrations.downgrade(url, "0005")
            with psycopg.connect(url) as conn:
                assert not conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'carepg_api'").fetchone()[0]
            assert until(server, page, 503).status == 503
            migrations.upgrade(url)
            assert_recovered(server, page)
        assert set(load.statuses) <= ALLOWED, (load.statuses, load.bodies)
        assert load.statuses[503] and load.statuses[200]

        # ... and with no request in between, so that every pooled session outlives its role: the first request
        # after it finds one, replaces them all and is answered.
        with Load(server, paths):  # grow the pool to its size
            time.sleep(1)
        migrations.downgrade(url, "0005")
        migrations.upgrade(url)
        first = server.request(page)
        assert first.status == 200, first.body
        assert_recovered(server, page)

        assert server.process.poll() is None  # the same process throughout
        lines = server.log_lines(until_request_id=server.request("/healthz").headers["x-request-id"])
        assert not [line for line in lines if line.get("event") == "bug"]
        assert {line["status"] for line in lines if line.get("event") == "access"} <= ALLOWED
