"""Reading a table of contents (TOC) as a stream: decompress, parse, de-duplicate, in bounded memory.

Two parsers feed one `Collector`:

* the line path, for the layout of Anthem's real file (a header line ending `"reporting_structure":[`, then one
  structure per line). A line of the exact form `{"reporting_plans":[...],"in_network_files":[...]}` is split
  with two byte searches; the file list (the part repeated tens of millions of times) is identified by its
  length and a hash of its raw bytes and only parsed the first time those bytes are seen. Other one-line
  structures (keys in another order, spaces, `allowed_amount_file`) go through `json.loads`.
* the general path (ijson, C backend): as soon as a line is not a complete structure (pretty-printed,
  minified on one line, a header it cannot read, a trailer), the rest of the stream goes to ijson, prefixed with
  the few bytes that put the parser back where the line path stood. Nothing is read twice.

Both paths hand the collector the same decoded values, so every valid layout gives the same answer.
"""

from __future__ import annotations

import json
import operator
import queue
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import ijson

from ..errors import BadInput

try:  # isal's igzip inflates several times faster than zlib; zlib is the fallback (tested too).
    from isal import igzip_lib

    INFLATE = "isal"
except ImportError:  # pragma: no cover - isal is a dependency; kept for odd platforms
    igzip_lib = None
    INFLATE = "zlib"


