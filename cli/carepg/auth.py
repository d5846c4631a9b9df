"""Who may act for a worker: bearer tokens (JWT), verified the way PostgREST does it, and minted by `carepg token`.

Every `/workers/{id}/...` route of the web app calls `Verifier.identify()` on the request's Authorization header
and then `Identity.authorize()` with the worker the path names (web/app.py, `App.authorized`; a new worker
route calls that same method). The rules:

* `Authorization: Bearer <JWT>`, nothing else (a token in the URL would end up in logs and browser history).
* Signed with HS256 and the shared secret (CAREPG_JWT_SECRET, at least 32 bytes, or CAREPG_JWT_SECRET_FILE), or
  with RS256 / ES256 and an identity provider's public key (CAREPG_JWT_PUBLIC_KEY or CAREPG_JWT_PUBLIC_KEY_FILE,
  PEM; RSA of 2048 bits or more, or EC P-256). The algorithm is the key's, never the token's: a token that
  names another one (`none` included) is refused before anything else is looked at.
* `exp` is required; `nbf` and `iat`, when present, must not be in the future; 30 s of clock skew are allowed
  (as PostgREST does). With CAREPG_JWT_AUDIENCE set, `aud` must name it.
* `sub` is the worker id as a string: the token acts for that worker only. `role: "staff"` acts for any worker
  (a facility's or the operator's tools) and needs no `sub`. Any other role acts for nobody.

Missing or unverifiable credentials are a 401 (errors.Unauthorized, with WWW-Authenticate: Bearer and, for a
token that was sent, error="invalid_token" as RFC 6750 says); a valid token for someone else is a 403
(errors.Forbidden, reason `not_your_worker`). The identity then goes to PostgreSQL with the request's statement
(`Identity.settings`, see sql/shifts_private/acting_identity.sql), which refuses another worker's on its own.

Cheap per request: the key is loaded once per process, and a token that verified is remembered (the exact token
text, its identity and its expiry) so that the next request with it costs a dictionary lookup and a clock read
instead of PyJWT's ~100 us of base64, JSON and HMAC; expiry is checked again on every use. Only tokens that
verified are remembered, at most MAX_REMEMBERED of them (then the memory starts over).

With nothing configured, `carepg serve` on a loopback address and `carepg token` use a development secret they
create under CAREPG_HOME (mode 0600); a server reachable from elsewhere refuses to start without a real one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import os
import re
import secrets
import socket
import time
from pathlib import Path
from typing import Any

import jwt

from .errors import Forbidden, InvalidInput, NotConfigured, Unauthorized

SECRET_ENV = "CAREPG_JWT_SECRET"
SECRET_FILE_ENV = "CAREPG_JWT_SECRET_FILE"
PUBLIC_KEY_ENV = "CAREPG_JWT_PUBLIC_KEY"
PUBLIC_KEY_FILE_ENV = "CAREPG_JWT_PUBLIC_KEY_FILE"
AUDIENCE_ENV = "CAREPG_JWT_AUDIENCE"
DEV_SECRET_NAME = "jwt-dev-secret"  # under CAREPG_HOME (cluster.default_home())

MIN_SECRET_BYTES = 32  # HS256's own output size; shorter secrets are guessable offline from one token
MIN_RSA_BITS = 2048
LEEWAY_SECONDS = 30
MAX_TOKEN_CHARS = 8192
MAX_REMEMBERED = 10_000
INT32_MAX = 2**31 - 1
STAFF = "staff"
WORKER = "worker"

# RFC 6750's b64token, and a JWS compact serialisation (three base64url parts) within it.
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +(\S+) *")
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_WORKER_ID = re.compile(r"[1-9][0-9]{0,9}")
_REALM = 'Bearer realm="carepg"'


# --- identities -------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    """Who a verified token speaks for: its `sub` and its `role` (None when absent)."""

    subject: str | None
    role: str | None

    @property
    def staff(self) -> bool:
        return self.role == STAFF

    @property
    def worker_id(self) -> int | None:
        """The worker this token acts for (not staff; `sub` a worker id), else None."""
        if self.role not in (None, WORKER) or self.subject is None or not _WORKER_ID.fullmatch(self.subject):
            return None
        worker_id = int(self.subject)
        return worker_id if worker_id <= INT32_MAX else None

    def authorize(self, worker_id: int) -> None:
        """Forbidden (403, reason not_your_worker) unless this identity may act for `worker_id`."""
        if self.staff or self.worker_id == worker_id:
            return
        if self.role not in (None, WORKER):
            why = f"this token's role {_shown(self.role)} acts for no worker (only {STAFF!r} acts for others)"
        elif self.worker_id is None:
            why = "this token names no worker (its sub must be the worker id, e.g. \"101\")"
        else:
            why = f"this token acts for worker {self.worker_id}, not worker {worker_id}"
        refused = Forbidden(f"{why}: a worker's token acts for that worker only")
        refused.reason = "not_your_worker"
        raise refused

    @property
    def settings(self) -> tuple[str, str]:
        """What the database is told for this request (carepg.worker_id, carepg.role): only what authorize() let
        through, so the database's own check agrees."""
        return ("", STAFF) if self.staff else (str(self.worker_id or ""), WORKER)


