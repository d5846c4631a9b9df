"""Who may call the HTTP API's worker routes: bearer tokens (carepg.auth), end to end and under hypothesis.

One test per answer over real HTTP (`carepg serve`, the seeded database): no token, a token of every broken kind,
another worker's, one's own, staff's; the routes that need none. Then hypothesis over token shapes and claims in
process: random headers, payloads, algorithms and keys get exactly the status the rules give, never a 500, and a
refused request changes nothing in the database. Tokens are made here by hand (base64url, JSON, HMAC) where
PyJWT would refuse to make them (`alg: none`, a payload that is no object, claims of the wrong type).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time

import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from carepg import auth
from carepg.web.app import App
from carepg.web.pool import Database, Settings
from test_web_api import assert_problem
from web_fixtures import TEST_KEY, TEST_SECRET, Server, WebDatabase, bearer, token

NOW = time.time  # read at each use: hypothesis runs for a while
LEEWAY = auth.LEEWAY_SECONDS
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NO_SUCH_SHIFT = 2_000_000_000


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forge(header: dict, payload, *, secret: bytes | None = TEST_SECRET.encode(), digest=hashlib.sha256) -> str:
    """A compact JWS with exactly this header and payload (any JSON), HMAC-signed with `secret` (None: unsigned)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b"" if secret is None else hmac.new(secret, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(signature)}"


def claims(**extra) -> dict:
    return {"exp": int(NOW()) + 3600, **extra}


# --- one test per answer, over HTTP -----------------------------------------------------------------------------


def worker_routes(worker: int) -> list[tuple[str, str, bytes | None]]:
    """(method, path, body) of every worker route; the writes name a shift that does not exist (404 when allowed)."""
    return [
        ("GET", f"/workers/{worker}/shifts?limit=1", None),
        ("GET", f"/workers/{worker}/days?from=2023-02-01&to=2023-02-02", None),
        ("GET", f"/workers/{worker}/claims", None),
        ("POST", f"/workers/{worker}/claims", json.dumps({"shift_id": NO_SUCH_SHIFT}).encode()),
        ("DELETE", f"/workers/{worker}/claims/{NO_SUCH_SHIFT}", None),
    ]


