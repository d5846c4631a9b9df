"""Where the bytes come from: a local file or an http(s) URL, read in chunks, never stored.

An HTTP source resumes a dropped download with a Range request from the last byte received, so the caller's
decompressor simply keeps going; retries are bounded and each error a user can meet (expired signature, missing
file, a server that cannot resume) is one clear line.

A URL may carry secrets: credentials (`https://user:password@host/...`, sent as HTTP Basic authentication, and
only to the host they were given for) and a signed query string. Neither is ever shown or stored: messages, the
run table and the summary name a source by `shown_url` (scheme, host, port and path), and no exception text that
could quote the URL is passed on.
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import socket
import ssl
import time
import urllib.parse
from pathlib import Path

from ..errors import InvalidInput, SourceUnavailable

MAX_REDIRECTS = 5


class Source:
    """A stream of bytes with a known position (bytes handed out so far) and, when known, a total size.

    Read with `readinto` (or `read`) until it returns nothing; `close` releases the file or connection.
    """

    name: str
    size: int | None
    position: int = 0
    resumes: int = 0
    failures: int = 0

    def readinto(self, buf) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def read(self, n: int) -> bytes:
        buf = bytearray(n)
        got = self.readinto(buf)
        del buf[got:]
        return bytes(buf)

    def rewound(self):
        """A file object at byte 0 that a reader may use directly, if the source has one (see FileSource)."""
        return None

    def close(self) -> None:
        pass


class FileSource(Source):
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.name = _printable(str(path))
        try:
            self.size = self.path.stat().st_size
        except FileNotFoundError:
            raise InvalidInput(f"no such file: {self.name}") from None
        except OSError as exc:
            raise InvalidInput(f"cannot read {self.name}: {exc.strerror}") from None
        if self.path.is_dir():
            raise InvalidInput(f"{self.name} is a directory, not a table-of-contents file")
        self._fh = None
        self._read = 0
        self._direct = False  # the file object was handed out: it counts the bytes read itself

    @property
    def position(self) -> int:
        return self._fh.tell() if self._direct and not self._fh.closed else self._read

    def _file(self):
        if self._fh is None:
            try:
                self._fh = self.path.open("rb", buffering=0)
            except OSError as exc:
                raise SourceUnavailable(f"cannot read {self.name}: {exc.strerror}") from None
        return self._fh

    def readinto(self, buf) -> int:
        try:
            n = self._file().readinto(buf)
        except OSError as exc:
            raise self.error(exc) from None
        self._read += n
        return n

    def read(self, n: int) -> bytes:
        try:
            block = self._file().read(n)
        except OSError as exc:
            raise self.error(exc) from None
        self._read += len(block)
        return block

    def error(self, exc: OSError) -> SourceUnavailable:
        return SourceUnavailable(f"cannot read {self.name} at byte {self.position:,}: {exc.strerror}")

    def rewound(self):
        """The file object itself, back at byte 0, for a reader that reads it directly (C to C, no Python
        frame per read); None when the file cannot seek (a pipe)."""
        fh = self._file()
        try:
            if not fh.seekable():
                return None
            fh.seek(0)
        except OSError:
            return None
        self._direct = True
        return fh

    def close(self) -> None:
        if self._fh is not None:
            self._read = self.position
            self._direct = False
            self._fh.close()


class HttpSource(Source):
    """GET with timeouts; on a dropped connection, `Range: bytes=<position>-` up to `retries` times."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        retries: int = 8,
        backoff: float = 0.5,
    ) -> None:
        self.url = url
        self.name = shown_url(url)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.size = None
        self._response: http.client.HTTPResponse | None = None
        self._conn: http.client.HTTPConnection | None = None
        self._ended = False
        self._open(start=0)

    # -- connection handling ---------------------------------------------------------------------------------

    def _request(self, url: str, start: int) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        credentials = _credentials(url)  # (the origin they were given for, the Authorization header) or None
        for hop in range(MAX_REDIRECTS + 1):
            try:
                parts = urllib.parse.urlsplit(url)
                origin = _origin(parts)  # a ValueError when the port is not a number in range
                if credentials is not None and credentials[0] != origin:
                    credentials = None  # a redirect to another host does not get them (as curl and browsers do)
                conn, response = self._get(parts, start, credentials[1] if credentials else None)
            except (ValueError, http.client.InvalidURL) as exc:  # urlsplit, a port, IDNA, control characters
                why = _why(exc)
                if hop == 0:
                    raise InvalidInput(
                        f"not a valid URL: {shown_url(url)} ({why}); pass a well-formed http(s) URL, quoted"
                    ) from None
                raise SourceUnavailable(f"{self.name} redirected to an invalid URL: {shown_url(url)} ({why})") from None
            if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                try:
                    url = urllib.parse.urljoin(url, response.getheader("Location"))
                except ValueError as exc:
                    raise SourceUnavailable(f"{self.name} redirected to an invalid URL ({_why(exc)})") from None
                credentials = _credentials(url) or credentials  # a Location may carry its own
                conn.close()
                continue
            return conn, response
        raise SourceUnavailable(f"too many redirects for {self.name}")

    def _get(
        self, parts: urllib.parse.SplitResult, start: int, authorization: str | None
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"not an http(s) URL with a host: {shown_url(parts.geturl())}")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)
        headers = {"User-Agent": "carepg-mrf", "Accept-Encoding": "identity"}
        if authorization:
            headers["Authorization"] = authorization
        if start:
            headers["Range"] = f"bytes={start}-"
        try:
            conn.request("GET", path, headers=headers)
            return conn, conn.getresponse()
        except BaseException:
            conn.close()
            raise

    def _open(self, start: int) -> None:
        conn, response = self._request(self.url, start)
        status = response.status
        if status == 401:
            conn.close()
            given = "the credentials in the URL were refused" if _credentials(self.url) else (
                "it wants credentials: put them in the URL, https://user:password@host/...")
            raise SourceUnavailable(f"401 Unauthorized from {self.name}: {given}")
        if status == 403:
            conn.close()
            raise SourceUnavailable(
                f"403 Forbidden from {self.name}: the link has probably expired (signed URLs do); get a fresh one"
            )
        if status == 404:
            conn.close()
            raise SourceUnavailable(f"404 Not Found: {self.name}")
        if status == 416:
            conn.close()
            raise SourceUnavailable(f"416 Range Not Satisfiable resuming {self.name} at byte {start:,}: the file changed?")
        if start == 0:
            if status != 200:
                conn.close()
                raise SourceUnavailable(f"HTTP {status} {response.reason} from {self.name}")
            length = response.getheader("Content-Length")
            self.size = int(length) if length and length.isdigit() else None
        else:
            content_range = response.getheader("Content-Range") or ""
            if status != 206 or not content_range.startswith(f"bytes {start}-"):
                conn.close()
                raise SourceUnavailable(
                    f"the connection to {self.name} dropped at byte {start:,} and the server cannot resume "
                    f"(HTTP {status} to a Range request, no byte ranges): retry the whole download"
                )
        self._conn, self._response = conn, response

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = self._response = None

    # -- reading ------------------------------------------------------------------------------------------------

    def readinto(self, buf) -> int:
        """Fill buf from the response, resuming after a dropped connection; 0 once the whole body is read."""
        while True:
            if self._ended:
                return 0
            if self._response is None:
                self._resume()
                continue
            try:
                n = self._response.readinto(buf)
            except (OSError, http.client.HTTPException) as exc:
                self._dropped(exc)  # what this read received is discarded: the resume starts at `position`
                continue
            if n:
                self.position += n
                return n
            if self.size is None or self.position >= self.size:
                self._ended = True
                self._close()
                return 0
            # The server closed early: Content-Length not reached.
            self._dropped(ConnectionError(f"connection closed at byte {self.position:,}"))

    def close(self) -> None:
        self._close()

    def _dropped(self, exc: BaseException) -> None:
        """Count a failure; give up (one clear error) once there were more than `retries` of them."""
        self._close()
        self.failures += 1
        if self.failures > self.retries:
            raise SourceUnavailable(
                f"reading {self.name} failed {self.failures} times "
                f"(last at byte {self.position:,}: {_why(exc)}); giving up"
            )

    def _resume(self) -> None:
        time.sleep(min(self.backoff * (2 ** max(self.failures - 1, 0)), 10.0))
        try:
            self._open(start=self.position)
        except (OSError, http.client.HTTPException) as exc:
            self._dropped(exc)
            return
        self.resumes += 1


