"""Reading a table of contents (TOC) as a stream of decompressed chunks, in bounded memory.

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
from collections.abc import Iterator

import ijson

from .collector import Collector
from .errors import BadInput

IJSON_PIECE = 64 << 10
MAX_LINE = 16 << 20  # a longer "line" is not the one-structure-per-line layout: hand over to ijson

LINE_PREFIX = b'{"reporting_plans":['
SEPARATOR = b'],"in_network_files":['
HEADER_END = b'"reporting_structure":['

_SCAN = json.JSONDecoder().scan_once


def _array(raw: bytes) -> object:
    """json.loads for a bytes slice that starts a value at 0, minus the wrapper's per-call overhead."""
    text = raw.decode("utf-8")
    value, end = _SCAN(text, 0)
    if end != len(text):
        raise ValueError("extra data")
    return value



class Parser:
    """Feed decompressed chunks; the line path runs until the layout breaks, then ijson takes the rest."""

    def __init__(self, collector: Collector) -> None:
        self.c = collector
        self.mode = "line"
        self.offset = 0  # decompressed bytes before the current buffer
        self.header_done = False
        self.after_comma = False  # line path: did the previous structure end with ','?
        self.fallback = ""  # why and where the general parser took over (for the summary line)
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
        else:
            self.fallback = ""  # only the trailer went to ijson

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
                            collector.structure_raw(plans, buf, sep + len(SEPARATOR) - 1, close - 1)
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
            self._switch(buf, pos, "a line is not one whole structure")
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
        self.fallback = f"decompressed byte {self.offset + pos:,} ({reason})"
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
