"""Reading a table of contents (TOC) as a stream of decompressed chunks, in bounded memory.

Two parsers feed one `Collector`:

* the line path, for the layout of Anthem's real file (a header line ending `"reporting_structure":[`, then one
  structure per line). A line of the exact form `{"reporting_plans":[...],"in_network_files":[...]}` is split
  with two byte searches; the file list (the part repeated tens of millions of times) is recognised by its raw
  bytes and only decoded the first time those bytes are seen. Other one-line structures (keys in another
  order, spaces, `allowed_amount_file`) are decoded whole.
* the general path (ijson's C parser, its bare token events): as soon as a line is not a complete structure
  (pretty-printed, minified on one line, a header it cannot read, a trailer), the rest of the stream goes to
  it, prefixed with the few bytes that put the parser back where the line path stood. Nothing is read twice.

Both paths hand the collector the same decoded values, so every valid layout gives the same answer.

Memory is bounded whatever the input: `json.loads` only ever sees a value of at most LOADS_LIMIT bytes (a
larger one goes through the event decoder, which builds nothing but the six fields of each plan and registers
each file entry as it ends), a line is at most MAX_LINE bytes, and the event decoder refuses JSON nested deeper
than MAX_DEPTH, MAX_GAP bytes without a single token (one endless string or number, or that much whitespace),
and a structure with more than MAX_PENDING_PLANS plans (or MAX_PENDING_TEXT bytes of plan text).
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterator

import ijson

from .collector import FILE_KEYS, MAX_DEPTH, PLAN_KEYS, Collector, _short, check_depth
from ..errors import BadInput

IJSON_PIECE = 64 << 10  # bytes per call into the event parser: an error is located to within one piece
MAX_LINE = 16 << 20  # a longer "line" is not the one-structure-per-line layout: hand over to the event decoder
LOADS_LIMIT = 1 << 20  # json.loads decodes at most this many bytes at once (at worst ~20x that in objects)
MAX_GAP = 4 << 20  # bytes in a row without a JSON token (>= LOADS_LIMIT: the same on every path)
MAX_PENDING_PLANS = 50_000  # plans of one structure held until its file list is known
MAX_PENDING_TEXT = 32 << 20  # bytes of those plans' text

LINE_PREFIX = b'{"reporting_plans":['
SEPARATOR = b'],"in_network_files":['
HEADER_END = b'"reporting_structure":['
FILES_PREFIX = b'{"reporting_plans":[],"in_network_files":'
_WHITESPACE = re.compile(rb"[ \t\r\n]*")

_SCAN = json.JSONDecoder().scan_once

# A reporting_plans array as Anthem writes it: each plan's six keys in this order, every value a string without
# escapes or control characters. For such text the JSON decoder and this pattern read the same six strings.
_STRING = r'"([^"\\\x00-\x1f]*)"'
_PLAN = (r'\{"plan_name":' + _STRING + r',"plan_id_type":' + _STRING + r',"plan_id":' + _STRING
         + r',"plan_market_type":' + _STRING + r',"issuer_name":' + _STRING
         + r',"plan_sponsor_name":' + _STRING + r'\}')
_PLAN_THEN = re.compile(_PLAN + r"([,\]])").match  # a plan, then what follows it in the array


def canonical_plans(raw: bytes) -> list[tuple] | None:
    """Collector.plan_fields of each plan of a reporting_plans array in Anthem's own form (above), read with
    one regular expression per plan instead of decoded into dicts; None for any other text (then it is
    decoded)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    plans = []
    pos = 1  # after the '['
    while (plan := _PLAN_THEN(text, pos)) is not None:
        name, id_type, plan_id, market, issuer, sponsor, then = plan.groups()
        plans.append((name, id_type.lower(), plan_id, market.lower(), issuer, sponsor))
        pos = plan.end()
        if then == "]":
            return plans if pos == len(text) else None
    return None


