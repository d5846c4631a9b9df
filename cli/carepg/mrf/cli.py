"""`carepg mrf ...`: the price-transparency commands (a sub-Typer registered in carepg.cli).

Every argument is checked as it is read (the parsers below, args.py), before a command connects or reads a source.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from .. import args, db
from ..console import handles_errors, say, warn
from ..errors import InvalidInput
from . import ingest_entry as entry

mrf_app = typer.Typer(
    help="Price-transparency index: stream a payer's table of contents into Postgres, then ask it.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _source(spec: str) -> str:
    from .source import check_source  # the one check, shared with ingest_entry.py

    return check_source(spec)


PLAN_TYPES = ("PPO", "EPO", "POS", "HMO", "FFS")  # what mrf.network_files() takes (tests/test_arguments.py checks)


def _state(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{2}", raw):
        raise InvalidInput(f"invalid --state {args.shown(raw)}: give a two-letter state code, e.g. NY")
    return raw


def _plan_type(raw: str) -> str:
    if raw.upper() not in PLAN_TYPES:
        raise InvalidInput(f"unknown plan type {args.shown(raw)}: one of {', '.join(PLAN_TYPES)}")
    return raw


def _size(raw: str) -> str:
    from .generate import parse_size

    parse_size(raw)
    return raw


def _style(raw: str) -> str:
    from .generate import STYLES

    return args.choice(raw, "style", tuple(STYLES))

@contextlib.contextmanager
def _progress(quiet: bool):
    # A bar only where someone watches: on a pipe or in a log it would only leave blank lines behind.
    from ..console import err

    if quiet or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    with bar:
        def factory(src):
            task = bar.add_task("ingest", total=src.size)

            def hook(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            return hook

        yield factory


# `carepg mrf ingest` in its plain forms starts from ingest_entry.py (same ingest, same options) without the CLI's
# imports; this command takes the rest (--help, bad options, a progress bar).
@mrf_app.command("ingest")
@handles_errors
def ingest_command(
    source: Annotated[str, typer.Argument(parser=_source, metavar="SOURCE",
                                          help="http(s) URL or local path of the TOC (.json or .json.gz).")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar (the summary line stays).")] = False,
    timeout: Annotated[
        float, typer.Option(parser=partial(args.seconds, what="--timeout", low=entry.TIMEOUT_MIN,
                                           high=entry.TIMEOUT_MAX), metavar="SECONDS",
                            help=f"Seconds without data before a connection counts as dropped "
                                 f"({entry.TIMEOUT_MIN}-{entry.TIMEOUT_MAX}).")
    ] = entry.TIMEOUT_DEFAULT,
    retries: Annotated[
        int, typer.Option(parser=partial(args.integer, what="--retries", low=entry.RETRIES_MIN,
                                         high=entry.RETRIES_MAX), metavar="N",
                          help=f"Resumes (HTTP Range) allowed after dropped connections "
                               f"({entry.RETRIES_MIN}-{entry.RETRIES_MAX}).")
    ] = entry.RETRIES_DEFAULT,
) -> None:
    """Stream a table of contents into the mrf schema; replaces that payer's previous index atomically."""
    from . import ingest

    with _progress(quiet) as factory:  # the database is resolved while the stream starts
        summary = ingest.ingest(None, source, progress=factory, http_options={"timeout": timeout, "retries": retries})
    say(summary.line())


@mrf_app.command("lookup")
@handles_errors
def lookup_command(
    sources: Annotated[list[str], typer.Argument(parser=_source, metavar="SOURCE...",
                                                 help="EIN-lookup JSON documents (URLs or paths).")],
) -> None:
    """Load Anthem EIN-lookup documents: their display names (NY_PPO_...) add plan types to files."""
    from . import ingest

    url = db.resolve_url(start=True)
    total = 0
    for spec in sources:
        total += ingest.load_lookup(url, spec)
    say(f"loaded {total:,} lookup entries from {len(sources)} document(s)")


