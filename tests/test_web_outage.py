"""The database goes away under a running server and comes back: 503 with Retry-After, then 200, no restart.

This test owns a small cluster of its own, so stopping it disturbs no other test.
"""

from __future__ import annotations

import time

import pytest

from carepg import cluster
from conftest import FAST_SETTINGS
from web_fixtures import free_port, prepare_database, run_server


@pytest.fixture
def own_cluster():
    with cluster.temporary("carepg-outage-", port=free_port(), settings=FAST_SETTINGS) as server:
        yield server


def wait_for_status(server, path: str, status: int, *, within: float = 60.0):
    """Poll until `path` answers `status` (a guard against hanging, not a timing assertion)."""
    deadline = time.monotonic() + within
    while True:
        reply = server.request(path)
        if reply.status == status or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)


@pytest.mark.slow
def test_db_stop_gives_503_then_start_gives_200_without_restarting_the_app(own_cluster, tmp_path):
    from carepg import db

    db.ensure_database(own_cluster)
    workers = prepare_database(own_cluster.url())
    path = f"/workers/{workers['CNA']}/shifts?limit=5"
    with run_server(own_cluster.url(), tmp_path, CAREPG_WEB_POOL_TIMEOUT="1") as server:
        before = server.request(path)
        assert before.status == 200 and len(before.json()["shifts"]) == 5

        own_cluster.down()
        for probe in (path, "/healthz"):
            reply = server.request(probe)
            assert reply.status == 503, reply.body
            assert reply.headers["content-type"] == "application/problem+json"
            assert int(reply.headers["retry-after"]) > 0
            assert reply.json()["title"] == "Database unavailable"
        # Input errors are still input errors while the database is away.
        assert server.request(f"{path}&cursor=garbage").status == 400

        own_cluster.up()
        after = wait_for_status(server, path, 200)
        assert after.status == 200
        assert after.json() == before.json()
        last = server.request("/healthz")
        assert last.status == 200
        assert server.process.poll() is None  # the same process throughout

        lines = server.log_lines(until_request_id=last.headers["x-request-id"])
        outage = [line for line in lines if line.get("event") == "access" and line["status"] == 503]
        assert len(outage) >= 2
        assert [line for line in lines if line.get("event") == "db_error" and line["error"] == "ServerUnavailable"]
