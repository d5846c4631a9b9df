"""`carepg mrf ingest` / `lookup` / `files` as Python calls: stream a source into the mrf schema, ask it.

Two connections: a bookkeeping one (autocommit) records the run before and, on failure, after; the loading one
holds a single transaction that COPYs the rows and ends with mrf.finish_ingest(), which publishes the run.
A failure anywhere rolls the loading transaction back, so the previous index of that payer stays live.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
from psycopg.rows import dict_row

from .. import db, paths
from ..errors import BadInput, CarepgError, InvalidInput, Interrupted, from_database
from . import source as source_mod
from .collector import Collector, file_key
from .inflate import Inflater
from .parse import Parser

QUERIES = paths.named_queries("queries/mrf.sql")


@dataclasses.dataclass(frozen=True)
class Summary:
    run_id: int
    source: str
    entity_name: str
    bytes_read: int
    raw_bytes: int
    structures: int
    plan_links: int
    plans: int
    file_links: int
    distinct_files: int
    distinct_sets: int
    parser: str
    parser_note: str  # why the general parser took over, if it did
    resumes: int
    seconds: float
    publish_seconds: float  # from the last byte parsed to the commit (COPY drained, mrf.finish_ingest, commit)
    replaced_run_id: int | None

    def line(self) -> str:
        rate = self.raw_bytes / self.seconds / 1e6 if self.seconds > 0 else 0.0
        return (
            f"ingested {self.entity_name} (run {self.run_id}): {_size(self.bytes_read)} read"
            f" ({_size(self.raw_bytes)} JSON), {self.structures:,} structures, {self.plans:,} plans,"
            f" {self.distinct_files:,} distinct files in {self.distinct_sets:,} file sets,"
            f" {self.seconds:.1f} s ({rate:.0f} MB/s of JSON, {self.parser} path"
            + (f" from {self.parser_note}" if self.parser_note else "")
            + (f", {self.resumes} resumes" if self.resumes else "")
            + f"; publishing {self.publish_seconds:.2f} s)"
        )


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return str(n)  # pragma: no cover


ProgressHook = Callable[[int, int | None], None]  # (compressed bytes read, total or None)


def ingest(
    url: str,
    spec: str,
    *,
    progress: Callable[[source_mod.Source], ProgressHook] | None = None,
    http_options: dict | None = None,
    use_thread: bool = True,
) -> Summary:
    """Stream SOURCE (path or URL) into the mrf schema; raise CarepgError (run recorded as failed) on bad input.

    use_thread: read and inflate the source in a background thread (see inflate.py), parsing on this one.
    SIGTERM and SIGHUP end it like Ctrl-C does (when called from the main thread): the run is recorded as
    failed and the previous index stays live.
    """
    began = time.perf_counter()
    src = source_mod.open_source(spec, **(http_options or {}))
    inflater = Inflater(src, background=use_thread)
    try:
        with _signals_interrupt(), db.translated_errors():
            run = _RunLog(url, src)
            try:
                summary = _load(url, run, src, inflater, progress)
            except BaseException as exc:
                run.fail(exc, bytes_read=src.position, raw_bytes=inflater.raw_bytes)
                if isinstance(exc, _Signalled):
                    raise Interrupted(exc.signum) from None
                raise  # translated_errors() turns a database error a user can cause into one line
            finally:
                run.close()
    finally:
        if not inflater.started:  # once started, the inflater (its thread, perhaps still reading) closes it
            src.close()
    return dataclasses.replace(summary, seconds=time.perf_counter() - began)


class _RunLog:
    """The bookkeeping session (autocommit): records the run, holds its advisory lock while the run lives
    (`mrf runs` reports a 'running' run whose lock nobody holds as abandoned), and records a failure, on a
    new session if the first one was lost (e.g. the server restarted)."""

    HEARTBEAT = 10.0  # seconds between checks that the session (and so the lock) is still there
    RECONNECT = 15.0  # seconds spent trying to reach the server again to record a failure

    def __init__(self, url: str, src: source_mod.Source) -> None:
        self.url = url
        self.conn = db.connect(url, autocommit=True)
        try:
            self.run_id = self.conn.execute(
                QUERIES["start_ingest"], {"source": src.name, "size_bytes": src.size}
            ).fetchone()[0]
        except BaseException:
            self.conn.close()
            raise
        self.checked = time.monotonic()

    def heartbeat(self) -> None:
        """Cheap unless HEARTBEAT seconds went by: then make sure the session is alive, reconnecting if not."""
        now = time.monotonic()
        if now - self.checked < self.HEARTBEAT:
            return
        self.checked = now
        try:
            self.conn.execute("SELECT 1")
        except psycopg.Error:
            try:
                self._reconnect()
            except (psycopg.Error, CarepgError):
                pass  # try again at the next heartbeat; the load itself decides whether the run fails

    def _reconnect(self) -> None:
        self.conn.close()
        self.conn = db.connect(self.url, autocommit=True)
        self.conn.execute(QUERIES["hold_run_lock"], {"run_id": self.run_id})

    def fail(self, exc: BaseException, *, bytes_read: int, raw_bytes: int) -> None:
        params = {"run_id": self.run_id, "error": _describe(exc), "bytes_read": bytes_read, "raw_bytes": raw_bytes}
        deadline = time.monotonic() + self.RECONNECT
        while True:
            try:
                self.conn.execute(QUERIES["fail_ingest"], params)
                return
            except psycopg.Error as err:
                if err.sqlstate == "CP409":
                    return  # not running any more: the commit went through before the interruption
                if err.sqlstate is not None and not err.sqlstate.startswith(("08", "57")):
                    raise
            if time.monotonic() > deadline:
                return  # the lock is gone with the session: `mrf runs` shows the run as abandoned
            time.sleep(0.5)
            try:
                self._reconnect()
            except (psycopg.Error, CarepgError):
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
    if isinstance(exc, psycopg.Error) and (mapped := from_database(exc)) is not None:
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


def _load(url, run, src, inflater, progress) -> Summary:
    run_id = run.run_id
    hook = progress(src) if progress else None

    def reported(chunks: Iterator[bytes]) -> Iterator[bytes]:
        heartbeat = run.heartbeat
        for chunk in chunks:
            if hook:
                hook(src.position, src.size)
            heartbeat()
            yield chunk

    with db.connect(url) as conn:
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(QUERIES["copy_plan_entry"]) as copy:
                collector = Collector(plan_sink=copy.write_row, run_id=run_id)
                parser = Parser(collector)
                chunks = iter(inflater)
                try:
                    parser.run(reported(chunks))
                finally:
                    chunks.close()  # stops the inflater's thread, which closes the connection or file
                parsed = time.perf_counter()
            if hook:
                hook(src.position, src.size)
            if collector.structures == 0 and not collector.entity.get("reporting_entity_name"):
                raise BadInput("not a table of contents: no reporting_entity_name and no reporting structures")
            with cur.copy(QUERIES["copy_file"]) as copy:
                for key, info in collector.files.items():
                    copy.write_row(
                        (run_id, info.file_id, key, info.url, len(info.url_hashes), info.descriptions,
                         info.in_network, info.allowed_amount)
                    )
            with cur.copy(QUERIES["copy_file_set"]) as copy:
                for members, set_id in collector.sets.items():
                    copy.write_row((run_id, set_id, list(members), collector.set_uses[set_id - 1]))
            entity = collector.entity
            groups = collector.product_groups()
            row = cur.execute(
                QUERIES["finish_ingest"],
                {
                    "run_id": run_id,
                    "entity_name": entity.get("reporting_entity_name"),
                    "entity_type": entity.get("reporting_entity_type"),
                    "version": entity.get("version"),
                    "last_updated_on": entity.get("last_updated_on"),
                    "parser": parser.mode,
                    "bytes_read": src.position,
                    "raw_bytes": inflater.raw_bytes,
                    "structures": collector.structures,
                    "plan_links": collector.plan_links,
                    "file_links": collector.file_links,
                    "distinct_plans": collector.distinct_plans(),
                    **dict(zip(("product_set_ids", "products", "product_entries", "product_examples"),
                               groups or (None, None, None, None))),
                },
            ).fetchone()
    plans, distinct_files, distinct_sets, replaced = row
    return Summary(
        run_id=run_id,
        source=src.name,
        entity_name=entity.get("reporting_entity_name") or "",
        bytes_read=src.position,
        raw_bytes=inflater.raw_bytes,
        structures=collector.structures,
        plan_links=collector.plan_links,
        plans=plans,
        file_links=collector.file_links,
        distinct_files=distinct_files,
        distinct_sets=distinct_sets,
        parser=parser.mode,
        parser_note=parser.fallback,
        resumes=src.resumes,
        seconds=0.0,
        publish_seconds=time.perf_counter() - parsed,
        replaced_run_id=replaced,
    )


# --- EIN lookup documents ------------------------------------------------------------------------------------


def lookup_entries(document: object, where: str) -> list[dict]:
    """{url, displayname} entries under any category key of an Anthem EIN-lookup document."""
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
    src = source_mod.open_source(spec, **(http_options or {}))
    document = _read_lookup(src)
    entries = lookup_entries(document, src.name)
    with db.connect(url, autocommit=True) as conn, db.translated_errors():
        return conn.execute(
            QUERIES["load_lookup"], {"source": src.name, "entries": psycopg.types.json.Jsonb(entries)}
        ).fetchone()[0]


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
    with db.translated_errors(), conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            QUERIES["network_files"], {"state": state, "plan_type": plan_type, "issuer": issuer}
        ).fetchall()


def runs(conn: psycopg.Connection, limit: int = 10) -> list[dict]:
    with db.translated_errors(), conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(QUERIES["runs"], {"limit": limit}).fetchall()