def _why(exc: BaseException) -> str:
    """What went wrong, for a message. Errors that parsing a URL raises quote it (its netloc, with any password;
    its path and query, with any signature), so they are described here instead of passed on."""
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, http.client.InvalidURL):
        return "it has spaces or control characters"
    if isinstance(exc, UnicodeError):
        return "it has characters that are neither ASCII nor a valid host name; percent-encode them"
    if isinstance(exc, ValueError):
        text = str(exc)
        if "Port" in text:
            return "its port is not a number from 0 to 65535"
        if "IPv6" in text:
            return "an IPv6 address without its closing bracket"
        return "a malformed host or port"
    return _printable(str(exc) or type(exc).__name__, 300)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_HOST_PORT = re.compile(r"(\[[^\]]+\]|[^:@\[\]]+)(:[0-9]*)?")


def shown_url(url: str) -> str:
    """A URL as messages and the run table show it: scheme, host, port and path, never its credentials
    (`user:password@`) nor its query string or fragment (signatures), whatever the URL's shape.

    A password should percent-encode '@', '/', '?' and '#'; where it does not, it is still hidden: the credentials
    end at the last '@' before the query (a path with an '@' then shows from after it), or, when what would show
    then is not host[:port]/path (a '?' or '#' cut them short), at the first '@' after which it is.
    """
    scheme = _SCHEME.match(url)
    if scheme is None:
        return _printable(url.split("?", 1)[0].split("#", 1)[0])
    rest = url[scheme.end():]
    before_query = re.split(r"[?#]", rest, maxsplit=1)[0]
    shown = before_query.rpartition("@")[2]
    after = rest[len(before_query):]
    if "@" in after and not _host_and_path(shown):
        # A '?' or '#' inside the credentials: they end at the first '@' after which a host (and path) follows.
        ends = (i for i, ch in enumerate(after) if ch == "@")
        candidates = (re.split(r"[?#]", after[i + 1:], maxsplit=1)[0] for i in ends)
        shown = next((c for c in candidates if "@" not in c and _host_and_path(c)), "")
    return _printable(url[: scheme.end()] + shown)