def _loads(raw: bytes) -> object:
    """json.loads for a bytes slice that starts a value at 0, minus the wrapper's per-call overhead.

    ValueError for anything json.loads would refuse, and for nesting too deep for it (RecursionError).
    """
    try:
        text = raw.decode("utf-8")
        value, end = _SCAN(text, 0)
    except (StopIteration, RecursionError) as exc:
        raise ValueError(str(exc)) from None
    if end != len(text):
        text = text.rstrip(" \t\r\n")
        if end != len(text):
            raise ValueError("extra data")
    if "\\u" in text:  # an escape: perhaps a lone surrogate, which only text from an escape can hold
        value = _as_the_event_decoder(value)
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")
LONE_SURROGATE = "a \\u escape that is no character (a lone surrogate)"


def _as_the_event_decoder(value: object) -> object:
    """Strings with an escaped lone surrogate (`"\\ud800"`: valid JSON, but no character, and no text PostgreSQL
    can store) read as the event decoder (ijson's yajl) reads them, so that every layout gives the same values: a
    lone high surrogate is `?`; a lone low one it cannot read (ValueError here: the line is then handed to it,
    and it says where)."""
    if type(value) is str:
        return _fixed(value)
    stack = [value]
    while stack:
        container = stack.pop()
        for key, item in list(container.items() if type(container) is dict else enumerate(container)):
            if type(item) is str:
                if _SURROGATE.search(item):
                    container[key] = _fixed(item)
            elif type(item) is dict or type(item) is list:
                stack.append(item)
    return value


def _fixed(text: str) -> str:
    def high(match: re.Match) -> str:
        if match.group() >= "\udc00":
            raise ValueError("a lone low surrogate")
        return "?"

    return _SURROGATE.sub(high, text)


