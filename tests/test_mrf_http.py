"""HTTP sources against a loopback server that drops the connection (resume with Range into the same stream),
sits behind credentials and signed links, and redirects: secrets in the URL never show."""

from __future__ import annotations

import base64
import os
import string
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from carepg.cli import app
from carepg.mrf import ingest as ingest_mod
from carepg.mrf.generate import generate
from carepg.errors import InvalidInput, SourceUnavailable
from carepg.mrf.http_source import HttpSource
from carepg.mrf.source import shown_url


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        srv = self.server
        srv.requests.append(self.headers.get("Range"))
        srv.seen.append((self.path, self.headers.get("Authorization")))
        path, _, query = self.path.partition("?")
        if path in srv.redirects:
            self._empty(302, Location=srv.redirects[path])
            return
        if srv.auth is not None and self.headers.get("Authorization") != srv.auth:
            self._empty(401, **{"WWW-Authenticate": 'Basic realm="toc"'})
            return
        if srv.query is not None and query != srv.query:
            self._empty(403)
            return
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

    def _empty(self, status, **headers):
        self.send_response(status)
        for name, value in {"Content-Length": "0", **headers}.items():
            self.send_header(name, value)
        self.end_headers()


@pytest.fixture
def make_server():
    """Loopback servers: `payload` served with Range support; `cuts` (absolute offsets) drop connections,
    `stall` makes them go silent instead; `redirects` ({path: Location}), `auth` (the Authorization header
    required) and `query` (the query string required: a signature) put it behind what real hosts put it behind.
    `requests` records each request's Range header, `seen` its (path, Authorization)."""
    servers = []

    def make():
        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        srv.daemon_threads = True
        srv.payload, srv.status, srv.ranges, srv.cuts, srv.stall, srv.requests = b"", 200, True, [], 0.0, []
        srv.redirects, srv.auth, srv.query, srv.seen = {}, None, None, []
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def server(make_server):
    return make_server()


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


# --- secrets in source URLs ----------------------------------------------------------------------------------

PASSWORD = "pw-7Gq2xZ-hunter2"
SIGNATURE = "X-Amz-Signature=0d1e2a3f9b8c7d6e5f40"
REDIRECT_SIGNATURE = "X-Amz-Signature=9c8b7a6e5d4c3b2a1f00"
BASIC = "Basic " + base64.b64encode(f"reader:{PASSWORD}".encode()).decode()
SECRETS = (PASSWORD, SIGNATURE.split("=")[1], REDIRECT_SIGNATURE.split("=")[1], BASIC.split()[1])


def carepg(db_url: str, *args: str) -> subprocess.CompletedProcess:
    """The real command, as a user runs it: its own process, stdout and stderr captured."""
    return subprocess.run([sys.executable, "-m", "carepg", *args], env={**os.environ, "DATABASE_URL": db_url},
                          capture_output=True, text=True, timeout=120)


def secret_url(srv, path="/anthem/index.json.gz", user="reader", password=PASSWORD, query=SIGNATURE) -> str:
    return f"http://{user}:{password}@127.0.0.1:{srv.server_address[1]}{path}?{query}"