# --- keys ---------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class KeyConfig:
    """What verifies tokens (and, for a secret, signs them): the key object, its one algorithm, where it came from."""

    key: Any  # bytes (HS256) or a cryptography public key (RS256, ES256)
    algorithm: str
    source: str  # for messages: the setting, never the key
    audience: str | None = None
    development: bool = False

    @property
    def can_sign(self) -> bool:
        return self.algorithm == "HS256"


def configured(environ: dict[str, str] | None = None) -> KeyConfig | None:
    """The key the environment configures, or None when it configures none. NotConfigured (one line) for a setting
    that cannot be used: too short, unreadable, not a public key, two at once."""
    env = os.environ if environ is None else environ
    secret = _one_of(env, SECRET_ENV, SECRET_FILE_ENV)
    public = _one_of(env, PUBLIC_KEY_ENV, PUBLIC_KEY_FILE_ENV)
    audience = env.get(AUDIENCE_ENV) or None
    if secret and public:
        raise NotConfigured(f"both a secret ({secret[0]}) and a public key ({public[0]}) are set: set one; a token "
                            "is verified with one key and one algorithm")  # fmt: skip
    if secret:
        name, value = secret
        return KeyConfig(_secret_bytes(value, name), "HS256", name, audience)
    if public:
        name, value = public
        key, algorithm = _public_key(value, name)
        return KeyConfig(key, algorithm, name, audience)
    return None


def _one_of(env, inline: str, file: str) -> tuple[str, bytes] | None:
    """(setting name, value) of `inline` or of the file `file` names; None when neither is set."""
    if env.get(inline) and env.get(file):
        raise NotConfigured(f"both {inline} and {file} are set: set one of them")
    if env.get(inline):
        return inline, env[inline].encode()
    if env.get(file):
        try:
            return file, Path(env[file]).read_bytes()
        except OSError as exc:
            raise NotConfigured(f"cannot read {file}={env[file]!r}: {exc.strerror}") from None
    return None


def _secret_bytes(value: bytes, name: str) -> bytes:
    secret = value.rstrip(b"\r\n")  # a file usually ends with a newline; the secret does not
    if len(secret) < MIN_SECRET_BYTES:
        raise NotConfigured(f"{name} is {len(secret)} bytes: it must be at least {MIN_SECRET_BYTES} (e.g. `openssl "
                            "rand -hex 32`)")  # fmt: skip
    return secret


def _public_key(value: bytes, name: str) -> tuple[Any, str]:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(value)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise NotConfigured(f"{name} is not a PEM public key (-----BEGIN PUBLIC KEY-----)") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise NotConfigured(f"{name} is a {key.key_size}-bit RSA key: it must have at least {MIN_RSA_BITS}")
        return key, "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key, "ES256"
    raise NotConfigured(f"{name} is a {type(key).__name__.removeprefix('_')} key: use an RSA key (RS256) or an EC "
                        "P-256 key (ES256)")  # fmt: skip