class Parser:
    """Feed decompressed chunks; the line path runs until the layout breaks, then the event decoder takes the rest."""

    def __init__(self, collector: Collector) -> None:
        self.c = collector
        self.mode = "line"
        self.offset = 0  # decompressed bytes before the current buffer
        self.header_done = False
        self.after_comma = False  # line path: did the previous structure end with ','?
        self.fallback = ""  # why and where the general parser took over (for the summary line)
        self.line_structures = 0  # structures read by the line path
        self.blank = 0  # whitespace bytes in a row (line path)
        self._line_start = 0
        self._feed: _Feed | None = None

    def run(self, chunks: Iterator[bytes]) -> None:
        """Parse the stream; the cyclic garbage collector is paused meanwhile (see below)."""
        # Parsing allocates a few containers per plan and frees them by reference counting: none of them form
        # cycles, so the collector's passes over the young ones (every 700 allocations) find nothing, at ~4 %
        # of the parser's time. What the collector holds is bounded by its caps either way.
        paused = gc.isenabled()
        gc.disable()
        try:
            self._run(chunks)
        finally:
            if paused:
                gc.enable()

    def _run(self, chunks: Iterator[bytes]) -> None:
        """Lines wholly inside a chunk are handled in place; only a line straddling two chunks is joined."""
        tail: list[bytes] = []  # the start of a line that continues in the next chunk(s)
        tail_len = tail_offset = 0
        chunk_offset = 0  # stream offset of the current chunk
        for chunk in chunks:
            here, chunk_offset = chunk_offset, chunk_offset + len(chunk)
            if self._feed is not None:
                self._feed.feed(chunk)
                continue
            start = 0
            if tail:
                nl = chunk.find(b"\n")
                if nl < 0:
                    tail.append(chunk)
                    tail_len += len(chunk)
                    if tail_len > MAX_LINE:
                        self.offset = tail_offset
                        tail.reverse()
                        self._switch(tail.pop(), 0, f"a line longer than {MAX_LINE >> 20} MiB")
                        while tail:  # piece by piece, each let go once fed: no copy of the whole line
                            self._feed.feed(tail.pop())
                    continue
                self.offset = tail_offset
                joined = b"".join([*tail, memoryview(chunk)[: nl + 1]])  # one copy
                tail, tail_len = [], 0
                self._lines(joined, 0)
                del joined
                if self._feed is not None:  # it took joined from the failing line on; the chunk's rest follows
                    self._feed.feed(chunk[nl + 1 :])
                    continue
                start = nl + 1
            self.offset = here
            pos = self._lines(chunk, start)
            if self._feed is None and pos < len(chunk):
                tail, tail_len, tail_offset = [chunk[pos:]], len(chunk) - pos, here + pos
        if self._feed is None:
            # End of input in the line path: what is left (the trailer, or nothing) goes to the decoder to judge.
            self.offset = tail_offset if tail else chunk_offset
            self._switch(b"".join(tail), 0, "end of input")
        self._feed.close()
        if self.c.structures > self.line_structures:
            self.mode = "ijson" if self.line_structures == 0 else "line+ijson"
        else:
            self.fallback = ""  # only the trailer went to the decoder

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
            if not self.after_comma and collector.structures and end > pos and not buf[pos:end].isspace():
                self._switch(buf, pos, "missing comma between structures")
                return len(buf)
            if buf.startswith(LINE_PREFIX, pos) and buf[close - 2 : close] == b"]}":
                sep = find(SEPARATOR, pos, close)
                if sep > 0 and self._fast(buf, pos + len(LINE_PREFIX) - 1, sep + 1, sep + len(SEPARATOR) - 1,
                                          close - 1):
                    self.after_comma = comma
                    self.blank = 0
                    pos = nl + 1
                    continue
            # Any other complete one-line structure.
            first = _WHITESPACE.match(buf, pos, close).end()
            if first == close and not comma:
                pos = self._blank(buf, pos)
                continue
            if buf[first] == 123 and self._one_line(buf, first, close):  # '{'
                self.after_comma = comma
                self.blank = 0
                pos = nl + 1
                continue
            self._switch(buf, pos, "a line is not one whole structure")
            return len(buf)

    def _blank(self, buf: bytes, pos: int) -> int:
        """A blank line at pos: skip every whitespace byte from there at once; where the next line starts."""
        skip = _WHITESPACE.match(buf, pos).end()
        self.blank += skip - pos
        if self.blank > MAX_GAP:
            raise BadInput(f"more than {MAX_GAP >> 20} MiB of whitespace in a row")
        if skip < len(buf):
            skip = buf.rfind(b"\n", pos, skip) + 1  # the start of the line where the whitespace ends
        return skip

    def _fast(self, buf: bytes, plans_start: int, plans_end: int, files_start: int, files_end: int) -> bool:
        """A line in the fast form; False when it is not quite (the general line path then decides)."""
        collector = self.c
        plans = decoded_plans = fields = None
        if plans_end - plans_start <= LOADS_LIMIT:
            plans = canonical_plans(buf[plans_start:plans_end])
            if plans is None:
                try:
                    decoded_plans = _loads(buf[plans_start:plans_end])
                except ValueError:
                    return False  # e.g. the separator sat inside a plan's string
                if type(decoded_plans) is not list:
                    return False
        else:
            try:
                fields = _decode(memoryview(buf)[plans_start:plans_end], b'{"reporting_plans":', collector,
                                 self.offset + plans_start).plans
            except ValueError:
                return False
        # The plans part parsed as an array, so the separator sits at the structure's top level.
        key, set_id = collector.known_list(buf, files_start, files_end)
        if set_id is None:
            if files_end - files_start <= LOADS_LIMIT:
                try:
                    entries = _loads(buf[files_start:files_end])
                except ValueError:
                    return False  # e.g. another key after in_network_files
                set_id = collector.file_set(entries, None)
                count = len(entries)
            else:
                try:
                    decoded = _decode(memoryview(buf)[files_start:files_end], FILES_PREFIX, collector,
                                      self.offset + files_start)
                except ValueError:
                    return False
                set_id = collector.set_id(decoded.ids)
                count = decoded.links
                collector.file_links += count
            collector.remember(key, buf, files_start, files_end, set_id, count)
        if decoded_plans is not None:
            collector.emit_plans(decoded_plans, set_id)
        else:
            collector.emit(plans if fields is None else fields, set_id)
        return True

    def _one_line(self, buf: bytes, start: int, close: int) -> bool:
        """A complete structure on one line, in any form."""
        collector = self.c
        if close - start <= LOADS_LIMIT:
            try:
                obj = _loads(buf[start:close])
            except ValueError:
                return False
            if type(obj) is not dict:
                return False
            collector.structure(obj)
            return True
        try:
            decoded = _decode(memoryview(buf)[start:close], b"", collector, self.offset + start)
        except ValueError:
            return False
        decoded.finish(collector)
        return True

    def _header(self, buf: bytes, pos: int, end: int) -> int:
        """First line: `{...,"reporting_structure":[`, perhaps followed by the first structure.

        Returns where the line path goes on (the end of the header), or -1 when the decoder took over.
        """
        at = buf.find(HEADER_END, pos, end)
        fields = None
        if 0 <= at - pos <= LOADS_LIMIT:
            try:
                fields = _loads(buf[pos : at + len(HEADER_END)] + b"]}")
            except ValueError:
                fields = None
        if type(fields) is not dict:
            self._switch(buf, pos, "the first line is not a table-of-contents header")
            return -1
        for key, value in fields.items():
            check_depth(value, 1)
            self.c.top(key, value)
        self.header_done = True
        return at + len(HEADER_END)

    def _switch(self, buf: bytes, pos: int, reason: str) -> None:
        """Hand everything from buf[pos:] on to the event decoder, in the state the line path reached."""
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
        self._feed = _Feed(_Toc(self.c, skip_first), prefix, stream_offset=self.offset + pos)
        self._feed.feed(memoryview(buf)[pos:])


