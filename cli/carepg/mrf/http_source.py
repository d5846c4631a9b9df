"""An index or lookup document fetched over http(s), resumable.

A dropped download is resumed with a Range request from the last byte received, so the caller's decompressor
simply keeps going; retries are bounded and each error a user can meet (expired signature, missing file, refused
credentials, a server that cannot resume) is one clear line. Credentials in the URL are sent as HTTP Basic
authentication, only to the host they were given for. No exception text that could quote the URL (its password,
its signature) is passed on: `_why` says what went wrong in its own words.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import time
import urllib.parse

from ..errors import InvalidInput, SourceUnavailable
from .source import Source, printable, shown_url

MAX_REDIRECTS = 5


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
    return printable(str(exc) or type(exc).__name__, 300)


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



def open_url(url: str, **http_options) -> HttpSource:
    if not url.lower().startswith(("http://", "https://")):
        raise InvalidInput(f"not an http(s) URL: {shown_url(url)} (give an http(s) URL or a local path)")
    try:
        return HttpSource(url, **http_options)
    except (OSError, http.client.HTTPException) as exc:
        raise SourceUnavailable(f"cannot fetch {shown_url(url)}: {_why(exc)}") from None
