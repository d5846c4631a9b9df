"""Where tokens come from: `carepg token`, the key settings, the development secret, and what `carepg serve` does
with them (refuses a non-loopback address without a real secret; on loopback, prints sign-in links that work).
Also: passwords in database URLs stay out of what carepg prints."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from carepg import auth
from carepg.cli import app
from carepg.errors import InvalidInput, NotConfigured
from web_fixtures import Server, WebDatabase, free_port, run_server

SECRET = "s" * 40
runner = CliRunner()


@pytest.fixture
def env(monkeypatch, tmp_path):
    """No key configured, CAREPG_HOME in a fresh directory."""
    for name in (auth.SECRET_ENV, auth.SECRET_FILE_ENV, auth.PUBLIC_KEY_ENV, auth.PUBLIC_KEY_FILE_ENV,
                 auth.AUDIENCE_ENV):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CAREPG_HOME", str(tmp_path / "home"))
    return monkeypatch


def mint(*args: str):
    return runner.invoke(app, ["token", *args])


def decoded(token: str, secret: str | bytes = SECRET) -> dict:
    return jwt.decode(token, secret, algorithms=["HS256"])


def test_token_for_a_worker_and_for_staff(env):
    env.setenv(auth.SECRET_ENV, SECRET)
    result = mint("101")
    assert result.exit_code == 0, result.output
    claims = decoded(result.stdout.strip())
    assert claims["sub"] == "101" and "role" not in claims and claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 60
    assert result.stderr.startswith("token for worker 101, valid until ")
    claims = decoded(mint("--staff", "--ttl", "15m").stdout.strip())
    assert claims["role"] == "staff" and "sub" not in claims and claims["exp"] - claims["iat"] == 900
    for ttl, seconds in (("90", 90), ("90s", 90), ("8h", 8 * 3600), ("7D", 7 * 86400), ("366d", 366 * 86400)):
        claims = decoded(mint("5", "--ttl", ttl).stdout.strip())
        assert claims["exp"] - claims["iat"] == seconds
    # What it mints, the server's verifier takes.
    identity = auth.Verifier(auth.configured()).identify(f"Bearer {mint('7').stdout.strip()}")
    assert identity.worker_id == 7 and not identity.staff


@pytest.mark.parametrize(("args", "says"), [
    ((), "give a WORKER"),
    (("101", "--staff"), "not both or neither"),
    (("101", "--ttl", "0"), "invalid --ttl"),
    (("101", "--ttl", "367d"), "invalid --ttl"),
    (("101", "--ttl", "1w"), "invalid --ttl"),
    (("101", "--ttl", "-5"), "invalid --ttl"),
])  # fmt: skip
def test_token_refuses_what_it_cannot_mint(env, args, says):
    env.setenv(auth.SECRET_ENV, SECRET)
    result = mint(*args)
    assert result.exit_code == InvalidInput.exit_code and result.stdout == ""
    assert result.stderr.startswith("error: ") and says in result.stderr and len(result.stderr.splitlines()) == 1
    assert mint("0").exit_code == InvalidInput.exit_code  # a worker id is 1..2147483647 (the argument policy)


def test_key_settings_that_cannot_be_used_are_one_line(env, tmp_path):
    cases = [
        ({auth.SECRET_ENV: "short"}, "is 5 bytes: it must be at least 32"),
        ({auth.SECRET_ENV: SECRET, auth.SECRET_FILE_ENV: str(tmp_path / "x")}, "set one of them"),
        ({auth.SECRET_FILE_ENV: str(tmp_path / "missing")}, "cannot read CAREPG_JWT_SECRET_FILE"),
        ({auth.PUBLIC_KEY_ENV: "not a key"}, "is not a PEM public key"),
        ({auth.SECRET_ENV: SECRET, auth.PUBLIC_KEY_ENV: "x"}, "set one"),
        ({auth.PUBLIC_KEY_ENV: _public_pem(ec.SECP384R1())}, "use an RSA key (RS256) or an EC P-256 key"),
        ({auth.PUBLIC_KEY_ENV: _public_pem(ec.SECP256R1())}, "can only sign with a secret"),
    ]
    for settings, says in cases:
        with env.context() as scoped:
            for name, value in settings.items():
                scoped.setenv(name, value)
            result = mint("101")
            assert result.exit_code == NotConfigured.exit_code, (settings, result.output)
            assert says in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
            assert SECRET not in result.output and "short" not in result.stderr.replace("is 5 bytes", "")


def _public_pem(curve) -> str:
    key = ec.generate_private_key(curve).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_a_secret_file_may_end_with_a_newline(env, tmp_path):
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    env.setenv(auth.SECRET_FILE_ENV, str(path))
    assert decoded(mint("3").stdout.strip())["sub"] == "3"


def test_without_a_secret_the_development_secret_is_made_private_and_reused(env, tmp_path):
    first = mint("101")
    assert first.exit_code == 0, first.output
    path = tmp_path / "home" / auth.DEV_SECRET_NAME
    assert "development secret" in first.stderr and str(path) in first.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text().strip()
    assert len(secret) == 64 and decoded(first.stdout.strip(), secret)["sub"] == "101"
    assert decoded(mint("102").stdout.strip(), secret)["sub"] == "102"  # the same secret again
    path.chmod(0o644)
    refused = mint("101")
    assert refused.exit_code == NotConfigured.exit_code and "may be read by other users" in refused.stderr


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                                ("127.3.2.1", True), ("0.0.0.0", False), ("::", False),
                                                ("192.0.2.7", False), ("no-such-host.invalid", False)])  # fmt: skip
def test_what_counts_as_loopback(host, loopback):
    assert auth.is_loopback(host) is loopback


def serve(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CAREPG_JWT_")}
    return subprocess.run([sys.executable, "-m", "carepg", "serve", *args], capture_output=True, text=True,
                          timeout=60, env={**environment, **env})  # fmt: skip


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_a_server_reachable_from_elsewhere_needs_a_real_secret(web_db: WebDatabase, tmp_path, host):
    result = serve("--host", host, "--port", str(free_port()), DATABASE_URL=web_db.url,
                   CAREPG_HOME=str(tmp_path))  # fmt: skip
    assert result.returncode == NotConfigured.exit_code, result.stderr
    assert result.stderr.splitlines() == [
        f"error: refusing to serve on {host} without a token secret: set CAREPG_JWT_SECRET (at least 32 bytes, e.g. "
        "`openssl rand -hex 32`), CAREPG_JWT_SECRET_FILE or CAREPG_JWT_PUBLIC_KEY; only a loopback --host may use a "
        "development secret"
    ]
    assert not (tmp_path / auth.DEV_SECRET_NAME).exists() and result.stdout == ""


def test_on_loopback_without_a_secret_serve_prints_sign_in_links_that_work(web_db: WebDatabase, tmp_path):
    home = tmp_path / "home"
    with run_server(web_db.url, tmp_path, CAREPG_JWT_SECRET="", CAREPG_HOME=str(home)) as server:
        secret = (home / auth.DEV_SECRET_NAME).read_text().strip()
        links = _sign_in_links(server)
        workers = sorted(web_db.workers.values())
        assert [who for who, _ in links] == [*(f"worker {w}" for w in workers), "staff"]
        for (who, link), worker in zip(links, [*workers, workers[0]], strict=True):
            base, _, token = link.partition("#token=")
            assert base == f"{server.base_url}/" + ("" if who == "staff" else f"?worker={worker}")
            claims = decoded(token, secret)
            assert claims["exp"] - claims["iat"] == 12 * 3600
            reply = server.request(f"/workers/{worker}/claims", token=token)
            assert reply.status == 200, reply.body
        startup = [line for line in server.log_lines() if line.get("event") == "startup" and "tokens" in line]
        assert startup and startup[0]["tokens"] == f"HS256 ({home / auth.DEV_SECRET_NAME})"
        rid = server.request("/healthz").headers["x-request-id"]
        log = "\n".join(json.dumps(line) for line in server.log_lines(until_request_id=rid))
        assert not [link for _, link in links if link.partition("#token=")[2] in log], "a token in the log"
        assert secret not in log


def _sign_in_links(server: Server) -> list[tuple[str, str]]:
    deadline = time.monotonic() + 30
    while True:  # printed just before granian starts; wait for the last one (a guard, not a timing assertion)
        lines = server.out_path.read_text().splitlines()
        if any(line.lstrip().startswith("staff") for line in lines) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert lines[0].startswith("development sign-in, valid 12 h (tokens signed with ")
    return [(line.split(":", 1)[0].strip().split(" (")[0], line.split(": ", 1)[1]) for line in lines[1:]]


def test_with_a_configured_secret_serve_prints_no_links_and_makes_no_secret(web_db: WebDatabase, tmp_path):
    with run_server(web_db.url, tmp_path, CAREPG_HOME=str(tmp_path / "home")) as server:
        assert server.request("/healthz").status == 200
        assert server.out_path.read_text() == ""
    assert not (tmp_path / "home" / auth.DEV_SECRET_NAME).exists()


def test_database_passwords_stay_out_of_what_carepg_prints(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://bob:s3cret-pw@127.0.0.1:1/db?sslmode=disable")
    for args in (["db", "url"], ["demo"], ["shifts", "101"], ["claim", "101", "5"], ["migrate"]):
        result = runner.invoke(app, args)
        assert "s3cret-pw" not in result.output, (args, result.output)
    assert runner.invoke(app, ["db", "url"]).stdout.strip() == "postgresql://bob:***@127.0.0.1:1/db?sslmode=disable"
    result = serve("--port", str(free_port()), CAREPG_JWT_SECRET=SECRET,
                   CAREPG_WEB_DATABASE_URL="postgresql://bob:s3cret-pw@[::1/db")  # fmt: skip
    assert result.returncode == InvalidInput.exit_code and "s3cret-pw" not in result.stderr + result.stdout
    assert result.stderr.startswith("error: invalid CAREPG_WEB_DATABASE_URL: ") and "bob:***@" in result.stderr