def _decode(raw: memoryview, prefix: bytes, collector: Collector, offset: int) -> _Structure:
    """Decode one structure (prefix + raw, closed) with the event decoder; ValueError if it is not one.

    `offset`: where raw starts in the stream (for error messages).
    """
    handler = _Structure(collector)
    feed = _Feed(handler, prefix, stream_offset=offset)
    try:
        feed.feed(raw)
        if prefix:
            feed.feed(b"}")
        feed.close()
    except BadInput as exc:
        if handler.done or not exc.message.startswith("corrupt JSON"):
            raise
        raise ValueError(exc.message) from None
    if not handler.done:
        raise ValueError("not one structure")
    return handler


# --- the event decoder ---------------------------------------------------------------------------------------

# What a container on the decoder's stack is.
TOP, STRUCTURES, STRUCT, PLANS, PLAN, FILES, FILE, ALLOWED = range(8)
_PLAN_KEYS = frozenset(PLAN_KEYS)
_FILE_KEYS = frozenset(FILE_KEYS)
_CONTAINERS = {"start_map": "end_map", "start_array": "end_array"}


class _Feed:
    """ijson's bare token events (basic_parse) for one JSON text, fed in pieces, handed to `handler`."""

    def __init__(self, handler: _Structure, prefix: bytes, stream_offset: int) -> None:
        self.handler = handler
        self.events: list = []
        self.coro = ijson.basic_parse_coro(_sink(self.events), use_float=True)
        self.base = stream_offset - len(prefix)  # stream offset of the first byte fed
        self.fed = 0
        self.gap = 0  # bytes fed since the last event
        if prefix:
            self._send(prefix)

    def feed(self, data) -> None:
        view = memoryview(data)
        for start in range(0, len(view), IJSON_PIECE):
            self._send(bytes(view[start : start + IJSON_PIECE]))

    def _send(self, data: bytes) -> None:
        if not data:
            return
        try:
            self.coro.send(data)
        except ijson.common.JSONError as exc:
            raise self._error(exc, len(data)) from None
        except UnicodeDecodeError:  # yajl's UTF-8 for an escaped lone low surrogate (`"\udc00"`): no character
            raise self._error(ValueError(LONE_SURROGATE), len(data)) from None
        start = max(self.base + self.fed, 0)
        self.fed += len(data)
        if not self.events:
            self.gap += len(data)
            if self.gap > MAX_GAP:
                error = BadInput(
                    f"not a table of contents: more than {MAX_GAP >> 20} MiB without a JSON token (one endless "
                    f"string or number, or that much whitespace), up to decompressed byte {self.base + self.fed:,}"
                )
                error.located = True
                raise error
            return
        self.gap = 0
        try:
            self.handler.handle(self.events)
        except BadInput as exc:
            if exc.located:
                raise
            raise exc.at(f"in decompressed bytes {start:,}-{self.base + self.fed:,}") from None
        finally:
            self.events.clear()

    def close(self) -> None:
        try:
            self.coro.close()
        except ijson.common.JSONError as exc:
            raise self._error(exc, 0) from None
        end = max(self.base + self.fed, 0)
        try:
            self.handler.handle(self.events)
            self.handler.close()
        except BadInput as exc:
            if exc.located:
                raise
            raise exc.at(f"at decompressed byte {end:,}") from None

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