class _ZlibInflater:
    """zlib's decompressobj behind the small interface of isal's IgzipDecompressor."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(wbits=31)
        self._tail = b""

    def decompress(self, data: bytes, max_length: int) -> bytes:
        out = self._d.decompress(self._tail + data if self._tail else data, max_length)
        self._tail = self._d.unconsumed_tail
        return out

    @property
    def needs_input(self) -> bool:
        return not self._tail

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data


def _decompressor():
    if igzip_lib is not None:
        return igzip_lib.IgzipDecompressor(flag=igzip_lib.DECOMP_GZIP)
    return _ZlibInflater()  # pragma: no cover


if igzip_lib is not None:
    from isal.isal_zlib import adler32 as _adler32, crc32 as _crc32
else:  # pragma: no cover
    _adler32, _crc32 = zlib.adler32, zlib.crc32

_INFLATE_ERRORS: tuple[type[BaseException], ...] = (zlib.error, OSError, ValueError, EOFError) + (
    (igzip_lib.IsalError,) if igzip_lib is not None else ()
)

MAX_OUT = 256 << 10  # decompressed bytes per inflate call: bounds memory; 1 MiB buffers are much slower (mmap)
IJSON_PIECE = 64 << 10
MAX_LINE = 16 << 20  # a longer "line" is not the one-structure-per-line layout: hand over to ijson
TOP_SCALARS = ("reporting_entity_name", "reporting_entity_type", "last_updated_on", "version")
RATES_KEYS = {"in_network", "provider_references", "out_of_network"}
LOOKUP_KEYS = {"In-Network Negotiated Rates Files", "Out-of-Network Allowed Amounts Files"}


# --- decompression -------------------------------------------------------------------------------------------


class Inflater:
    """Gzip (any number of members) or plain JSON, detected from the first bytes, as a stream of raw chunks."""

    def __init__(self, chunks: Iterator[bytes], position: Callable[[], int]) -> None:
        self.chunks = chunks
        self.position = position  # compressed bytes read so far (for error messages)
        self.raw_bytes = 0
        self.gzip = False

    def __iter__(self) -> Iterator[bytes]:
        first = b""
        for block in self.chunks:
            first += block
            if len(first) >= 2:
                break
        if not first:
            raise BadInput("the source is empty (0 bytes)")
        if first[:2] != b"\x1f\x8b":
            self.raw_bytes += len(first)
            yield first
            for block in self.chunks:
                self.raw_bytes += len(block)
                yield block
            return
        self.gzip = True
        yield from self._inflate(first)

    def _inflate(self, first: bytes) -> Iterator[bytes]:
        d = _decompressor()
        fed = False  # has the current gzip member received input?
        block: bytes | None = first
        while block is not None:
            data = block
            while True:
                try:
                    out = d.decompress(data, MAX_OUT)
                except _INFLATE_ERRORS as exc:
                    raise BadInput(
                        f"corrupt gzip data before compressed byte {self.position():,} "
                        f"(after {self.raw_bytes:,} decompressed bytes): {exc}"
                    ) from None
                fed = fed or bool(data)
                data = b""
                if out:
                    self.raw_bytes += len(out)
                    yield out
                if d.eof:  # another gzip member may follow (concatenated .gz files are valid gzip)
                    data = d.unused_data
                    d = _decompressor()
                    fed = False
                    if not data:
                        break
                elif d.needs_input:
                    break
            block = next(self.chunks, None)
        if fed and not d.eof:
            raise BadInput(
                f"truncated gzip: the compressed stream ends at byte {self.position():,} "
                f"({self.raw_bytes:,} bytes decompressed) before the end of the gzip member"
            )


def threaded(chunks: Iterator[bytes], depth: int = 8) -> Iterator[bytes]:
    """Run a chunk producer (a network reader: socket reads release the GIL) in a thread, `depth` chunks ahead."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for block in chunks:
                while not stop.is_set():
                    try:
                        q.put(block, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    worker = threading.Thread(target=produce, name="carepg-mrf-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


# --- what both parsers produce -------------------------------------------------------------------------------


@dataclass
class FileInfo:
    file_id: int
    url: str
    descriptions: list[str]
    url_hashes: set[int]
    in_network: bool = False
    allowed_amount: bool = False


@dataclass
class Collector:
    """De-duplicates files and file lists; streams one row per reporting_plans entry to `plan_sink`."""

    plan_sink: Callable[[tuple], None]
    entity: dict = field(default_factory=dict)
    files: dict[str, FileInfo] = field(default_factory=dict)
    sets: dict[tuple[int, ...], int] = field(default_factory=dict)
    set_uses: list[int] = field(default_factory=list)
    raw_lists: dict[tuple[int, int, int], tuple[int, int]] = field(default_factory=dict)  # -> (set id, entries)
    structures: int = 0
    plan_links: int = 0
    file_links: int = 0
    raw_hits: int = 0

    # -- files ----------------------------------------------------------------------------------------------

    def _file(self, entry: object, in_network: bool) -> int:
        if not isinstance(entry, dict) or not isinstance(entry.get("location"), str):
            raise BadInput(
                f"reporting_structure[{self.structures}]: a file entry has no location string: {_short(entry)}"
            )
        url = entry["location"]
        key = file_key(url)
        info = self.files.get(key)
        if info is None:
            info = self.files[key] = FileInfo(len(self.files) + 1, url, [], set())
        description = entry.get("description")
        if isinstance(description, str) and description not in info.descriptions:
            info.descriptions.append(description)
        info.url_hashes.add(hash(url))
        if in_network:
            info.in_network = True
        else:
            info.allowed_amount = True
        return info.file_id

    def _set(self, in_network: object, allowed: object) -> int:
        ids: set[int] = set()
        if in_network is not None:
            if not isinstance(in_network, list):
                raise BadInput(f"reporting_structure[{self.structures}]: in_network_files is not an array")
            for entry in in_network:
                ids.add(self._file(entry, True))
            self.file_links += len(in_network)
        if allowed is not None:
            ids.add(self._file(allowed, False))
            self.file_links += 1
        members = tuple(sorted(ids))
        set_id = self.sets.get(members)
        if set_id is None:
            set_id = self.sets[members] = len(self.sets) + 1
            self.set_uses.append(0)
        return set_id

    # -- structures -------------------------------------------------------------------------------------------

    def _plans(self, plans: object, set_id: int) -> None:
        if not isinstance(plans, list):
            raise BadInput(
                f"not a table of contents: reporting_structure[{self.structures}] has no reporting_plans array"
            )
        order = self.structures
        sink = self.plan_sink
        for plan in plans:
            try:  # v2 plans carry all six keys: one C call fetches them
                name, id_type, plan_id, market, issuer, sponsor = _SIX(plan)
            except (KeyError, TypeError):
                if type(plan) is not dict:
                    name = None
                else:
                    get = plan.get
                    name, id_type, plan_id, market = (get("plan_name"), get("plan_id_type"), get("plan_id"),
                                                      get("plan_market_type"))
                    issuer, sponsor = get("issuer_name"), get("plan_sponsor_name")
            if type(name) is not str:
                raise BadInput(f"reporting_structure[{order}]: a reporting_plans entry has no plan_name: {_short(plan)}")
            fields = (
                name,
                id_type.lower() if type(id_type) is str else _lower(id_type),
                plan_id if type(plan_id) is str else _text(plan_id),
                market.lower() if type(market) is str else _lower(market),
                issuer if type(issuer) is str else _text(issuer),
                sponsor if type(sponsor) is str else _text(sponsor),
            )
            # The plan's identity in this run: a 64-bit hash of its fields (SQL groups on it, not on six texts).
            sink((order, set_id, hash(fields), *fields))
        self.plan_links += len(plans)
        self.set_uses[set_id - 1] += 1
        self.structures += 1

    def structure(self, obj: object) -> None:
        """A decoded reporting_structure element (general path)."""
        if not isinstance(obj, dict) or "reporting_plans" not in obj:
            raise BadInput(
                f"not a table of contents: reporting_structure[{self.structures}] is not a reporting structure: "
                f"{_short(obj)}"
            )
        set_id = self._set(obj.get("in_network_files"), obj.get("allowed_amount_file"))
        self._plans(obj["reporting_plans"], set_id)

    def structure_raw(self, plans: object, files_raw: memoryview) -> None:
        """Fast path: the plans decoded, the in_network_files array still as raw bytes (a view, not a copy).

        The key is the length, the CRC-32 and the Adler-32 of the bytes: 64 check bits over the whole string,
        computed in place by ISA-L at 10+ GB/s (SipHash, Python's hash(), needs a copy and runs at ~6 GB/s).
        Keys are only compared within one run; two different lists of equal length collide with probability
        about 2^-64 per pair.
        """
        key = (len(files_raw), _crc32(files_raw), _adler32(files_raw))
        known = self.raw_lists.get(key)
        if known is None:
            entries = json.loads(bytes(files_raw))
            set_id = self._set(entries, None)
            self.raw_lists[key] = (set_id, len(entries))
        else:
            # Same bytes, same entries: the set and the link count are known without decoding anything.
            set_id, count = known
            self.file_links += count
            self.raw_hits += 1
        self._plans(plans, set_id)

    def top(self, key: str, value: object) -> None:
        if key in RATES_KEYS:
            raise BadInput(f"not a table of contents: top-level key {key!r} belongs to a rates file (in-network or allowed amounts)")
        if key in LOOKUP_KEYS:
            raise BadInput("not a table of contents: this is an EIN-lookup document; load it with `carepg mrf lookup`")
        if key in TOP_SCALARS and isinstance(value, str | int | float):
            self.entity[key] = str(value)


def file_key(url: str) -> str:
    """The same file whatever host or signature serves it: the URL path without scheme, host and query."""
    url = url.strip()
    scheme = url.find("://")
    if scheme > 0:
        slash = url.find("/", scheme + 3)
        path = url[slash:] if slash > 0 else ""
    else:
        path = url
    path = path.split("?", 1)[0].split("#", 1)[0].lstrip("/")
    return path or url


_SCAN = json.JSONDecoder().scan_once
_SIX = operator.itemgetter("plan_name", "plan_id_type", "plan_id", "plan_market_type", "issuer_name",
                           "plan_sponsor_name")


def _array(raw: bytes) -> object:
    """json.loads for a bytes slice that starts a value at 0, minus the wrapper's per-call overhead."""
    text = raw.decode("utf-8")
    value, end = _SCAN(text, 0)
    if end != len(text):
        raise ValueError("extra data")
    return value


def _lower(value: object) -> str | None:
    return None if value is None else str(value).lower()


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _short(value: object) -> str:
    text = json.dumps(value)[:80] if not isinstance(value, bytes) else repr(value[:80])
    return text


# --- the parsers ---------------------------------------------------------------------------------------------

LINE_PREFIX = b'{"reporting_plans":['
SEPARATOR = b'],"in_network_files":['
HEADER_END = b'"reporting_structure":['


class Parser:
    """Feed decompressed chunks; the line path runs until the layout breaks, then ijson takes the rest."""

    def __init__(self, collector: Collector) -> None:
        self.c = collector
        self.mode = "line"
        self.offset = 0  # decompressed bytes before the current buffer
        self.header_done = False
        self.after_comma = False  # line path: did the previous structure end with ','?
        self.fallback_reason = ""
        self.line_structures = 0  # structures read by the line path
        self._line_start = 0
        self._ijson: _IjsonFeed | None = None

    def run(self, chunks: Iterator[bytes]) -> None:
        """Lines wholly inside a chunk are handled in place; only a line straddling two chunks is joined."""
        tail: list[bytes] = []  # the start of a line that continues in the next chunk(s)
        tail_len = tail_offset = 0
        chunk_offset = 0  # stream offset of the current chunk
        for chunk in chunks:
            here, chunk_offset = chunk_offset, chunk_offset + len(chunk)
            if self._ijson is not None:
                self._ijson.feed(chunk)
                continue
            start = 0
            if tail:
                nl = chunk.find(b"\n")
                if nl < 0:
                    tail.append(chunk)
                    tail_len += len(chunk)
                    if tail_len > MAX_LINE:
                        self.offset = tail_offset
                        self._switch(b"".join(tail), 0, f"a line longer than {MAX_LINE >> 20} MiB")
                        tail = []
                    continue
                self.offset = tail_offset
                joined = b"".join(tail) + chunk[: nl + 1]
                tail, tail_len = [], 0
                self._lines(joined, 0)
                if self._ijson is not None:  # it took joined from the failing line on; the chunk's rest follows
                    self._ijson.feed(chunk[nl + 1 :])
                    continue
                start = nl + 1
            self.offset = here
            pos = self._lines(chunk, start)
            if self._ijson is None and pos < len(chunk):
                tail, tail_len, tail_offset = [chunk[pos:]], len(chunk) - pos, here + pos
        if self._ijson is None:
            # End of input in the line path: what is left (the trailer, or nothing) goes to ijson to be judged.
            self.offset = tail_offset if tail else chunk_offset
            self._switch(b"".join(tail), 0, "end of input")
        self._ijson.close()
        if self.c.structures > self.line_structures:
            self.mode = "ijson" if self.line_structures == 0 else "line+ijson"

    def _lines(self, buf: bytes, pos: int) -> int:
        """Handle every complete line of buf from pos; return where the unhandled rest starts."""
        try:
            return self._lines_from(buf, pos)
        except BadInput as exc:
            if exc.located:
                raise
            raise exc.at(f"in the line at decompressed byte {self.offset + self._line_start:,}") from None

    def _lines_from(self, buf: bytes, pos: int) -> int:
        find = buf.find
        view = memoryview(buf)
        collector = self.c
        while True:
            self._line_start = pos
            nl = find(b"\n", pos)
            if nl < 0:
                return pos
            end = nl
            if end > pos and buf[end - 1] == 13:  # \r\n
                end -= 1
            if not self.header_done:
                resume = self._header(buf, pos, end)
                if resume < 0:
                    return len(buf)
                pos = resume if resume < nl else nl + 1
                continue
            # The fast path: {"reporting_plans":[...],"in_network_files":[...]} and an optional comma.
            comma = buf[end - 1] == 44 if end > pos else False
            close = end - 1 if comma else end
            if not self.after_comma and collector.structures and end > pos:
                self._switch(buf, pos, "missing comma between structures")
                return len(buf)
            if buf.startswith(LINE_PREFIX, pos) and buf[close - 2 : close] == b"]}":
                sep = find(SEPARATOR, pos, close)
                if sep > 0:
                    try:
                        plans = _array(buf[pos + len(LINE_PREFIX) - 1 : sep + 1])
                        # The plans part parsed as an array, so the separator sits at the structure's top
                        # level; the files part is decoded (once per distinct byte string) by structure_raw.
                        if isinstance(plans, list):
                            collector.structure_raw(plans, view[sep + len(SEPARATOR) - 1 : close - 1])
                            self.after_comma = comma
                            pos = nl + 1
                            continue
                    except (ValueError, StopIteration):
                        pass  # e.g. another key after in_network_files: the general line path below decides
            # Any other complete one-line structure.
            stripped = buf[pos:close].strip()
            if stripped.startswith(b"{") and stripped.endswith(b"}"):
                try:
                    obj = json.loads(stripped)
                except ValueError:
                    obj = None
                if isinstance(obj, dict):
                    collector.structure(obj)
                    self.after_comma = comma
                    pos = nl + 1
                    continue
            if not stripped and not comma:  # blank line
                pos = nl + 1
                continue
            self._switch(buf, pos, f"line at byte {self.offset + pos:,} is not one whole structure")
            return len(buf)

    def _header(self, buf: bytes, pos: int, end: int) -> int:
        """First line: `{...,"reporting_structure":[`, perhaps followed by the first structure.

        Returns where the line path goes on (the end of the header), or -1 when ijson took over.
        """
        at = buf.find(HEADER_END, pos, end)
        fields = None
        if at >= 0:
            try:
                fields = json.loads(buf[pos : at + len(HEADER_END)] + b"]}")
            except ValueError:
                fields = None
        if not isinstance(fields, dict):
            self._switch(buf, pos, "the first line is not a table-of-contents header")
            return -1
        for key, value in fields.items():
            self.c.top(key, value)
        self.header_done = True
        return at + len(HEADER_END)

    def _switch(self, buf: bytes, pos: int, reason: str) -> None:
        """Hand everything from buf[pos:] on to ijson, in the state the line path reached."""
        self.fallback_reason = reason
        self.line_structures = self.c.structures
        if not self.header_done:
            prefix, skip_first = b"", False
        elif self.after_comma:
            prefix, skip_first = b'{"reporting_structure":[null,', True
        elif self.c.structures:
            prefix, skip_first = b'{"reporting_structure":[null', True
        else:
            prefix, skip_first = b'{"reporting_structure":[', False
        self._ijson = _IjsonFeed(self.c, prefix, skip_first, stream_offset=self.offset + pos)
        self._ijson.feed(buf[pos:])


class _IjsonFeed:
    """Push-style ijson over the rest of the stream, building each reporting_structure element."""

    def __init__(self, collector: Collector, prefix: bytes, skip_first: bool, stream_offset: int) -> None:
        self.c = collector
        self.events: list = []
        self.coro = ijson.parse_coro(_sink(self.events), use_float=True)
        self.skip_first = skip_first
        self.base = stream_offset - len(prefix)  # stream offset of the first byte fed
        self.fed = 0
        self.seen_structures = False
        self.top_object = None  # True once the document opened with '{'
        self.items = 0
        self.builder: ijson.ObjectBuilder | None = None
        if prefix:
            self._send(prefix)

    def feed(self, data: bytes) -> None:
        # 64 KiB pieces: an error is located to within one piece (the parser does not report offsets).
        view = memoryview(data)
        for start in range(0, len(data), IJSON_PIECE):
            self._send(bytes(view[start : start + IJSON_PIECE]))

    def _send(self, data: bytes) -> None:
        if not data:
            return
        try:
            self.coro.send(data)
        except ijson.common.JSONError as exc:
            raise self._error(exc, len(data)) from None
        start = max(self.base + self.fed, 0)
        self.fed += len(data)
        try:
            self._drain()
        except BadInput as exc:
            if exc.located:
                raise
            raise exc.at(f"in decompressed bytes {start:,}-{self.base + self.fed:,}") from None

    def close(self) -> None:
        try:
            self.coro.close()
        except ijson.common.JSONError as exc:
            raise self._error(exc, 0) from None
        self._drain()
        end = max(self.base + self.fed, 0)
        if self.top_object is None:
            raise BadInput(f"not a table of contents: the input holds no JSON value ({end:,} bytes)")
        if not self.seen_structures:
            raise BadInput(
                f"not a table of contents: no reporting_structure array in the document ({end:,} bytes read)"
            )

    def _error(self, exc: Exception, block: int) -> BadInput:
        first = max(self.base + self.fed, 0)
        detail = str(exc).strip().splitlines()
        message = detail[0] if detail else type(exc).__name__
        context = detail[1].strip()[:60] if len(detail) > 1 else ""
        if not block:
            error = BadInput(f"corrupt JSON: the document ends early, at decompressed byte {first:,} ({message})")
        else:
            error = BadInput(
                f"corrupt JSON in decompressed bytes {first:,}-{first + block:,}: {message}"
                + (f" near {context!r}" if context else "")
            )
        error.located = True
        return error

    def _drain(self) -> None:
        c = self.c
        for prefix, event, value in self.events:
            if self.builder is not None:
                self.builder.event(event, value)
                if event in ("end_map", "end_array") and prefix == "reporting_structure.item":
                    c.structure(self.builder.value)
                    self.builder = None
                continue
            if prefix == "reporting_structure.item":
                first = self.items == 0
                self.items += 1
                if event == "start_map":
                    self.builder = ijson.ObjectBuilder()
                    self.builder.event(event, value)
                elif first and self.skip_first and event == "null":
                    continue
                else:
                    raise BadInput(
                        f"not a table of contents: reporting_structure[{c.structures}] is not an object ({event})"
                    )
            elif prefix == "":
                if event == "start_map":
                    self.top_object = True
                elif event == "map_key":
                    c.top(value, None)  # refuses rates files and EIN-lookup documents early
                elif self.top_object is None:
                    kind = event.removeprefix("start_")
                    raise BadInput(f"not a table of contents: the document is a JSON {kind}, not an object")
            elif prefix == "reporting_structure":
                if event == "start_array":
                    self.seen_structures = True
                elif event != "end_array":
                    raise BadInput("not a table of contents: reporting_structure is not an array")
            elif "." not in prefix and event in ("string", "number"):
                c.top(prefix, value)  # a top-level scalar (reporting_entity_name, version, ...)
        self.events.clear()


def _sink(events: list):
    """ijson coroutine target that appends events to a list."""

    def target():
        while True:
            events.append((yield))

    gen = target()
    next(gen)
    return gen
