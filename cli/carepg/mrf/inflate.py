"""Decompression: a source's bytes as a stream of decompressed chunks, inflated in a background thread.

Gzip (any number of members) or plain JSON, detected from the first two bytes. isal's gzip reader inflates
into its output buffer with the GIL released, so a thread that reads the source and inflates runs on one core
while the parser runs on another; the parser only waits when it is faster than decompression. The thread is
also the one that reads the source, so a network read (an HTTP source resuming with a Range request after a
dropped connection) feeds the same inflater and never blocks parsing either. zlib is the fallback when isal
is missing (tested too).
"""

from __future__ import annotations

import queue
import threading
import zlib
from collections.abc import Iterator

from ..errors import BadInput
from .source import Source

try:  # isal's igzip inflates several times faster than zlib
    from isal import isal_zlib

    BACKEND = "isal"
except ImportError:  # pragma: no cover - isal is a dependency; kept for odd platforms
    isal_zlib = None
    BACKEND = "zlib"

OUT_CHUNK = 2 << 20  # decompressed bytes per chunk handed to the parser
IN_BUFFER = 4 << 20  # compressed bytes per source read (fewer reads, fewer waits for the GIL)
DEPTH = 3  # chunks the thread may run ahead of the parser: memory is about (DEPTH + 2) * OUT_CHUNK
_DONE = object()


class Inflater:
    """Iterate to get decompressed chunks; `raw_bytes` counts them, `gzip` says whether the source was gzip."""

    def __init__(self, source: Source, *, background: bool = True, backend: str = BACKEND,
                 out_chunk: int = OUT_CHUNK) -> None:
        self.source = source
        self.background = background
        self.backend = backend
        self.out_chunk = out_chunk
        self.raw_bytes = 0
        self.gzip = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._queue: queue.Queue | None = None
        self.started = False  # from then on the source is this object's to close

    def start(self) -> None:
        """Start reading and inflating now, before anyone iterates (the thread runs up to DEPTH chunks ahead)."""
        if self.started:
            return
        self.started = True
        if self.background:
            self._queue = queue.Queue(maxsize=DEPTH)
            self._thread = threading.Thread(target=self._run, args=(self._queue,), name="carepg-mrf-inflate",
                                            daemon=True)
            self._thread.start()

    def __iter__(self) -> Iterator[bytes]:
        self.start()
        if not self.background:
            try:
                yield from self._produce()
            finally:
                self.source.close()
            return
        q = self._queue
        try:
            while True:
                item = q.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop the thread (it closes the source); called when the consumer stops, early or not."""
        self._stop.set()
        if self._thread is None:
            return
        while True:  # unblock a put
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        # A thread blocked in a network read ends at its socket timeout; don't wait that long for it here.
        self._thread.join(timeout=1)

    # -- the thread ---------------------------------------------------------------------------------------------

    def _run(self, q: queue.Queue) -> None:
        try:
            for chunk in self._produce():
                if not self._put(q, chunk):
                    return
            self._put(q, _DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(q, exc)
        finally:
            self.source.close()

    def _put(self, q: queue.Queue, item: object) -> bool:
        """Queue item unless the consumer stopped (then False): never blocks a thread nobody waits for."""
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> Iterator[bytes]:
        src = self.source
        first = b""
        while len(first) < 2:
            block = src.read(IN_BUFFER)
            if not block:
                break
            first += block
        if not first:
            raise BadInput("the source is empty (0 bytes)")
        if first[:2] != b"\x1f\x8b":
            self.raw_bytes += len(first)
            yield first
            while block := src.read(self.out_chunk):
                self.raw_bytes += len(block)
                yield block
            return
        self.gzip = True
        inflate = _isal if self.backend == "isal" else _zlib
        yield from inflate(self, first)

    def corrupt(self, exc: BaseException) -> BadInput:
        return BadInput(
            f"corrupt gzip data before compressed byte {self.source.position:,} "
            f"(after {self.raw_bytes:,} decompressed bytes): {exc}"
        )

    def truncated(self) -> BadInput:
        return BadInput(
            f"truncated gzip: the compressed stream ends at byte {self.source.position:,} "
            f"({self.raw_bytes:,} bytes decompressed) before the end of the gzip member"
        )


class _Prefixed:
    """The file object isal's gzip reader pulls from: the bytes already read, then the source."""

    def __init__(self, first: bytes, source: Source) -> None:
        self.first = memoryview(first)
        self.source = source

    def read(self, n: int = -1) -> bytes:  # pragma: no cover - the reader only calls readinto
        raise NotImplementedError

    def readinto(self, buf) -> int:
        if self.first:
            n = min(len(buf), len(self.first))
            buf[:n] = self.first[:n]
            self.first = self.first[n:]
            return n
        return self.source.readinto(buf)


def _isal(inf: Inflater, first: bytes) -> Iterator[bytes]:
    # A local file is read by the reader itself: the fewer Python frames this thread runs, the less it waits
    # for the GIL while the parser holds it.
    fileobj = inf.source.rewound() or _Prefixed(first, inf.source)
    reader = isal_zlib._GzipReader(fileobj, IN_BUFFER)
    size = inf.out_chunk
    while True:
        try:
            out = reader.read(size)  # inflates with the GIL released; calls readinto for more input
        except EOFError:
            raise inf.truncated() from None
        except isal_zlib.IsalError as exc:
            raise inf.corrupt(exc) from None
        except OSError as exc:  # BadGzipFile is an OSError without an errno; a failed read has one
            if exc.errno is not None and hasattr(inf.source, "error"):
                raise inf.source.error(exc) from None
            raise inf.corrupt(exc) from None
        if not out:
            return
        inf.raw_bytes += len(out)
        yield out


def _zlib(inf: Inflater, first: bytes) -> Iterator[bytes]:
    size = inf.out_chunk
    d = zlib.decompressobj(wbits=31)
    fed = False  # has the current gzip member received input?
    data = first
    while True:
        while data:
            try:
                out = d.decompress(data, size)
            except zlib.error as exc:
                raise inf.corrupt(exc) from None
            fed = True
            data = d.unconsumed_tail
            if out:
                inf.raw_bytes += len(out)
                yield out
            if d.eof:  # another gzip member may follow (concatenated .gz files are valid gzip)
                data = d.unused_data.lstrip(b"\0")  # gzip tools allow zero padding between members
                d = zlib.decompressobj(wbits=31)
                fed = False
        data = inf.source.read(IN_BUFFER)
        if not data:
            break
    if fed:
        raise inf.truncated()
