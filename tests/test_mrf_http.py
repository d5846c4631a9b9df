"""HTTP sources against a loopback server that drops the connection: resume with Range into the same stream."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from carepg.cli import app
from carepg.mrf import ingest as ingest_mod
from carepg.mrf.generate import generate
from carepg.errors import InvalidInput, SourceUnavailable
from carepg.mrf.source import HttpSource


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        srv = self.server
        srv.requests.append(self.headers.get("Range"))
        if srv.status != 200:
            self.send_response(srv.status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = srv.payload
        start = 0
        range_header = self.headers.get("Range")
        if range_header and srv.ranges:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
            if srv.ranges:
                self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        stop = len(data)
        if srv.cuts:
            stop = min(srv.cuts.pop(0), len(data))  # an absolute offset where this connection dies
            if srv.stall:
                self.wfile.write(data[start:stop])
                self.wfile.flush()
                time.sleep(srv.stall)  # silence: the client's timeout fires
                return
        self.wfile.write(data[start:stop])
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.payload, srv.status, srv.ranges, srv.cuts, srv.stall, srv.requests = b"", 200, True, [], 0.0, []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def url(srv, name="index.json.gz"):
    return f"http://127.0.0.1:{srv.server_address[1]}/anthem/{name}?Signature=secret"


@pytest.fixture(scope="module")
def toc(tmp_path_factory):
    out = tmp_path_factory.mktemp("http") / "anthem.json.gz"
    truth = generate(out, raw_bytes=400_000, seed=21)
    return out.read_bytes(), truth


def test_resumes_after_several_cuts_and_gets_the_same_answer(server, toc, db_url, postgresql):
    payload, truth = toc
    server.payload = payload
    server.cuts = [len(payload) // 7, len(payload) // 3, len(payload) // 2 + 1, len(payload) - 5]
    summary = ingest_mod.ingest(db_url, url(server), http_options={"backoff": 0.01})
    assert summary.resumes == 4
    assert summary.bytes_read == len(payload)  # no byte read twice
    assert server.requests[0] is None and server.requests[1:] == [
        f"bytes={n}-" for n in (len(payload) // 7, len(payload) // 3, len(payload) // 2 + 1, len(payload) - 5)
    ]
    got = [r[0] for r in postgresql.execute("SELECT url FROM mrf.network_files('NY', 'PPO')").fetchall()]
    assert got == truth.expected("NY", "PPO", with_lookup=False)
    source = postgresql.execute("SELECT source FROM mrf_private.ingest_run").fetchone()[0]
    assert "secret" not in source  # signatures stay out of the run table


def read_all(src) -> bytes:
    """The whole body, read the way the inflater reads a source."""
    blocks = []
    while block := src.read(256 << 10):
        blocks.append(block)
    src.close()
    return b"".join(blocks)


def test_stalled_connection_times_out_and_resumes(server, toc):
    payload, _ = toc
    server.payload = payload
    server.cuts, server.stall = [len(payload) // 2], 3.0
    src = HttpSource(url(server), timeout=0.3, backoff=0.01)
    assert read_all(src) == payload
    assert src.resumes == 1


def test_gives_up_after_bounded_retries(server, toc):
    payload, _ = toc
    server.payload = payload
    server.cuts = [1000 * (i + 1) for i in range(10)]
    src = HttpSource(url(server), retries=3, backoff=0.01)
    with pytest.raises(SourceUnavailable, match="failed 4 times .*giving up"):
        read_all(src)


@pytest.mark.parametrize(
    ("status", "message"),
    [(403, "403 Forbidden .*expired"), (404, "404 Not Found"), (500, "HTTP 500")],
)
def test_http_errors_are_one_clear_line(server, status, message):
    server.status = status
    with pytest.raises(SourceUnavailable, match=message) as info:
        HttpSource(url(server))
    assert "secret" not in str(info.value)


def test_server_without_range_support(server, toc, db_url, postgresql):
    payload, _ = toc
    server.payload, server.ranges, server.cuts = payload, False, [len(payload) // 2]
    with pytest.raises(SourceUnavailable, match="cannot resume"):
        ingest_mod.ingest(db_url, url(server), http_options={"backoff": 0.01})
    status, error = postgresql.execute("SELECT status, error FROM mrf_private.ingest_run").fetchone()
    assert status == "failed" and "cannot resume" in error


def test_lookup_documents_load_from_urls(server, toc, db_url, postgresql):
    """EIN-lookup documents are fetched like indexes; their display names add plan types."""
    from pathlib import Path

    payload, truth = toc
    server.payload = payload
    ingest_mod.ingest(db_url, url(server), http_options={"backoff": 0.01})
    before = [r[0] for r in postgresql.execute("SELECT url FROM mrf.network_files('NY', 'PPO')").fetchall()]
    assert before == truth.expected("NY", "PPO", with_lookup=False)
    for doc in truth.lookup_documents:
        server.payload = Path(doc).read_bytes()
        assert ingest_mod.load_lookup(db_url, url(server, Path(doc).name)) > 0
    after = [r[0] for r in postgresql.execute("SELECT url FROM mrf.network_files('NY', 'PPO')").fetchall()]
    assert after == truth.expected("NY", "PPO") and len(after) > len(before)


@pytest.mark.parametrize("url", [
    "http://[::1",
    "http://[::1]:99999/toc.json.gz",
    "https://host:port/toc.json.gz",
    "http://a..b/toc.json.gz",
    "http://exa mple.com/toc.json.gz",
    "http://example.com/\x00toc.json.gz?Signature=secret",
    "https:///toc.json.gz",
])
def test_a_malformed_url_is_one_clear_line(monkeypatch, db_url, postgresql, url):
    monkeypatch.setenv("DATABASE_URL", db_url)
    result = CliRunner().invoke(app, ["mrf", "ingest", "-q", url])
    assert result.exit_code == InvalidInput.exit_code, result.output
    message = result.output.strip()
    assert message.startswith("error: not a") and "URL" in message and "\n" not in message, message
    assert "secret" not in message
    assert postgresql.execute("SELECT count(*) FROM mrf_private.ingest_run").fetchone() == (0,)
