"""`carepg mrf ingest` / `lookup` / `files` as Python calls: stream a source into the mrf schema, ask it.

Two connections: a bookkeeping one (autocommit) records the run before and, on failure, after; the loading one
holds a single transaction that COPYs the rows and ends with mrf.finish_ingest(), which publishes the run.
A failure anywhere rolls the loading transaction back, so the previous index of that payer stays live.

Both sessions are libpq's own (carepg/libpq.py), not psycopg's: importing psycopg would cost ~0.2 s of the core
that parses, more than a tenth of a 1 GB index's whole ingest. The stream does not wait for the database either:
while a thread resolves the database and opens both sessions, the source is already being inflated and parsed,
and the plan entries parsed meanwhile are held (a bounded number of them) until the run is recorded and its COPY
is open.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

from ..errors import CarepgError, InvalidInput, Interrupted
from . import source as source_mod
from .inflate import Inflater

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (and re) before the stream starts
if TYPE_CHECKING:
    import psycopg

    from .. import libpq
    from .load import Summary


@functools.cache
def queries() -> dict[str, str]:
    """The named queries of sql/queries/mrf.sql, read on first use (by then the source is streaming)."""
    from .. import paths

    return paths.named_queries("queries/mrf.sql")


ProgressHook = Callable[[int, int | None], None]  # (compressed bytes read, total or None)


def ingest(
    url: str | None,
    spec: str,
    *,
    progress: Callable[[source_mod.Source], ProgressHook] | None = None,
    http_options: dict | None = None,
    use_thread: bool = True,
) -> Summary:
    """Stream SOURCE (path or URL) into the mrf schema; raise CarepgError (run recorded as failed) on bad input.

    url: the database; None resolves it as every command does (DATABASE_URL, else the local cluster, started when
    down), in the background like the connections. use_thread: read and inflate the source in a background thread
    (see inflate.py), parsing on this one. SIGTERM and SIGHUP end it like Ctrl-C does (when called from the main
    thread): the run is recorded as failed and the previous index stays live.
    """
    began = time.perf_counter()
    with _signals_interrupt(), _database_errors():
        src = source_mod.open_source(spec, **(http_options or {}))  # a source that cannot be opened is not a run
        inflater = Inflater(src, background=use_thread)
        entity: dict[str, str] = {}  # the payer's top-level fields, as the parser finds them
        sessions = None
        try:
            inflater.start()  # inflating from here on, while the rest is imported and the database reached
            # The parser's modules first, then the database thread's: two threads importing at once can see each
            # other's half-initialised modules (dataclasses reads `typing` straight from sys.modules).
            from .load import Load

            sessions = _Sessions(url, src)
            summary = Load(sessions, src, inflater, progress, entity).run(began)
        except BaseException as exc:
            if sessions is not None:
                sessions.fail(exc, bytes_read=src.position, raw_bytes=inflater.raw_bytes)
            if isinstance(exc, _Signalled):
                raise Interrupted(exc.signum) from None
            raise  # _database_errors() turns a database error a user can cause into one line
        finally:
            if sessions is not None:
                sessions.close()  # ends the bookkeeping session: the run's lock goes with it
            inflater.close()  # its thread, if still running, closes the source
    return summary


@contextlib.contextmanager
def _database_errors() -> Iterator[None]:
    """db.translated_errors(), without importing the database modules before something raised."""
    try:
        yield
    except Exception:
        if "carepg.db" not in sys.modules:  # nothing of the database was reached: not a database error
            raise
        from .. import db

        with db.translated_errors():
            raise


class _Sessions:
    """The database side, made ready by a thread while the source streams: the URL resolved (the local cluster
    started if it is the target and down), the bookkeeping session (autocommit) connected, the database's
    revision checked and the run recorded on it with its lock and its partition (`run_log`), and the loading
    session connected. The run is recorded as soon as the database is there, however slowly the source delivers."""

    def __init__(self, url: str | None, src: source_mod.Source) -> None:
        self.url = url
        self.loading = None
        self.run_log: _RunLog | None = None
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._connect, args=(src,), name="carepg-mrf-connect", daemon=True).start()

    def _connect(self, src: source_mod.Source) -> None:
        try:
            from .. import db

            bookkeeping = db.quick_connect(self.url)
            try:
                run_log = _RunLog(bookkeeping, src)
            except BaseException:
                bookkeeping.close()
                raise
            with self._lock:
                self.url, self.run_log = bookkeeping.url, run_log
                if self._closed:  # given up on meanwhile
                    self._close()
                    return
            loading = db.quick_connect(self.url, revision=False)
            with self._lock:
                self.loading = loading
                if self._closed:
                    self._close()
        except BaseException as exc:  # raised in the ingest's thread by ready() or wait()
            self.error = exc
        finally:
            self._done.set()

    def ready(self) -> bool:
        """Is the run recorded and the loading session open? Raises what kept them from being so."""
        if not self._done.is_set():
            return False
        if self.error is not None:
            raise self.error
        return True

    def wait(self) -> None:
        self._done.wait()
        self.ready()

    def fail(self, exc: BaseException, *, bytes_read: int, raw_bytes: int) -> None:
        """Record the run as failed (call it after the loading transaction rolled back), once the thread is done
        with it; raises what went wrong on the database's side, if something did (then the run, if recorded at
        all, fails with that)."""
        self._done.wait()
        if self.run_log is not None:
            self.run_log.fail(self.error or exc, bytes_read=bytes_read, raw_bytes=raw_bytes)
        self.ready()

    def close(self) -> None:
        """Close both sessions, now or (if the thread is still connecting) as soon as they are open."""
        with self._lock:
            self._closed = True
            self._close()

    def _close(self) -> None:
        if self.loading is not None:
            self.loading.close()
        if self.run_log is not None:
            self.run_log.close()


class _RunLog:
    """The bookkeeping session (autocommit): records the run and, with it, takes the run's lock, which it holds
    while the run lives (mrf.runs reports a 'running' run whose lock nobody holds as abandoned); records a
    failure, on a new session if the first one was lost (e.g. the server restarted)."""

    HEARTBEAT = 10.0  # seconds between checks that the session (and so the lock) is still there
    RECONNECT = 15.0  # seconds spent trying to reach the server again to record a failure

    def __init__(self, conn: libpq.Connection, src: source_mod.Source) -> None:
        self.url = conn.url
        self.conn = conn
        run_id, self.entries_table = conn.execute(queries()["start_ingest"],  # the table: the run's partition
                                                  {"source": src.name, "size_bytes": src.size})[0]
        self.run_id = int(run_id)
        self.checked = time.monotonic()

    def heartbeat(self) -> None:
        """Cheap unless HEARTBEAT seconds went by: then make sure the session is alive, reconnecting if not."""
        now = time.monotonic()
        if now - self.checked < self.HEARTBEAT:
            return
        self.checked = now
        from .. import libpq

        try:
            self.conn.execute("SELECT 1")
        except libpq.Error:
            try:
                self._reconnect()
            except (libpq.Error, CarepgError):
                pass  # try again at the next heartbeat; the load itself decides whether the run fails

    def _reconnect(self) -> None:
        from .. import db

        self.conn.close()
        self.conn = db.quick_connect(self.url, revision=False)
        self.conn.execute(queries()["hold_run_lock"], {"run_id": self.run_id})

    def fail(self, exc: BaseException, *, bytes_read: int, raw_bytes: int) -> None:
        from .. import libpq

        error = _describe(exc).replace("\x00", "\\u0000")  # text a run's row can hold, whatever the input held
        params = {"run_id": self.run_id, "error": error, "bytes_read": bytes_read, "raw_bytes": raw_bytes}
        deadline = time.monotonic() + self.RECONNECT
        while True:
            try:
                self.conn.execute(queries()["fail_ingest"], params)
                return
            except libpq.Error as err:
                if err.sqlstate == "CP409":
                    return  # not running any more: the commit went through before the interruption
                if err.sqlstate is not None and not err.sqlstate.startswith(("08", "57")):
                    raise
            if time.monotonic() > deadline:
                return  # the lock is gone with the session: `mrf runs` shows the run as abandoned
            time.sleep(0.5)
            try:
                self._reconnect()
            except (libpq.Error, CarepgError):
                pass

    def close(self) -> None:
        self.conn.close()  # ends the session: the lock goes with it


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _Signalled):
        return f"terminated by {signal.Signals(exc.signum).name}"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, CarepgError):
        return exc.message
    database_errors = tuple(sys.modules[m].Error for m in ("carepg.libpq", "psycopg") if m in sys.modules)
    if isinstance(exc, database_errors):
        from ..errors import from_database

        if (mapped := from_database(exc)) is not None:
            return mapped.message
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


class _Signalled(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the main thread is, like Ctrl-C's KeyboardInterrupt."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = []

    def handler(signum, frame):
        if not raised:  # once: a second signal must not break the cleanup the first one started
            raised.append(signum)
            raise _Signalled(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# --- EIN lookup documents ------------------------------------------------------------------------------------


def lookup_entries(document: object, where: str) -> list[dict]:
    """{url, displayname} entries under any category key of an Anthem EIN-lookup document."""
    from .collector import file_key

    if not isinstance(document, dict):
        raise InvalidInput(f"{where}: not an EIN-lookup document (expected a JSON object of category lists)")
    entries = []
    for category, items in document.items():
        if not isinstance(items, list):
            continue  # e.g. "lastupdated"
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("url"), str) and isinstance(item.get("displayname"), str):
                entries.append(
                    {"file_key": file_key(item["url"]), "display_name": item["displayname"], "category": category,
                     "url": item["url"]}
                )
    if not entries:
        raise InvalidInput(f"{where}: not an EIN-lookup document (no {{url, displayname}} entries under a category)")
    return entries


def load_lookup(url: str, spec: str, http_options: dict | None = None) -> int:
    from psycopg.types.json import Jsonb

    from .. import db

    src = source_mod.open_source(spec, **(http_options or {}))
    document = _read_lookup(src)
    entries = lookup_entries(document, src.name)
    with db.connect(url, autocommit=True) as conn, db.translated_errors():
        return conn.execute(queries()["load_lookup"], {"source": src.name, "entries": Jsonb(entries)}).fetchone()[0]


MAX_LOOKUP_BYTES = 4 << 20  # an EIN-lookup document lists one employer's files: tens of KB


def _read_lookup(src: source_mod.Source) -> object:
    """The document, decoded; refused (one line) when it is larger than MAX_LOOKUP_BYTES or not JSON."""
    pieces, size = [], 0
    inflater = Inflater(src, background=False, out_chunk=256 << 10)
    chunks = iter(inflater)
    try:
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_LOOKUP_BYTES:
                raise InvalidInput(
                    f"{src.name}: larger than {MAX_LOOKUP_BYTES >> 20} MiB of JSON, so not an EIN-lookup document "
                    f"(those list one employer's files); is it the index? load that with `carepg mrf ingest`"
                )
            pieces.append(chunk)
    finally:
        chunks.close()
    import json

    data = b"".join(pieces)
    del pieces
    # json.loads builds ~60 bytes of objects per container: refuse documents that are mostly brackets.
    if data.count(b"{") + data.count(b"[") > max(len(data) // 32, 1000):
        raise InvalidInput(f"{src.name}: not an EIN-lookup document (far more JSON objects and arrays than "
                           f"{{url, displayname}} entries could make)")
    try:
        return json.loads(data)
    except RecursionError:
        raise InvalidInput(f"{src.name}: not an EIN-lookup document (JSON nested too deeply)") from None
    except ValueError as exc:
        raise InvalidInput(
            f"{src.name}: corrupt JSON at byte {getattr(exc, 'pos', 0):,}: {exc.args[0] if exc.args else exc}"
        ) from None


# --- the answer ----------------------------------------------------------------------------------------------


def network_files(conn: psycopg.Connection, state: str, plan_type: str, issuer: str | None = None) -> list[dict]:
    return _rows(conn, "network_files", {"state": state, "plan_type": plan_type, "issuer": issuer})


def runs(conn: psycopg.Connection, limit: int = 10) -> list[dict]:
    """mrf.runs(): the most recent runs, newest first; 'abandoned' for a run whose process died unrecorded."""
    return _rows(conn, "runs", {"limit": limit})


def _rows(conn: psycopg.Connection, query: str, params: dict) -> list[dict]:
    from psycopg.rows import dict_row

    from .. import db

    with db.translated_errors(), conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(queries()[query], params).fetchall()