def _host_and_path(text: str) -> bool:
    """Does text read as host[:port]/path?"""
    host, slash, _ = text.partition("/")
    return bool(slash) and _HOST_PORT.fullmatch(host) is not None


def _credentials(url: str) -> tuple[tuple[str, str, int | None], str] | None:
    """The URL's user:password@ as (the origin it belongs to, an HTTP Basic Authorization header), or None."""
    try:
        parts = urllib.parse.urlsplit(url)
        if "@" not in parts.netloc:
            return None
        origin = _origin(parts)
    except ValueError:
        return None  # reported where the URL is requested
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return origin, f"Basic {token}"


def _origin(parts: urllib.parse.SplitResult) -> tuple[str, str, int | None]:
    """(scheme, host, port): where credentials may go. A ValueError when the port is not a number in range."""
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def _printable(text: str, limit: int = 200) -> str:
    """A name as messages and the run table show it: control characters escaped, at most `limit` characters."""
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def open_source(spec: str, **http_options) -> Source:
    """A URL (any 'scheme://...'; only http and https are fetched) or a local path."""
    if _SCHEME.match(spec):
        if not spec.lower().startswith(("http://", "https://")):
            raise InvalidInput(f"not an http(s) URL: {shown_url(spec)} (give an http(s) URL or a local path)")
        try:
            return HttpSource(spec, **http_options)
        except (OSError, http.client.HTTPException) as exc:
            raise SourceUnavailable(f"cannot fetch {shown_url(spec)}: {_why(exc)}") from None
    return FileSource(spec)