class _Structure:
    """Events of one reporting_structure object -> its plans (six fields each), file ids and link count.

    Nothing is built but what the collector keeps: each plan's six fields, each file entry's location and
    description (registered with the collector as soon as the entry ends). Any other value is skipped, by
    counting its depth only.
    """

    def __init__(self, collector: Collector) -> None:
        self.c = collector
        self.stack: list[int] = []
        self.key: str | None = None  # the current key in the innermost map
        self.skip = 0  # depth inside a value being skipped
        self.done = False
        self.top_keys = False  # check the top-level keys as they come (a whole document)
        self.base_depth = 2  # a lone structure: as if inside the top object and reporting_structure
        self._reset()

    def _reset(self) -> None:
        self.plans: list[tuple] = []
        self.text = 0  # bytes of plan text held
        self.ids: set[int] = set()
        self.links = 0
        self.keys: set[str] = set()
        self.item: dict = {}

    def close(self) -> None:
        pass

    def finish(self, collector: Collector) -> None:
        if "reporting_plans" not in self.keys:
            raise BadInput(
                f"not a table of contents: reporting_structure[{collector.structures}] has no reporting_plans array"
            )
        set_id = collector.set_id(self.ids)
        collector.file_links += self.links
        collector.emit(self.plans, set_id)

    def _too_many(self) -> BadInput:
        return BadInput(
            f"reporting_structure[{self.c.structures}] has more than {MAX_PENDING_PLANS:,} plans "
            f"(or {MAX_PENDING_TEXT >> 20} MiB of plan text): larger than this tool reads"
        )

    def _too_deep(self) -> BadInput:
        return BadInput(f"not a table of contents: JSON nested deeper than {MAX_DEPTH} levels")

    @property
    def depth(self) -> int:
        """Containers open, counted as in the whole document (a lone structure sits at depth 3)."""
        return len(self.stack) + self.base_depth

    def handle(self, events: list) -> None:
        stack = self.stack
        for event, value in events:
            if self.skip:
                if event in _CONTAINERS:
                    self.skip += 1
                    if len(stack) + self.base_depth + self.skip > MAX_DEPTH:
                        raise self._too_deep()
                elif event == "end_map" or event == "end_array":
                    self.skip -= 1
                continue
            if event == "map_key":
                self.key = value
                if self.top_keys and len(stack) == 1:
                    self.c.top(value, None)  # refuses rates files and EIN-lookup documents early
                continue
            if event == "end_map" or event == "end_array":
                self._end(stack.pop())
                continue
            self._value(event, value)

    def _value(self, event: str, value: object) -> None:
        """A value starts (a container) or is (a scalar), inside the innermost container of the stack."""
        stack = self.stack
        parent = stack[-1] if stack else None
        opens = event in _CONTAINERS
        if opens and len(stack) + self.base_depth >= MAX_DEPTH:
            raise self._too_deep()
        if parent == PLAN or parent == FILE or parent == ALLOWED:
            key = self.key
            if key in (_PLAN_KEYS if parent == PLAN else _FILE_KEYS):
                if opens:
                    if key == "description":  # a description that is not text is ignored, as on the line path
                        self.skip = 1
                        return
                    what = "a reporting_plans entry" if parent == PLAN else "a file entry"
                    raise BadInput(
                        f"reporting_structure[{self.c.structures}]: {what} has a {key} that is not text: "
                        f"{_short(self.item)}"
                    )
                self.item[key] = value
                if parent == PLAN and type(value) is str:
                    self.text += len(value)
                    if self.text > MAX_PENDING_TEXT:
                        raise self._too_many()
            elif opens:
                self.skip = 1
            return
        if parent == FILES:
            if event != "start_map":
                raise BadInput(f"reporting_structure[{self.c.structures}]: a file entry has no location string: "
                               f"{'[...]' if opens else _short(value)}")
            stack.append(FILE)
            self.item = {}
            return
        if parent == PLANS:
            if event != "start_map":
                raise BadInput(f"reporting_structure[{self.c.structures}]: a reporting_plans entry has no "
                               f"plan_name: {'[...]' if opens else _short(value)}")
            if len(self.plans) >= MAX_PENDING_PLANS:
                raise self._too_many()
            stack.append(PLAN)
            self.item = {}
            return
        if parent == STRUCT:
            self._member(self.key, event, value)
            return
        self._outer(parent, event, value)

    def _outer(self, parent: int | None, event: str, value: object) -> None:
        """A value outside any structure: here, the structure itself (a _Toc handles the whole document)."""
        if parent is None and event == "start_map" and not self.done:
            self.stack.append(STRUCT)
            return
        raise BadInput("not one reporting structure")

    def _member(self, key: str | None, event: str, value: object) -> None:
        """A value of the structure's own keys."""
        if key in ("reporting_plans", "in_network_files", "allowed_amount_file"):
            if key in self.keys:
                raise BadInput(f"reporting_structure[{self.c.structures}] has the key {key} twice")
            self.keys.add(key)
        if key == "reporting_plans":
            if event != "start_array":
                raise BadInput(f"not a table of contents: reporting_structure[{self.c.structures}] has no "
                               f"reporting_plans array")
            self.stack.append(PLANS)
        elif key == "in_network_files":
            if event == "start_array":
                self.stack.append(FILES)
            elif event != "null":
                raise BadInput(f"reporting_structure[{self.c.structures}]: in_network_files is not an array")
        elif key == "allowed_amount_file":
            if event == "start_map":
                self.stack.append(ALLOWED)
                self.item = {}
            elif event != "null":
                raise BadInput(f"reporting_structure[{self.c.structures}]: a file entry has no location string: "
                               f"{'[...]' if event in _CONTAINERS else _short(value)}")
        elif event in _CONTAINERS:
            self.skip = 1

    def _end(self, kind: int) -> None:
        """The container `kind` just closed."""
        if kind == PLAN:
            self.plans.append(self.c.plan_fields(self.item))
        elif kind == FILE or kind == ALLOWED:
            self.ids.add(self.c.file_id(self.item, kind == FILE))
            self.links += 1
        elif kind == STRUCT:
            self._structure_ends()

    def _structure_ends(self) -> None:
        self.done = True