def test_credentials_and_signatures_never_reach_output_logs_or_the_database(make_server, toc, db_url, postgresql,
                                                                             pg_cluster):
    """An index behind HTTP Basic authentication and a signed link that redirects to another signed link, with
    connections that drop (resumed with Range requests), then every way it can fail: afterwards neither the
    password nor a signature is in any output, in the database or in the server's log."""
    payload, truth = toc
    srv, elsewhere = make_server(), make_server()
    srv.payload, srv.auth, srv.query = payload, BASIC, REDIRECT_SIGNATURE
    srv.redirects = {"/anthem/index.json.gz": f"/signed/index.json.gz?{REDIRECT_SIGNATURE}"}
    srv.cuts = [len(payload) // 3, len(payload) // 2]
    shown = f"http://127.0.0.1:{srv.server_address[1]}/anthem/index.json.gz"
    outputs = []

    def run(*args):
        result = carepg(db_url, *args)
        outputs.append(result.stdout + result.stderr)
        return result

    done = run("mrf", "ingest", "-q", secret_url(srv))
    assert done.returncode == 0, done.stderr
    # The credentials went with every request to their host: each resume asks the first URL again (a fresh
    # redirect: the link it leads to may have expired) and follows it.
    first, second = f"bytes={len(payload) // 3}-", f"bytes={len(payload) // 2}-"
    assert srv.requests == [None, None, first, first, second, second]
    assert [auth for _, auth in srv.seen] == [BASIC] * 6
    assert run("mrf", "files", "--state", "NY", "--plan-type", "PPO").stdout.splitlines() == truth.expected(
        "NY", "PPO", with_lookup=False)
    # A redirect to another host does not take the credentials along.
    srv.redirects["/moved.json.gz"] = f"http://127.0.0.1:{elsewhere.server_address[1]}/toc.json.gz?{SIGNATURE}"
    elsewhere.payload, elsewhere.auth = payload, BASIC
    failures = {
        "wrong password": (secret_url(srv, password="not-" + PASSWORD), 11, f"401 Unauthorized from {shown}"),
        "expired signature": (secret_url(srv, path="/signed/index.json.gz"), 11, "403 Forbidden"),
        "redirected elsewhere": (secret_url(srv, path="/moved.json.gz"), 11, "401 Unauthorized"),
        "bad port": (f"http://reader:{PASSWORD}@127.0.0.1:99999/x.json.gz?{SIGNATURE}", 7, "not a valid URL"),
        "port not a number": (f"http://reader:{PASSWORD}/x@127.0.0.1/x.json.gz?{SIGNATURE}", 7, "not a valid URL"),
        "refused": (f"http://reader:{PASSWORD}@127.0.0.1:1/x.json.gz?{SIGNATURE}", 11, "cannot fetch"),
        "not http": (f"ftp://reader:{PASSWORD}@127.0.0.1/x.json.gz?{SIGNATURE}", 7, "not an http(s) URL"),
        "upper-case scheme": (f"HTTP://reader:{PASSWORD}@127.0.0.1:1/x.json.gz?{SIGNATURE}", 11, "cannot fetch"),
    }
    for case, (source, code, message) in failures.items():
        result = run("mrf", "ingest", "-q", source)
        assert result.returncode == code and message in result.stderr, (case, result.stderr)
    assert [auth for path, auth in elsewhere.seen] == [None]
    # A dropped connection the server cannot resume: the run is recorded as failed, with its error.
    srv.ranges, srv.cuts = False, [len(payload) // 2]
    broken = run("mrf", "ingest", "-q", "--retries", "1", secret_url(srv))
    assert broken.returncode == 11 and "cannot resume" in broken.stderr, broken.stderr
    lookup = run("mrf", "lookup", secret_url(srv, path="/missing.json"))
    assert lookup.returncode == 11, lookup.stderr

    runs = run("mrf", "runs")
    assert runs.returncode == 0 and shown in runs.stdout, runs.stdout
    sources = {r[0] for r in postgresql.execute("SELECT source FROM mrf_private.ingest_run").fetchall()}
    assert shown in sources  # what a user needs to recognise the source stays: scheme, host, port, path
    dumped = subprocess.run([str(pg_cluster.bindir / "pg_dump"), "--data-only", "--dbname", db_url],
                            capture_output=True, text=True, check=True).stdout
    assert "ingest_run" in dumped and shown in dumped
    server_log = pg_cluster.log_file.read_text(errors="replace")
    for secret in SECRETS:
        for i, text in enumerate(outputs):
            assert secret not in text, (secret, text)
        assert secret not in dumped, secret
        assert secret not in server_log, secret


userinfo_chars = st.sampled_from(string.ascii_letters + string.digits + "-._~!$&'()*+,;=%:")


@settings(max_examples=500)
@given(user=st.text(userinfo_chars | st.just("@"), max_size=12),
       password=st.text(userinfo_chars | st.sampled_from("@/"), min_size=1, max_size=16)
       | st.text(userinfo_chars | st.sampled_from("@?#"), min_size=1, max_size=16)
       | st.builds(str.__add__, st.sampled_from(string.ascii_letters),
                   st.text(userinfo_chars | st.sampled_from("/?#"), max_size=16)),
       host=st.from_regex(r"[a-z][a-z0-9-]{0,15}(\.[a-z]{2,6}){0,2}", fullmatch=True),
       port=st.none() | st.integers(1, 65535),
       path=st.from_regex(r"(/[A-Za-z0-9_.~-]{1,12}){1,4}", fullmatch=True),
       query=st.text(string.ascii_letters + string.digits + "=&%-_.~@/", max_size=40),
       scheme=st.sampled_from(["http", "https", "HTTPS"]))
def test_a_shown_url_is_scheme_host_port_and_path_only(user, password, host, port, path, query, scheme):
    """Whatever the credentials (even with characters a URL should have percent-encoded) and the query.

    Not generated, as they have two readings: a URL without a path whose query holds an '@' (it reads as the end
    of credentials), a password with an unencoded '@' and both '/' and '?' or '#' ('u:a@b/?@host/p' is also the
    host b's path '/' with a query)."""
    where = f"{host}:{port}" if port else host
    url = f"{scheme}://{user}:{password}@{where}{path}" + (f"?{query}" if query else "")
    assert shown_url(url) == f"{scheme}://{where}{path}"


def test_credentials_go_only_to_their_host(make_server, toc):
    payload, _ = toc
    srv = make_server()
    srv.payload, srv.auth = payload, BASIC
    assert read_all(HttpSource(secret_url(srv, query="a=1"))) == payload
    srv.auth = "Basic " + base64.b64encode(b"user%:p@ss w/rd").decode()  # percent-decoded before sending
    assert read_all(HttpSource(f"http://user%25:p%40ss%20w%2Frd@127.0.0.1:{srv.server_address[1]}/t.json")) == payload
    with pytest.raises(SourceUnavailable, match="401 Unauthorized .*credentials in the URL were refused") as info:
        HttpSource(secret_url(srv))
    assert PASSWORD not in str(info.value)
    with pytest.raises(SourceUnavailable, match="401 Unauthorized .*wants credentials"):
        HttpSource(f"http://127.0.0.1:{srv.server_address[1]}/t.json")
