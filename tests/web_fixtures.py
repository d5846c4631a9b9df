"""Fixtures for the HTTP tests: a seeded database and a real `carepg serve` process (granian) on loopback.

Loaded as a pytest plugin from conftest.py. The server is the production one, started the way a user starts it,
and talks to the session's PostgreSQL cluster as the carepg_api role. It verifies tokens signed with TEST_SECRET
(CAREPG_JWT_SECRET), and `Server.request` sends one unless told otherwise: for a /workers/{id}/... path, a token
of that worker (the route's own worker, as a worker's phone would send); for anything else, a staff token.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from carepg import auth, migrations, seed, shifts

WEB_DB = "carepg_web"
FUZZ_DB = "carepg_web_fuzz"
SEED_SHIFTS = 60_000  # about 1,000 available shifts per deterministic worker: many pages
FUZZ_SHIFTS = 6_000  # the fuzzer claims and releases for real: its own, smaller database
SEED = 1
TEST_SECRET = "carepg-tests-" + secrets.token_hex(24)  # what every test server verifies tokens with
TEST_KEY = auth.KeyConfig(TEST_SECRET.encode(), "HS256", "CAREPG_JWT_SECRET")
OWN_TOKEN = object()  # Server.request's default: see the module's docstring
_WORKER_PATH = re.compile(r"/workers/([0-9]{1,10})/")


def token(worker_id: int | None = None, *, staff: bool = False, ttl: int = 3600) -> str:
    """A token the test servers accept: a worker's, or with `staff` one for any worker."""
    return auth.mint(TEST_KEY, worker_id=worker_id, staff=staff, ttl_seconds=ttl)


def bearer(worker_id: int | None = None, *, staff: bool = False) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(worker_id, staff=staff)}"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclasses.dataclass
class Server:
    """A running `carepg serve`: its base URL, its stderr (the JSON access log), its stdout and its process."""

    host: str
    port: int
    log_path: Path
    process: subprocess.Popen
    out_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def request(self, path: str, method: str = "GET", headers: dict[str, str] | None = None,
                body: bytes | None = None, token=OWN_TOKEN) -> Reply:  # fmt: skip
        """`token`: OWN_TOKEN (the route's worker's, else staff), a token string to send, or None for none."""
        headers = dict(headers or {})
        if token is OWN_TOKEN:
            token = own_token(path)
        if token is not None and not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def post_json(self, path: str, payload, headers: dict[str, str] | None = None, token=OWN_TOKEN) -> Reply:
        body = json.dumps(payload).encode()
        return self.request(path, "POST", {"Content-Type": "application/json", **(headers or {})}, body, token)

    def log_lines(self, until_request_id: str | None = None) -> list[dict]:
        """Every line the server wrote to stderr, parsed (a line that is not JSON fails the test). Access lines
        are written a moment after the answer (carepg.web.logs): with `until_request_id`, wait for that
        request's access line first (a guard against hanging, not a timing assertion)."""
        deadline = time.monotonic() + 30
        while True:
            lines = [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]
            if until_request_id is None or time.monotonic() > deadline or any(
                line.get("event") == "access" and line.get("request_id") == until_request_id for line in lines
            ):
                return lines
            time.sleep(0.02)


@contextlib.contextmanager
def run_server(database_url: str, tmp: Path, **env: str) -> Iterator[Server]:
    """`carepg serve` on a free loopback port, pointed at database_url; stopped (SIGTERM) afterwards."""
    port = free_port()
    log_path = tmp / f"serve-{port}.log"
    out_path = tmp / f"serve-{port}.out"
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PYTHONUNBUFFERED": "1",
        auth.SECRET_ENV: TEST_SECRET,
        **env,
    }
    environment.pop("CAREPG_WEB_DATABASE_URL", None)
    with open(log_path, "wb") as log, open(out_path, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "carepg", "serve", "--port", str(port), "--workers", "1", "--threads", "4"],
            stdout=out,
            stderr=log,
            env=environment,
        )
    server = Server("127.0.0.1", port, log_path, process, out_path)
    try:
        _wait_for_port(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_TOKENS: dict[int | None, str] = {}


def own_token(path: str) -> str:
    """The token a request to `path` sends by default: the worker's own for /workers/{id}/..., else a staff token;
    one per worker for the session, as a client keeps its token."""
    match = _WORKER_PATH.match(path)
    worker_id: int | None = int(match.group(1)) if match else None
    if worker_id is not None and not 1 <= worker_id <= auth.INT32_MAX:
        worker_id = None
    if worker_id not in _TOKENS:
        _TOKENS[worker_id] = token(worker_id, staff=worker_id is None, ttl=6 * 3600)
    return _TOKENS[worker_id]


def _wait_for_port(server: Server) -> None:
    deadline = time.monotonic() + 30
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"carepg serve exited with {server.process.returncode}: {server.log_path.read_text()}")
        try:
            socket.create_connection((server.host, server.port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"carepg serve did not listen on {server.port}: {server.log_path.read_text()}")
            time.sleep(0.05)


@dataclasses.dataclass
class WebDatabase:
    url: str  # as the owner (postgres), for checking answers directly
    workers: dict[str, int]  # profession -> deterministic worker id


def prepare_database(url: str, shift_count: int = SEED_SHIFTS) -> dict[str, int]:
    """Migrate, seed the small deterministic challenge data, refresh; the deterministic workers."""
    migrations.upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        workers, _ = seed.seed(conn, shifts=shift_count, seed=SEED)
        shifts.refresh(conn, concurrently=False)
    return dict(workers)


def _new_database(pg_server, name: str, shift_count: int) -> WebDatabase:
    admin = f"postgresql://postgres@/postgres?host={pg_server.host}&port={pg_server.port}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    url = f"postgresql://postgres@/{name}?host={pg_server.host}&port={pg_server.port}"
    return WebDatabase(url=url, workers=prepare_database(url, shift_count))


@pytest.fixture(scope="session")
def web_db(pg_server) -> WebDatabase:
    """One migrated and seeded database for all HTTP tests. Tests that claim put back what they took."""
    return _new_database(pg_server, WEB_DB, SEED_SHIFTS)


@pytest.fixture(scope="session")
def web_server(web_db: WebDatabase, tmp_path_factory) -> Iterator[Server]:
    with run_server(web_db.url, tmp_path_factory.mktemp("web")) as server:
        yield server


@pytest.fixture(scope="module")
def fuzz_server(pg_server, tmp_path_factory) -> Iterator[Server]:
    """A server on a throwaway database of its own, for the fuzzer: whatever it claims stays there."""
    fuzz_db = _new_database(pg_server, FUZZ_DB, FUZZ_SHIFTS)
    with run_server(fuzz_db.url, tmp_path_factory.mktemp("fuzz")) as server:
        yield server