def development_secret(home: Path, *, create: bool) -> KeyConfig | None:
    """The development secret under `home` (made, 32 random bytes as hex, mode 0600, when `create`); None when
    there is none and `create` is false. Refused when other users may read it."""
    path = home / DEV_SECRET_NAME
    if create and not path.exists():
        try:
            home.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile: use theirs
            pass
        except OSError as exc:  # CAREPG_HOME cannot be made or written
            raise NotConfigured(f"cannot make the development secret {path}: {exc.strerror}; set "
                                f"{SECRET_ENV} instead, or point CAREPG_HOME at a writable directory") from None
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32) + "\n")
    try:
        mode = path.stat().st_mode
        value = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise NotConfigured(f"cannot read the development secret {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise NotConfigured(f"the development secret {path} may be read by other users: `chmod 600 {path}` (or "
                            "delete it to get a new one)")  # fmt: skip
    return KeyConfig(_secret_bytes(value, str(path)), "HS256", str(path), os.environ.get(AUDIENCE_ENV) or None,
                     development=True)  # fmt: skip


def is_loopback(host: str) -> bool:
    """Does `host` resolve to loopback addresses only (127.0.0.0/8, ::1)? An unresolvable host is not."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return False
    addresses = {info[4][0].split("%", 1)[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


# --- verifying ----------------------------------------------------------------------------------------------------


class Verifier:
    """Turns an Authorization header into an Identity (or a 401), with one key and one algorithm."""

    def __init__(self, config: KeyConfig) -> None:
        self.config = config
        self._algorithms = [config.algorithm]
        self._jwt = jwt.PyJWT(options={"require": ["exp"], "verify_aud": config.audience is not None})
        self._remembered: dict[str, tuple[Identity, float]] = {}

    @classmethod
    def from_env(cls) -> Verifier:
        """The web app's: the configured key, else the development secret `carepg serve` made (it points
        CAREPG_JWT_SECRET_FILE at it); NotConfigured (503) when there is neither."""
        config = configured()
        if config is None:
            raise NotConfigured(f"this server verifies no tokens: set {SECRET_ENV} (at least {MIN_SECRET_BYTES} "
                                f"bytes), {SECRET_FILE_ENV} or {PUBLIC_KEY_ENV} for it")  # fmt: skip
        return cls(config)

    def identify(self, authorization: str | None, query: str = "") -> Identity:
        """The identity of a request's Authorization header (WSGI's HTTP_AUTHORIZATION); Unauthorized otherwise."""
        if not authorization:
            if "access_token" in query:
                raise Unauthorized("a token in the URL is not accepted (it would end up in logs and browser "
                                   "history): send it as Authorization: Bearer <token>")  # fmt: skip
            raise Unauthorized("this route needs a bearer token: send Authorization: Bearer <token> (`carepg token "
                               "WORKER` mints one with the server's secret)")  # fmt: skip
        bearer = _BEARER.fullmatch(authorization)
        if bearer is None:
            raise Unauthorized("the Authorization header must be `Bearer <token>` (one token, no other scheme)")
        token = bearer.group(1)
        remembered = self._remembered.get(token)
        if remembered is not None:
            if time.time() < remembered[1]:
                return remembered[0]
            self._remembered.pop(token, None)
        identity, valid_until = self._verify(token)
        if len(self._remembered) >= MAX_REMEMBERED:
            self._remembered.clear()
        self._remembered[token] = (identity, valid_until)
        return identity

    def _verify(self, token: str) -> tuple[Identity, float]:
        if len(token) > MAX_TOKEN_CHARS or not _COMPACT_JWS.fullmatch(token):
            raise _invalid("the bearer token is not a JWT (three base64url parts: header.payload.signature)")
        try:
            header = jwt.get_unverified_header(token)  # also decodes the payload and signature parts
        except jwt.PyJWTError as exc:  # PyJWT's reason names a part or a header field, never echoes the token
            raise _invalid(f"the bearer token is not a well-formed JWT: {str(exc)[:80]}") from None
        alg = header.get("alg")
        if alg != self.config.algorithm:  # `none` and every other algorithm, before any key is used
            named = _shown(alg) if isinstance(alg, str) else "no algorithm"
            raise _invalid(f"the token is signed with {named}; this server accepts {self.config.algorithm} only")
        try:
            claims = self._jwt.decode(token, self.config.key, algorithms=self._algorithms, leeway=LEEWAY_SECONDS,
                                      audience=self.config.audience)  # fmt: skip
        except jwt.ExpiredSignatureError:
            raise _invalid("the token has expired: get a new one") from None
        except jwt.ImmatureSignatureError:
            raise _invalid("the token is not valid yet (nbf or iat is in the future)") from None
        except jwt.InvalidSignatureError:
            raise _invalid("the token's signature does not verify with this server's key") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _invalid(f"the token has no {exc.claim} claim; carepg requires one") from None
        except jwt.InvalidAudienceError:
            raise _invalid("the token is meant for another audience (aud)") from None
        except jwt.PyJWTError:
            raise _invalid("the token is malformed (a claim of the wrong type, or an unsupported header)") from None
        for claim in ("exp", "nbf", "iat"):  # PyJWT also takes "123" for a number; RFC 7519 does not
            if claim in claims and not _numeric_date(claims[claim]):
                raise _invalid(f"the token's {claim} claim is not a number of seconds since 1970")
        role = claims.get("role")
        if role is not None and not isinstance(role, str):
            raise _invalid("the token's role claim is not a string")
        identity = Identity(subject=claims.get("sub"), role=role)
        return identity, float(claims["exp"]) + LEEWAY_SECONDS


def _numeric_date(value: Any) -> bool:
    """A JSON number of seconds (not a boolean, not a string), within 2**53 of 1970 (285 million years)."""
    return type(value) in (int, float) and abs(value) <= 2**53  # NaN compares false: refused too


def _invalid(message: str) -> Unauthorized:
    return Unauthorized(message, challenge=f'{_REALM}, error="invalid_token"')


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


# --- minting (`carepg token`) ---------------------------------------------------------------------------------------


_TTL = re.compile(r"([0-9]{1,9})([smhd]?)")
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TTL_SECONDS = 366 * 86400


def parse_ttl(text: str) -> int:
    """Seconds of a TTL like 3600, 90s, 15m, 8h or 7d (1 s to 366 days); InvalidInput otherwise."""
    match = _TTL.fullmatch(text.strip().lower())
    seconds = int(match.group(1)) * _TTL_UNITS[match.group(2)] if match else 0
    if not 1 <= seconds <= MAX_TTL_SECONDS:
        raise InvalidInput(f"invalid --ttl {text[:40]!r}: give seconds or a number with s, m, h or d, from 1s to 366d")
    return seconds


def mint(config: KeyConfig, *, worker_id: int | None, staff: bool, ttl_seconds: int, now: float | None = None) -> str:
    """A token for a worker (sub) or for staff (role), valid for ttl_seconds, signed with the configured secret."""
    if not config.can_sign:
        raise NotConfigured(f"this deployment verifies {config.algorithm} tokens with a public key ({config.source}): "
                            "its identity provider issues them; carepg can only sign with a secret "
                            f"({SECRET_ENV})")  # fmt: skip
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"iat": issued, "exp": issued + ttl_seconds}
    if staff:
        claims["role"] = STAFF
    if worker_id is not None:
        claims["sub"] = str(worker_id)
    if config.audience:
        claims["aud"] = config.audience
    return jwt.encode(claims, config.key, algorithm="HS256")


def expiry_text(token: str) -> str:
    """When a token minted here expires, for a message (read back without verifying: it was just made)."""
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    return dt.datetime.fromtimestamp(exp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
