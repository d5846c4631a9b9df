"""The access log (carepg.web.logs): the lines JsonLines would write, queued by the request, written by a writer
thread, bounded while it is stuck, and written at shutdown too."""

from __future__ import annotations

import io
import json
import logging

import pytest

from carepg.web import logs
from web_fixtures import WebDatabase, run_server


@pytest.fixture
def stream(monkeypatch):
    """The carepg.web handler writing into a StringIO for this test."""
    logs.setup()
    handler = next(h for h in logging.getLogger("carepg.web").handlers if isinstance(h.formatter, logs.JsonLines))
    logs.flush_access()
    buffer = io.StringIO()
    monkeypatch.setattr(handler, "stream", buffer)
    return buffer


def test_an_access_line_is_the_record_jsonlines_would_write(stream):
    path = '/workers/"x"\n\u00e9\u4e2d' + "y" * 3000
    logs.access("GET", path, 404, 0.0012345, "trace-1.a:b")
    logs.flush_access()
    (line,) = stream.getvalue().splitlines()  # one line, whatever the path holds
    fast = json.loads(line)
    record = logging.LogRecord("carepg.web", logging.INFO, __file__, 1, "request", None, None)
    record.fields = {"event": "access", "method": "GET", "path": path[: logs.PATH_MAX] + "...", "status": 404,
                     "duration_ms": 1.234, "request_id": "trace-1.a:b"}  # fmt: skip
    slow = json.loads(logs.JsonLines().format(record))
    assert fast.keys() == slow.keys()
    assert {k: v for k, v in fast.items() if k != "ts"} == {k: v for k, v in slow.items() if k != "ts"}
    assert fast["ts"].endswith("+00:00") and len(fast["ts"]) == len(slow["ts"])


def test_a_stuck_writer_drops_lines_and_says_how_many(stream, monkeypatch):
    monkeypatch.setattr(logs, "QUEUE_MAX", 3)
    for i in range(10):
        logs.access("GET", f"/{i}", 200, 0.001, f"r{i}")
    logs.flush_access()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["request_id"] for line in lines if line["event"] == "access"] == ["r0", "r1", "r2"]
    assert [line["count"] for line in lines if line["event"] == "access_dropped"] == [7]


def test_lines_still_queued_when_the_server_stops_are_written(web_db: WebDatabase, tmp_path):
    with run_server(web_db.url, tmp_path) as server:
        for i in range(5):
            server.request("/healthz", headers={"X-Request-Id": f"at-shutdown-{i}"})
    # The server stopped (SIGTERM) right after answering: its workers wrote what they had queued.
    ids = {line.get("request_id") for line in server.log_lines() if line.get("event") == "access"}
    assert {f"at-shutdown-{i}" for i in range(5)} <= ids
