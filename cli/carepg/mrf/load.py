"""One run's load: the stream parsed into the collector, its plan entries COPYed as they come, then the files
and file sets, and mrf.finish_ingest(), all in the loading session's one transaction.

Imported by the ingest once the source is inflating (ingest.py): the parser's modules are not on the way in.
The plan entries parsed before the run is recorded are held (a bounded number of them) and sent when its COPY
opens.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from itertools import chain

from ..errors import BadInput
from ..libpq import array_literal
from .collector import Collector
from .ingest import queries
from .parse import Parser

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (and re) while the stream starts
if TYPE_CHECKING:
    from .inflate import Inflater
    from .ingest import ProgressHook, _RunLog, _Sessions
    from .source import Source

# Plan entries held while the database is not ready yet (checked at each decompressed chunk, so at most one
# chunk's entries more): about a quarter of a second of a canonical index's entries, a few MB.
MAX_HELD_ROWS = 20_000
MAX_HELD_TEXT = 8 << 20  # characters of those entries' fields


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


class PlanEntries:
    """The collector's plan entries on their way to the COPY: `add` is its sink (one call per structure); `text`
    formats what was added since as COPY text, sent in one write per decompressed chunk instead of a call into
    the driver per row. Until the run's COPY opens, the entries are held (`full` says when to stop holding)."""

    def __init__(self) -> None:
        self.batch: list[tuple[int, list[int], list[tuple]]] = []
        self.add = self.batch.append
        self.held_plans = self.held_text = 0
        self._counted = 0

    @property
    def full(self) -> bool:
        """Too many entries held? Asked once per decompressed chunk; counts only what was added since."""
        for _, keys, plans in self.batch[self._counted :]:
            self.held_plans += len(keys)
            self.held_text += sum(map(len, filter(None, chain.from_iterable(plans))))
        self._counted = len(self.batch)
        return self.held_plans >= MAX_HELD_ROWS or self.held_text >= MAX_HELD_TEXT

    def text(self, run_id: int) -> str:
        """The entries added since the last call, as COPY text rows (run id, set id, plan key, six fields)."""
        batch = self.batch[:]
        self.batch.clear()
        self._counted = 0
        lines = []
        line = lines.append
        try:
            for set_id, keys, plans in batch:
                for key, fields in zip(keys, plans):
                    line(f"{set_id}\t{key}\t" + "\t".join(fields))  # TypeError for a NULL field
        except TypeError:
            return _escaped(run_id, batch)
        if not lines:
            return ""
        head = f"{run_id}\t"
        text = head + ("\n" + head).join(lines) + "\n"
        # Nothing to escape when every separator is one of ours and no field holds a backslash or a CR (a plan
        # name with a tab, say, is legal JSON): then this is the text COPY reads back as the same values.
        if "\\" in text or "\r" in text or text.count("\n") != len(lines) or text.count("\t") != 8 * len(lines):
            return _escaped(run_id, batch)
        if "\0" in text:
            raise BadInput(NUL_IN_TEXT)
        return text


def _escaped(run_id: int, batch: list[tuple[int, list[int], list[tuple]]]) -> str:
    """COPY text for any entries (_copy_row's escaping)."""
    return "".join(_copy_row((run_id, set_id, key, *fields))
                   for set_id, keys, plans in batch for key, fields in zip(keys, plans))


def _copy_row(values: tuple) -> str:
    """One COPY text row: NULL as \\N, booleans as t/f, lists as array literals, text escaped."""
    fields = []
    for v in values:
        if v is None:
            fields.append(_COPY_NULL)
        elif v is True or v is False:
            fields.append("t" if v else "f")
        elif isinstance(v, list):
            fields.append(array_literal(v).translate(_COPY_ESCAPES))
        else:
            fields.append(str(v).translate(_COPY_ESCAPES))
    row = "\t".join(fields) + "\n"
    if "\0" in row:
        raise BadInput(NUL_IN_TEXT)
    return row


NUL_IN_TEXT = "the table of contents holds a NUL character (\\u0000) in a text value, which PostgreSQL cannot store"
_COPY_NULL = "\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class Load:
    """One run: the stream parsed into the collector, its rows COPYed in one transaction, then published."""

    def __init__(self, sessions: _Sessions, src: Source, inflater: Inflater,
                 progress: Callable[[Source], ProgressHook] | None, entity: dict[str, str]) -> None:
        self.sessions = sessions
        self.src = src
        self.inflater = inflater
        self.hook = progress(src) if progress else None
        self.entries = PlanEntries()
        self.collector = Collector(plan_sink=self.entries.add, entity=entity)
        self.parser = Parser(self.collector)
        self.run_log: _RunLog | None = None  # once the COPY is open
        self._transaction = contextlib.ExitStack()  # the loading session's transaction, once open
        self._plan_copy = contextlib.ExitStack()  # the plan entries' COPY, once open
        self.copy = None  # its data side, once open

    def _start(self) -> None:
        """Once the run is recorded: open the loading transaction and the plan entries' COPY, and send the
        entries held so far."""
        sessions = self.sessions
        sessions.wait()
        self.run_log = sessions.run_log
        run_id = self.run_log.run_id
        conn = sessions.loading
        self._transaction.enter_context(conn.transaction())
        self._transaction.enter_context(self._plan_copy)
        copy = queries()["copy_plan_entry"].format(table=self.run_log.entries_table)  # a name the server made
        self.copy = self._plan_copy.enter_context(conn.copy_in(copy))
        self._send()

    def _send(self) -> None:
        """COPY the plan entries parsed since the last call."""
        if text := self.entries.text(self.run_log.run_id):
            self.copy.write(text)

    def _chunks(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        src, hook, sessions = self.src, self.hook, self.sessions
        for chunk in chunks:
            if hook:
                hook(src.position, src.size)
            if self.run_log is not None:
                self._send()
                self.run_log.heartbeat()
            elif sessions.ready() or self.entries.full:  # (ready() raises what kept the run from being recorded)
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
            self._send()
            parsed = time.perf_counter()
            self._plan_copy.close()  # the plan entries' COPY ends
            if self.hook:
                self.hook(src.position, src.size)
            if collector.structures == 0 and not collector.entity.get("reporting_entity_name"):
                raise BadInput("not a table of contents: no reporting_entity_name and no reporting structures")
            run_id, conn = self.run_log.run_id, self.sessions.loading
            with conn.copy_in(queries()["copy_file"]) as copy:
                for key, info in collector.files.items():
                    copy.write(_copy_row((run_id, info.file_id, key, info.url, len(info.url_hashes),
                                          info.descriptions, info.in_network, info.allowed_amount)))
            with conn.copy_in(queries()["copy_file_set"]) as copy:
                for members, set_id in collector.sets.items():
                    copy.write(_copy_row((run_id, set_id, list(members), collector.set_uses[set_id - 1])))
            entity = collector.entity
            groups = collector.product_groups()
            row = conn.execute(
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
            )[0]
        plans, distinct_files, distinct_sets, replaced = (None if v is None else int(v) for v in row)
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