class _Toc(_Structure):
    """Events of a whole table of contents: the top-level scalars, and each reporting_structure element."""

    def __init__(self, collector: Collector, skip_first: bool) -> None:
        super().__init__(collector)
        self.skip_first = skip_first  # the line path's prefix puts a null in front of the structures left
        self.items = 0
        self.top_object = False
        self.seen_structures = False
        self.top_keys = True
        self.base_depth = 0

    def _outer(self, parent: int | None, event: str, value: object) -> None:
        c = self.c
        stack = self.stack
        if parent == STRUCTURES:
            first = self.items == 0
            self.items += 1
            if event == "start_map":
                stack.append(STRUCT)
                self._reset()
            elif not (first and self.skip_first and event == "null"):
                raise BadInput(
                    f"not a table of contents: reporting_structure[{c.structures}] is not an object ({event})"
                )
        elif parent == TOP:
            key = self.key
            if key == "reporting_structure":
                if event != "start_array":
                    raise BadInput("not a table of contents: reporting_structure is not an array")
                self.seen_structures = True
                stack.append(STRUCTURES)
            elif event in _CONTAINERS:
                self.skip = 1
            else:
                c.top(key, value)  # a top-level scalar (reporting_entity_name, version, ...)
        elif parent is None:
            if event != "start_map" or self.top_object:
                kind = event.removeprefix("start_")
                raise BadInput(f"not a table of contents: the document is a JSON {kind}, not an object")
            self.top_object = True
            stack.append(TOP)

    def _structure_ends(self) -> None:
        self.finish(self.c)

    def close(self) -> None:
        if not self.top_object:
            raise BadInput("not a table of contents: the input holds no JSON value")
        if not self.seen_structures:
            raise BadInput("not a table of contents: no reporting_structure array in the document")


def _sink(events: list):
    """ijson coroutine target that appends events to a list."""

    def target():
        while True:
            events.append((yield))

    gen = target()
    next(gen)
    return gen
