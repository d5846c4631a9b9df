"""One run's load: the stream parsed into the collector, its plan rows COPYed as they come, then the files and
file sets, and mrf.finish_ingest(), all in the loading session's one transaction.

Imported by the ingest once the source is inflating (ingest.py): the parser's modules are not on the way in.
The plan rows parsed before the run is recorded are held (a bounded number of them) and sent when its COPY opens.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from itertools import chain
from operator import itemgetter

from ..errors import BadInput
from .collector import Collector
from .ingest import queries
from .parse import Parser

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (and re) while the stream starts
if TYPE_CHECKING:
    from .inflate import Inflater
    from .ingest import ProgressHook, _RunLog, _Sessions
    from .source import Source

# Plan rows held while the database is not ready yet (checked at each decompressed chunk, so at most one chunk's
# rows more): about a quarter of a second of a canonical index's rows, a few MB.
MAX_HELD_ROWS = 20_000
MAX_HELD_TEXT = 8 << 20  # characters of those rows' fields


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


class HeldRows:
    """The collector's plan rows until the run's COPY is open: `append` is its sink; `full` is asked once per
    decompressed chunk, and counts the text of the rows added since (C iterators, no Python call per row)."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.append = self.rows.append
        self.text = 0
        self._counted = 0

    @property
    def full(self) -> bool:
        fields = chain.from_iterable(map(_PLAN_FIELDS, self.rows[self._counted :]))
        self.text += sum(map(len, filter(None, fields)))
        self._counted = len(self.rows)
        return len(self.rows) >= MAX_HELD_ROWS or self.text >= MAX_HELD_TEXT


_PLAN_FIELDS = itemgetter(slice(3, None))  # a row's six text fields (after run id, set id and plan key)


class Load:
    """One run: the stream parsed into the collector, its rows COPYed in one transaction, then published."""

    def __init__(self, sessions: _Sessions, src: Source, inflater: Inflater,
                 progress: Callable[[Source], ProgressHook] | None, entity: dict[str, str]) -> None:
        self.sessions = sessions
        self.src = src
        self.inflater = inflater
        self.hook = progress(src) if progress else None
        self.held = HeldRows()
        self.collector = Collector(plan_sink=self.held.append, entity=entity)
        self.parser = Parser(self.collector)
        self.run_log: _RunLog | None = None  # once the COPY is open
        self._transaction = sessions.transaction  # the loading session's transaction and cursor, once open
        self._plan_copy = contextlib.ExitStack()  # the plan entries' COPY, once open
        self.cur = None

    def _start(self) -> None:
        """Once the run is recorded: open the loading transaction and the plan entries' COPY, and send the rows
        held so far."""
        sessions = self.sessions
        sessions.wait()
        self.run_log = sessions.run_log
        run_id = self.run_log.run_id
        conn = sessions.loading
        if not sessions.began:
            self._transaction.enter_context(conn.transaction())
        self.cur = self._transaction.enter_context(conn.cursor())
        self._transaction.enter_context(self._plan_copy)
        copy = self._plan_copy.enter_context(self.cur.copy(queries()["copy_plan_entry"]))
        write = copy.write_row
        for row in self.held.rows:
            write((run_id, *row[1:]))
        self.held = None
        self.collector.run_id, self.collector.plan_sink = run_id, write

    def _chunks(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        src, hook, sessions = self.src, self.hook, self.sessions
        for chunk in chunks:
            if hook:
                hook(src.position, src.size)
            if self.run_log is not None:
                self.run_log.heartbeat()
            elif sessions.ready() or self.held.full:  # (ready() raises what kept the run from being recorded)
                self._start()
            yield chunk

    def run(self, began: float) -> Summary:
        """Stream, load and publish; `began`: when the ingest started (perf_counter), for the summary's seconds."""
        src, inflater, collector, parser = self.src, self.inflater, self.collector, self.parser
        with self._transaction:
            chunks = iter(inflater)
            try:
                parser.run(self._chunks(chunks))
            finally:
                chunks.close()  # stops the inflater's thread, which closes the connection or file
            if self.run_log is None:  # a short stream: parsed before the database was ready
                self._start()
            parsed = time.perf_counter()
            self._plan_copy.close()  # the plan entries' COPY ends
            if self.hook:
                self.hook(src.position, src.size)
            if collector.structures == 0 and not collector.entity.get("reporting_entity_name"):
                raise BadInput("not a table of contents: no reporting_entity_name and no reporting structures")
            run_id, cur = self.run_log.run_id, self.cur
            with cur.copy(queries()["copy_file"]) as copy:
                for key, info in collector.files.items():
                    copy.write_row(
                        (run_id, info.file_id, key, info.url, len(info.url_hashes), info.descriptions,
                         info.in_network, info.allowed_amount)
                    )
            with cur.copy(queries()["copy_file_set"]) as copy:
                for members, set_id in collector.sets.items():
                    copy.write_row((run_id, set_id, list(members), collector.set_uses[set_id - 1]))
            entity = collector.entity
            groups = collector.product_groups()
            row = cur.execute(
                queries()["finish_ingest"],
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
            seconds=time.perf_counter() - began,
            publish_seconds=time.perf_counter() - parsed,
            replaced_run_id=replaced,
        )