def send(server: Server, method: str, path: str, body: bytes | None, authorization: str | None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if authorization is not None:
        headers["Authorization"] = authorization
    return server.request(path, method, headers, body, token=None)


@pytest.fixture
def unchanged(web_db: WebDatabase):
    """Fails the test if the database's claims or claim locks changed while it ran."""
    def snapshot():
        with psycopg.connect(web_db.url) as conn:
            return state(conn)

    before = snapshot()
    yield
    assert snapshot() == before, "a refused request changed the database"


def test_no_token_is_401_with_a_bearer_challenge(web_server: Server, web_db: WebDatabase, unchanged):
    for method, path, body in worker_routes(web_db.workers["CNA"]):
        reply = send(web_server, method, path, body, None)
        problem = assert_problem(reply, 401, detail_has="needs a bearer token")
        assert reply.headers["www-authenticate"] == 'Bearer realm="carepg"'
        assert problem["reason"] == "missing_token" and problem["type"] == "urn:carepg:problem:unauthorized"


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer  ", "Token abc", "bearer", "x"])
def test_another_scheme_or_no_token_in_the_header_is_401(web_server: Server, web_db: WebDatabase, authorization,
                                                         unchanged):  # fmt: skip
    for method, path, body in worker_routes(web_db.workers["CNA"]):
        reply = send(web_server, method, path, body, authorization)
        assert_problem(reply, 401)
        assert reply.headers["www-authenticate"].startswith('Bearer realm="carepg"')


def broken_tokens(worker: int) -> dict[str, tuple[str, str]]:
    """name -> (token, what the 401's detail says)."""
    now = int(NOW())
    return {
        "not a JWT": ("abc", "not a JWT"),
        "two parts": ("eyJhbGciOiJIUzI1NiJ9.e30", "not a JWT"),
        "header not JSON": (f"{b64(b'nope')}.{b64(b'{}')}.{b64(b'x')}", "not a well-formed JWT: Invalid header"),
        "alg none": (forge({"alg": "none", "typ": "JWT"}, claims(sub=str(worker)), secret=None), "signed with 'none'"),
        "alg None, signed": (forge({"alg": "None"}, claims(sub=str(worker))), "signed with 'None'"),
        "no alg": (forge({"typ": "JWT"}, claims(sub=str(worker))), "no algorithm"),
        "HS512, right secret": (forge({"alg": "HS512"}, claims(sub=str(worker)), digest=hashlib.sha512),
                                "signed with 'HS512'"),
        "ES256": (jwt.encode(claims(sub=str(worker)), EC_KEY, algorithm="ES256"), "signed with 'ES256'"),
        "RS256": (jwt.encode(claims(sub=str(worker)), RSA_KEY, algorithm="RS256"), "signed with 'RS256'"),
        "another secret": (jwt.encode(claims(sub=str(worker)), "x" * 32, algorithm="HS256"), "does not verify"),
        "payload changed after signing": (_tampered(worker), "does not verify"),
        # 43 base64url characters of HS256 signature cut to 41: one more than a multiple of 4 never decodes (cut
        # to 38, the last character's spare bits are zero one time in 16 and the bytes decode, to a wrong signature).
        "signature cut": (token(worker)[:-2], "not a well-formed JWT: Invalid crypto padding"),
        "signature changed": (token(worker)[:-6] + ("AAAAAA" if not token(worker).endswith("AAAAAA") else "BBBBBA"),
                              "does not verify"),
        "expired": (forge({"alg": "HS256"}, {"sub": str(worker), "exp": now - LEEWAY - 60}), "expired"),
        "not yet valid": (forge({"alg": "HS256"}, claims(sub=str(worker), nbf=now + LEEWAY + 600)), "not valid yet"),
        "issued in the future": (forge({"alg": "HS256"}, claims(sub=str(worker), iat=now + LEEWAY + 600)),
                                 "not valid yet"),
        "no exp": (forge({"alg": "HS256"}, {"sub": str(worker)}), "no exp claim"),
        "exp null": (forge({"alg": "HS256"}, {"sub": str(worker), "exp": None}), "no exp claim"),
        "exp a string": (forge({"alg": "HS256"}, {"sub": str(worker), "exp": str(now + 3600)}),
                         "not a number of seconds"),
        "exp a boolean": (forge({"alg": "HS256"}, {"sub": str(worker), "exp": True}), "expired"),
        "sub a number": (forge({"alg": "HS256"}, claims(sub=worker)), "malformed"),
        "role a list": (forge({"alg": "HS256"}, claims(role=["staff"])), "role claim is not a string"),
        "payload an array": (forge({"alg": "HS256"}, [1, 2]), "malformed"),
        "kid a number": (forge({"alg": "HS256", "kid": 5}, claims(sub=str(worker))), "Key ID header parameter"),
        "crit unknown": (forge({"alg": "HS256", "crit": ["exp"]}, claims(sub=str(worker))), "critical extension"),
        "huge": ("a" * 9000 + ".b.c", "not a JWT"),
    }


def _tampered(worker: int) -> str:
    header, _, signature = token(worker).split(".")
    return f"{header}.{b64(json.dumps(claims(sub=str(worker), role='staff')).encode())}.{signature}"


@pytest.mark.parametrize("name", sorted(broken_tokens(1)))
def test_a_token_that_does_not_verify_is_401_invalid_token(web_server: Server, web_db: WebDatabase, name, unchanged):
    worker = web_db.workers["CNA"]
    bad, says = broken_tokens(worker)[name]
    for method, path, body in worker_routes(worker):
        reply = send(web_server, method, path, body, f"Bearer {bad}")
        problem = assert_problem(reply, 401, detail_has=says)
        assert reply.headers["www-authenticate"] == 'Bearer realm="carepg", error="invalid_token"'
        assert problem["reason"] == "invalid_token"
        assert bad not in reply.body.decode(), "the answer echoes the token"


def test_another_workers_token_is_403_and_changes_nothing(web_server: Server, web_db: WebDatabase, unchanged):
    me, other = web_db.workers["CNA"], web_db.workers["LVN"]
    for authorization in [bearer(other)["Authorization"], f"Bearer {forge({'alg': 'HS256'}, claims())}",
                          f"Bearer {forge({'alg': 'HS256'}, claims(sub='alice'))}",
                          f"Bearer {forge({'alg': 'HS256'}, claims(sub=str(me), role='admin'))}",
                          f"Bearer {forge({'alg': 'HS256'}, claims(sub='0' + str(me)))}"]:  # fmt: skip
        for method, path, body in worker_routes(me):
            reply = send(web_server, method, path, body, authorization)
            problem = assert_problem(reply, 403, detail_has="acts for")
            assert problem["reason"] == "not_your_worker" and "www-authenticate" not in reply.headers
    # A real open shift of mine, claimed with another worker's token: still open.
    shift = web_server.request(f"/workers/{me}/shifts?limit=1").json()["shifts"][0]["id"]
    reply = send(web_server, "POST", f"/workers/{me}/claims", json.dumps({"shift_id": shift}).encode(),
                 bearer(other)["Authorization"])  # fmt: skip
    assert reply.status == 403


def test_ones_own_token_and_staffs_are_answered(web_server: Server, web_db: WebDatabase):
    me = web_db.workers["RN"]
    for authorization in (bearer(me)["Authorization"], bearer(staff=True)["Authorization"],
                          f"bearer {token(me)}", f"BEARER  {token(me)}"):  # fmt: skip
        statuses = [send(web_server, m, p, b, authorization).status for m, p, b in worker_routes(me)]
        assert statuses == [200, 200, 200, 404, 404]  # the shift of the writes does not exist
    shift = web_server.request(f"/workers/{me}/shifts?limit=1").json()["shifts"][0]["id"]
    try:
        claimed = send(web_server, "POST", f"/workers/{me}/claims", json.dumps({"shift_id": shift}).encode(),
                       bearer(staff=True)["Authorization"])  # fmt: skip
        assert claimed.status == 201  # staff claim for the worker (the operator's tools)
    finally:
        released = send(web_server, "DELETE", f"/workers/{me}/claims/{shift}", None, bearer(me)["Authorization"])
        assert released.status == 204


@pytest.mark.parametrize("path", ["/healthz", "/", "/calendar.js", "/calendar.css", "/openapi.json"])
def test_the_page_health_and_description_need_no_token(web_server: Server, path: str):
    assert send(web_server, "GET", path, None, None).status == 200
    assert send(web_server, "GET", path, None, "Bearer garbage").status == 200  # and a bad one is no reason to fail


def test_a_token_in_the_url_is_refused_and_never_logged(web_server: Server, web_db: WebDatabase):
    worker = web_db.workers["CNA"]
    mine = token(worker)
    reply = send(web_server, "GET", f"/workers/{worker}/shifts?access_token={mine}", None, None)
    assert_problem(reply, 401, detail_has="a token in the URL is not accepted")
    # With the header as well, the parameter is still no parameter of the route.
    assert_problem(send(web_server, "GET", f"/workers/{worker}/shifts?access_token={mine}", None, f"Bearer {mine}"),
                   400, detail_has="unknown parameter")  # fmt: skip
    rid = web_server.request("/healthz").headers["x-request-id"]
    web_server.log_lines(until_request_id=rid)
    assert mine not in web_server.log_path.read_text()


def test_tokens_never_reach_the_log(web_server: Server, web_db: WebDatabase):
    sent = [token(web_db.workers["LVN"]), forge({"alg": "none"}, claims(sub="1"), secret=None), token(staff=True)]
    for t in sent:
        send(web_server, "GET", f"/workers/{web_db.workers['LVN']}/claims", None, f"Bearer {t}")
    rid = web_server.request("/healthz").headers["x-request-id"]
    text = "\n".join(json.dumps(line) for line in web_server.log_lines(until_request_id=rid))
    assert not [t for t in sent if t in text or any(len(part) > 8 and part in text for part in t.split("."))]
    assert TEST_SECRET not in text


# --- hypothesis over token shapes, in process ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(web_db: WebDatabase):
    database = Database(lambda: Settings(url=web_db.url.replace("postgres@", "carepg_api@")))
    yield App(database, auth.Verifier(TEST_KEY))
    database.close()


def call(app: App, method: str, path: str, authorization: str | None, body: bytes = b"") -> tuple[int, dict, dict]:
    path, _, query = path.partition("?")
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "wsgi.input": io.BytesIO(body),
               "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body))}  # fmt: skip
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    seen: dict = {}
    answer = b"".join(app(environ, lambda status, headers: seen.update(status=status, headers=headers)))
    headers = {k.lower(): v for k, v in seen["headers"]}
    return int(seen["status"].split()[0]), headers, json.loads(answer) if answer else {}


_ABSENT = object()
times = {  # each NumericDate as an offset from now, and whether it is one (a number that is not a boolean)
    "past": st.integers(-10**8, -LEEWAY - 120).map(lambda d: ("offset", d)),
    "future": st.integers(LEEWAY + 120, 10**8).map(lambda d: ("offset", d)),
    "future float": st.floats(LEEWAY + 120.5, 10**8).map(lambda d: ("offset", d)),
    "string": st.integers(LEEWAY + 120, 10**8).map(lambda d: ("string", d)),
    "boolean": st.booleans().map(lambda v: ("value", v)),
    "null": st.just(("value", None)),
    "huge": st.integers(2**53 + 1, 2**200).map(lambda v: ("value", v)),
    "list": st.just(("value", [1])),
}


def numeric(spec, now: int):
    kind, value = spec
    return now + value if kind == "offset" else str(now + value) if kind == "string" else value


@st.composite
def token_cases(draw, target: int, others: list[int]):
    """A token for a request to worker `target`'s routes and the status the rules give it (2xx as 'ok')."""
    now = int(NOW())
    payload: dict = {}
    # Each choice is mostly a valid one, so that all three outcomes come up often.
    sub = draw(st.sampled_from(["target"] * 4 + ["other"] * 2 + ["text", "number", "null", "absent"]))
    payload["sub"] = {"target": str(target), "other": str(draw(st.sampled_from(others))),
                      "text": draw(st.text(max_size=12)), "number": target, "null": None,
                      "absent": _ABSENT}[sub]  # fmt: skip
    role = draw(st.sampled_from(["absent"] * 4 + ["staff", "worker", "text", "null", "number"]))
    payload["role"] = {"absent": _ABSENT, "staff": "staff", "worker": "worker", "text": draw(st.text(max_size=8)),
                       "null": None, "number": 1}[role]  # fmt: skip
    exp = draw(st.sampled_from(["future"] * 10 + ["absent", *times]))
    payload["exp"] = _ABSENT if exp == "absent" else numeric(draw(times[exp]), now)
    for claim in ("nbf", "iat"):
        kind = draw(st.sampled_from(["absent"] * 6 + ["past"] * 3 + ["future", "string", "null"]))
        payload[claim] = _ABSENT if kind == "absent" else numeric(draw(times[kind]), now)
    if not draw(st.integers(0, 4)):
        payload[draw(st.sampled_from(["jti", "aud", "iss", "extra"]))] = draw(st.text(max_size=8) | st.integers())
    payload = {k: v for k, v in payload.items() if v is not _ABSENT}
    header = {"alg": "HS256", "typ": "JWT"}
    signing = draw(st.sampled_from(["right"] * 16 + ["none", "HS384", "other secret", "ES256", "RS256", "tamper",
                                                     "kid", "garbage"]))  # fmt: skip
    if signing == "none":
        text = forge({**header, "alg": draw(st.sampled_from(["none", "None", "NONE", ""]))}, payload, secret=None)
    elif signing == "HS384":
        text = forge({**header, "alg": "HS384"}, payload, digest=hashlib.sha384)
    elif signing == "other secret":
        text = forge(header, payload, secret=draw(st.binary(min_size=32, max_size=64)))
    elif signing in ("ES256", "RS256"):
        key = EC_KEY if signing == "ES256" else RSA_KEY
        text = jwt.encode({"exp": now + 3600}, key, algorithm=signing)  # any content: the algorithm is wrong
    elif signing == "tamper":
        text = forge(header, payload)
        head, _, sig = text.split(".")
        # Escalated to staff, and always changed (a payload that already said staff would otherwise be the same).
        text = f"{head}.{b64(json.dumps({**payload, 'role': 'staff', 'escalated': True}).encode())}.{sig}"
    elif signing == "kid":
        text = forge({**header, "kid": draw(st.integers() | st.lists(st.integers(), max_size=2))}, payload)
    elif signing == "garbage":
        text = draw(st.text(max_size=60))
    else:
        text = forge(header, payload)
    scheme = draw(st.sampled_from(["Bearer ", "bearer ", "Bearer  "]))
    return f"{scheme}{text}", expected(payload, signing, target, now)


def expected(payload: dict, signing: str, target: int, now: int) -> str:
    """The rules, restated: '401', '403' or 'ok'."""
    def is_number(v) -> bool:
        return type(v) in (int, float) and abs(v) <= 2**53

    if signing != "right":
        return "401"
    if "exp" not in payload or payload["exp"] is None or not is_number(payload["exp"]):
        return "401"
    if payload["exp"] <= now - LEEWAY + 5:  # (a margin for the seconds the test itself takes)
        return "401"
    for claim in ("nbf", "iat"):
        if claim in payload and (not is_number(payload[claim]) or payload[claim] > now + LEEWAY - 5):
            return "401"
    if "sub" in payload and not isinstance(payload["sub"], str):
        return "401"
    if "jti" in payload and not isinstance(payload["jti"], str):
        return "401"
    role = payload.get("role")
    if role is not None and not isinstance(role, str):
        return "401"
    if role == "staff" or (role in (None, "worker") and payload.get("sub") == str(target)):
        return "ok"
    return "403"


@pytest.fixture(scope="module")
def owner(web_db: WebDatabase):
    with psycopg.connect(web_db.url, autocommit=True) as conn:
        yield conn


def state(conn) -> tuple:
    return (conn.execute('SELECT id, worker_id FROM "Shift" WHERE worker_id IS NOT NULL ORDER BY id').fetchall(),
            conn.execute("SELECT * FROM shifts_private.worker_lock ORDER BY 1").fetchall())  # fmt: skip


@pytest.fixture(scope="module")
def open_shift(web_db: WebDatabase) -> tuple[int, int]:
    """(worker, one of their open shifts) for real claims under hypothesis."""
    worker = web_db.workers["RN"]
    with psycopg.connect(web_db.url) as conn:
        shift = conn.execute("SELECT shift_id FROM shifts.available_shifts(%s, max_rows => 1)", (worker,)).fetchone()
    return worker, shift[0]


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_token_gets_the_status_the_rules_give_and_a_refusal_changes_nothing(app, web_db, owner, open_shift,
                                                                                 data):  # fmt: skip
    target, shift = open_shift
    others = [w for w in web_db.workers.values() if w != target]
    authorization, outcome = data.draw(token_cases(target, others))
    method, path, body = data.draw(st.sampled_from([
        ("GET", f"/workers/{target}/shifts?limit=1", b""),
        ("GET", f"/workers/{target}/days?from=2023-02-01&to=2023-02-03", b""),
        ("GET", f"/workers/{target}/claims", b""),
        ("POST", f"/workers/{target}/claims", json.dumps({"shift_id": shift}).encode()),
        ("DELETE", f"/workers/{target}/claims/{shift}", b""),
    ]))  # fmt: skip
    event(f"{outcome} {method}")
    before = state(owner)
    status, headers, problem = call(app, method, path, authorization, body)
    try:
        if outcome == "ok":
            assert status in {200, 201, 404}, (status, problem)  # 404: a release of a shift not held
            assert status != 404 or method == "DELETE"
        else:
            assert status == int(outcome), (outcome, status, problem, authorization)
            assert problem["reason"] in ("invalid_token", "missing_token", "not_your_worker")
            assert (headers.get("www-authenticate") is not None) == (status == 401)
            assert state(owner) == before, "a refused request changed the database"
    finally:
        if status == 201:  # give the shift back, as every HTTP test does
            assert call(app, "DELETE", f"/workers/{target}/claims/{shift}", bearer(target)["Authorization"])[0] == 204


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(header=st.one_of(st.none(), st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
                        st.text(max_size=300).map(lambda t: "Bearer " + t)))  # fmt: skip
def test_any_authorization_header_is_a_401_never_a_500(app, web_db, header):
    status, headers, problem = call(app, "GET", f"/workers/{web_db.workers['CNA']}/claims", header)
    assert status == 401 and headers["www-authenticate"].startswith('Bearer realm="carepg"'), (status, problem)


# --- public keys (RS256, ES256) and the audience --------------------------------------------------------------------


def public_key_config(private, algorithm: str, audience: str | None = None) -> auth.KeyConfig:
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    config = auth.configured({auth.PUBLIC_KEY_ENV: pem.decode(), **({auth.AUDIENCE_ENV: audience} if audience else {})})
    assert config is not None and config.algorithm == algorithm
    return config


@pytest.mark.parametrize(("private", "algorithm"), [(EC_KEY, "ES256"), (RSA_KEY, "RS256")])
def test_a_public_key_verifies_its_own_algorithm_only(app, web_db, private, algorithm):
    config = public_key_config(private, algorithm)
    keyed = App(app.db, auth.Verifier(config))
    worker = web_db.workers["CNA"]
    path = f"/workers/{worker}/claims"
    own = jwt.encode(claims(sub=str(worker)), private, algorithm=algorithm)
    assert call(keyed, "GET", path, f"Bearer {own}")[0] == 200
    staff = jwt.encode(claims(role="staff"), private, algorithm=algorithm)
    assert call(keyed, "GET", path, f"Bearer {staff}")[0] == 200
    other_key = ec.generate_private_key(ec.SECP256R1()) if algorithm == "ES256" else rsa.generate_private_key(
        public_exponent=65537, key_size=2048)  # fmt: skip
    signed_elsewhere = jwt.encode(claims(sub=str(worker)), other_key, algorithm=algorithm)
    assert call(keyed, "GET", path, f"Bearer {signed_elsewhere}")[0] == 401
    # The classic confusion: HS256 with the public key's PEM text as the HMAC secret.
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    confused = forge({"alg": "HS256"}, claims(role="staff"), secret=pem)
    status, headers, problem = call(keyed, "GET", path, f"Bearer {confused}")
    assert status == 401 and f"accepts {algorithm} only" in problem["detail"]
    with pytest.raises(auth.NotConfigured, match="can only sign with a secret"):
        auth.mint(config, worker_id=worker, staff=False, ttl_seconds=60)


def test_an_audience_when_configured_must_be_named(app, web_db):
    keyed = App(app.db, auth.Verifier(auth.KeyConfig(TEST_SECRET.encode(), "HS256", "test", audience="carepg-api")))
    worker = web_db.workers["CNA"]
    path = f"/workers/{worker}/claims"
    for aud, status in (("carepg-api", 200), (["x", "carepg-api"], 200), ("another-api", 401), (None, 401)):
        extra = {"aud": aud} if aud is not None else {}
        sent = forge({"alg": "HS256"}, claims(sub=str(worker), **extra))
        assert call(keyed, "GET", path, f"Bearer {sent}")[0] == status


def test_a_remembered_token_still_expires(app, web_db):
    """Verified tokens are remembered per process; their expiry is checked on every use all the same."""
    verifier = auth.Verifier(TEST_KEY)
    worker = web_db.workers["CNA"]
    soon = forge({"alg": "HS256"}, {"sub": str(worker), "exp": int(NOW()) + 2 - LEEWAY})
    identity = verifier.identify(f"Bearer {soon}")
    assert identity.worker_id == worker and verifier.identify(f"Bearer {soon}") is identity  # from memory
    time.sleep(3.1)
    with pytest.raises(auth.Unauthorized, match="expired"):
        verifier.identify(f"Bearer {soon}")
