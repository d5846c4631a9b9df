"""Where the bytes come from: a local file or an http(s) URL (http_source.py), read in chunks, never stored.

A URL may carry secrets: credentials (`https://user:password@host/...`) and a signed query string. Neither is
ever shown or stored: messages, the run table and the summary name a source by `shown_url` (scheme, host, port
and path).
"""

from __future__ import annotations

import os
import stat

from ..errors import InvalidInput, SourceUnavailable


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
        self.path = os.fspath(path)
        self.name = printable(self.path)
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            raise InvalidInput(f"no such file: {self.name}") from None
        except OSError as exc:
            raise InvalidInput(f"cannot read {self.name}: {exc.strerror}") from None
        if stat.S_ISDIR(info.st_mode):
            raise InvalidInput(f"{self.name} is a directory, not a table-of-contents file")
        self.size = info.st_size
        self._fh = None
        self._read = 0
        self._direct = False  # the file object was handed out: it counts the bytes read itself

    @property
    def position(self) -> int:
        return self._fh.tell() if self._direct and not self._fh.closed else self._read

    def _file(self):
        if self._fh is None:
            try:
                self._fh = open(self.path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
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


def _is_url(spec: str) -> bool:
    """Does spec start like a URL, 'scheme://' (RFC 3986 scheme characters)?"""
    scheme, sep, _ = spec.partition("://")
    return bool(sep) and scheme[:1].isascii() and scheme[:1].isalpha() and all(
        ch.isascii() and (ch.isalnum() or ch in "+.-") for ch in scheme)


def shown_url(url: str) -> str:
    """A URL as messages and the run table show it: scheme, host, port and path, never its credentials
    (`user:password@`) nor its query string or fragment (signatures), whatever the URL's shape.

    A password should percent-encode '@', '/', '?' and '#'; where it does not, it is still hidden: the credentials
    end at the last '@' before the query (a path with an '@' then shows from after it), or, when what would show
    then is not host[:port]/path (a '?' or '#' cut them short), at the first '@' after which it is.
    """
    if not _is_url(url):
        return printable(_before_query(url))
    start = url.index("://") + 3
    rest = url[start:]
    before_query = _before_query(rest)
    shown = before_query.rpartition("@")[2]
    after = rest[len(before_query):]
    if "@" in after and not _host_and_path(shown):
        # A '?' or '#' inside the credentials: they end at the first '@' after which a host (and path) follows.
        ends = (i for i, ch in enumerate(after) if ch == "@")
        candidates = (_before_query(after[i + 1:]) for i in ends)
        shown = next((c for c in candidates if "@" not in c and _host_and_path(c)), "")
    return printable(url[:start] + shown)


def _before_query(text: str) -> str:
    return text.split("?", 1)[0].split("#", 1)[0]


def _host_and_path(text: str) -> bool:
    """Does text read as host[:port]/path (a host name, or an IPv6 address in brackets)?"""
    host, slash, _ = text.partition("/")
    if not slash or not host:
        return False
    if host.startswith("["):
        address, bracket, port = host[1:].partition("]")
        return bool(address and bracket) and (not port or (port[0] == ":" and _digits(port[1:])))
    name, colon, port = host.partition(":")
    return bool(name) and "@" not in name and "[" not in name and "]" not in name and (not colon or _digits(port))


def _digits(text: str) -> bool:
    return text == "" or (text.isascii() and text.isdigit())


def printable(text: str, limit: int = 200) -> str:
    """A name as messages and the run table show it: control characters escaped, at most `limit` characters."""
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_source(spec: str) -> str:
    """A source as given on the command line, refused at once (InvalidInput, one line) when open_source would
    refuse it: a URL that is not a well-formed http(s) URL with a host, a file that does not exist or is a
    directory. A URL is shown only as shown_url shows it. Nothing is opened or fetched."""
    if not _is_url(spec):
        name = printable(spec)
        try:
            info = os.stat(spec)
        except FileNotFoundError:
            raise InvalidInput(f"no such file: {name}") from None
        except (OSError, ValueError) as exc:  # ValueError: a name no file system takes (a NUL byte)
            raise InvalidInput(f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}") from None
        if stat.S_ISDIR(info.st_mode):
            raise InvalidInput(f"{name} is a directory, not a table-of-contents file")
        return spec
    if not spec.lower().startswith(("http://", "https://")):
        raise InvalidInput(f"not an http(s) URL: {shown_url(spec)} (give an http(s) URL or a local path)")
    import urllib.parse

    try:
        parts = urllib.parse.urlsplit(spec)
        parts.port  # noqa: B018  (a ValueError when it is not a number in range)
        if not parts.hostname:
            raise InvalidInput(f"not an http(s) URL with a host: {shown_url(spec)}")
        if not any(ch <= " " or ch == "\x7f" for ch in spec):  # what http.client refuses to send
            parts.hostname.encode("idna")  # a UnicodeError (a ValueError) for an empty or too long label
            return spec
        why = "it has spaces or control characters"
    except ValueError as exc:
        from .http_source import _why

        why = _why(exc)
    raise InvalidInput(f"not a valid URL: {shown_url(spec)} ({why}); pass a well-formed http(s) URL, quoted")


def open_source(spec: str, **http_options) -> Source:
    """A URL (any 'scheme://...'; only http and https are fetched) or a local path."""
    if _is_url(spec):
        from .http_source import open_url  # http.client and ssl are imported for URLs only

        return open_url(spec, **http_options)
    return FileSource(spec)
