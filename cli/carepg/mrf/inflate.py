"""Decompression: gzip (any number of members) or plain JSON, detected from the first bytes, as a stream of chunks."""

from __future__ import annotations

import queue
import threading
import zlib
from collections.abc import Callable, Iterator

from .errors import BadInput

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


_INFLATE_ERRORS: tuple[type[BaseException], ...] = (zlib.error, OSError, ValueError, EOFError) + (
    (igzip_lib.IsalError,) if igzip_lib is not None else ()
)


MAX_OUT = 256 << 10  # decompressed bytes per inflate call: bounds memory; 1 MiB buffers are much slower (mmap)


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