@mrf_app.command("files")
@handles_errors
def files_command(
    state: Annotated[str, typer.Option("--state", parser=_state, metavar="XX", help="Two-letter state code, e.g. NY.")],
    plan_type: Annotated[str, typer.Option("--plan-type", parser=_plan_type, metavar="TYPE",
                                           help="PPO, EPO, POS, HMO or FFS.")],
    issuer: Annotated[
        str | None,
        typer.Option("--issuer", help="Issuer-name prefix (e.g. anthem, highmark); '*' = any. "
                                      "Default: the payers' own files, not other Blue plans' networks."),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", parser=partial(args.writable_file, what="--output"),
                                                metavar="FILE", help="Write the URLs to this file.")] = None,
) -> None:
    """One URL per distinct in-network file of STATE and PLAN TYPE, sorted (mrf.network_files)."""
    from . import ingest

    with db.connect(db.resolve_url(start=True), autocommit=True) as conn:
        rows = ingest.network_files(conn, state, plan_type, issuer)
    text = "".join(f"{r['url']}\n" for r in rows)
    if output is not None:
        _write_whole(output, text)
        warn(f"wrote {len(rows):,} URLs to {output}")
    else:
        typer.echo(text, nl=False)


def _write_whole(path: Path, text: str) -> None:
    """Write a file in one piece (a temporary file beside it, renamed): never a half-written answer."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror} (check that its directory exists)") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InvalidInput(f"cannot write {path}: {exc.strerror}") from None


@mrf_app.command("runs")
@handles_errors
def runs_command(limit: Annotated[int, typer.Option(parser=partial(args.integer, what="--limit", low=1, high=1000),
                                                     metavar="N", help="How many runs (1-1000).")] = 10) -> None:
    """Recent ingest runs with their status (failed runs show their error)."""
    from . import ingest

    with db.connect(db.resolve_url(start=True), autocommit=True) as conn:
        for r in ingest.runs(conn, limit):
            detail = r["error"] if r["status"] == "failed" else (
                f"{r['entity_name']}: {r['structures'] or 0:,} structures, {r['distinct_files'] or 0:,} files"
                if r["status"] == "succeeded" else "")
            say(f"{r['run_id']:>5} {r['status']:<9} {r['source']}  {detail}")


@mrf_app.command("generate")
@handles_errors(database=False)
def generate_command(
    out_path: Annotated[Path, typer.Argument(parser=partial(args.writable_file, what="OUT"), metavar="OUT",
                                             help="OUT.json or OUT.json.gz")],
    size: Annotated[str, typer.Option(parser=_size, metavar="SIZE",
                                      help="Approximate JSON size (e.g. 200K, 50M, 5G).")] = "1M",
    style: Annotated[str, typer.Option(parser=_style, metavar="STYLE",
                                       help="Layout: canonical, pretty, minified, spaced, shuffled, "
                                            "crlf, escaped, upper-v1, allowed.")] = "canonical",
    seed: Annotated[int, typer.Option(parser=partial(args.integer, what="--seed", low=-(2**63), high=2**63 - 1),
                                      metavar="N", help="Random seed.")] = 6,
    bulk: Annotated[int, typer.Option(parser=partial(args.integer, what="--bulk", low=0, high=100_000), metavar="N",
                                      help="Other Blue plans' files padding every file list (0-100000).")] = 40,
) -> None:
    """Write a synthetic Anthem-shaped TOC, its EIN-lookup documents (OUT.lookup/) and OUT.truth.json."""
    from .generate import STYLES, generate, parse_size

    if style not in STYLES:
        raise InvalidInput(f"unknown style {style!r}: one of {', '.join(STYLES)}")
    raw_bytes = parse_size(size)
    try:
        truth = generate(out_path, raw_bytes=raw_bytes, style=style, seed=seed, bulk=bulk)
    except OSError as exc:
        raise InvalidInput(f"cannot write {exc.filename or out_path}: {exc.strerror}") from None
    say(f"wrote {out_path} ({truth.structures:,} structures, {len(truth.files):,} distinct files, "
        f"{len(truth.lookup_documents)} lookup documents); NY PPO answer: {len(truth.expected('NY', 'PPO'))} files")
