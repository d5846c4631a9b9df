"""`carepg mrf ...`: the price-transparency commands (a sub-Typer registered in carepg.cli)."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from rich.console import Console

from .. import db
from ..errors import InvalidInput
from . import ingest as ingest_mod
from .generate import parse_size

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def handles_errors(fn):
    """carepg.cli.handles_errors, looked up when the command runs: carepg.cli imports this module."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from ..cli import handles_errors as shared

        return shared(fn)(*args, **kwargs)

    return wrapper


mrf_app = typer.Typer(
    help="Price-transparency index: stream a payer's table of contents into Postgres, then ask it.",
    no_args_is_help=True,
)

@contextlib.contextmanager
def _progress(quiet: bool):
    # A bar only where someone watches: on a pipe or in a log it would only leave blank lines behind.
    if quiet or not err.is_terminal:
        yield None
        return
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


@mrf_app.command("ingest")
@handles_errors
def ingest_command(
    source: Annotated[str, typer.Argument(help="http(s) URL or local path of the TOC (.json or .json.gz).")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar (the summary line stays).")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds without data before a connection counts as dropped.")] = 30.0,
    retries: Annotated[int, typer.Option(help="Resumes (HTTP Range) allowed after dropped connections.")] = 8,
) -> None:
    """Stream a table of contents into the mrf schema; replaces that payer's previous index atomically."""
    url = db.resolve_url(start=True)
    with _progress(quiet) as factory:
        summary = ingest_mod.ingest(url, source, progress=factory,
                                    http_options={"timeout": timeout, "retries": retries})
    out.print(summary.line(), markup=False)


@mrf_app.command("lookup")
@handles_errors
def lookup_command(
    sources: Annotated[list[str], typer.Argument(help="EIN-lookup JSON documents (URLs or paths).")],
) -> None:
    """Load Anthem EIN-lookup documents: their display names (NY_PPO_...) add plan types to files."""
    url = db.resolve_url(start=True)
    total = 0
    for spec in sources:
        total += ingest_mod.load_lookup(url, spec)
    out.print(f"loaded {total:,} lookup entries from {len(sources)} document(s)", markup=False)


@mrf_app.command("files")
@handles_errors
def files_command(
    state: Annotated[str, typer.Option("--state", help="Two-letter state code, e.g. NY.")],
    plan_type: Annotated[str, typer.Option("--plan-type", help="PPO, EPO, POS, HMO or FFS.")],
    issuer: Annotated[
        str | None,
        typer.Option("--issuer", help="Issuer-name prefix (e.g. anthem, highmark); '*' = any. "
                                      "Default: the payers' own files, not other Blue plans' networks."),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the URLs to this file.")] = None,
) -> None:
    """One URL per distinct in-network file of STATE and PLAN TYPE, sorted (mrf.network_files)."""
    with db.connect(db.resolve_url(start=True), autocommit=True) as conn:
        rows = ingest_mod.network_files(conn, state, plan_type, issuer)
    text = "".join(f"{r['url']}\n" for r in rows)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {len(rows):,} URLs to {output}", markup=False)
    else:
        typer.echo(text, nl=False)


@mrf_app.command("runs")
@handles_errors
def runs_command(limit: Annotated[int, typer.Option(help="How many runs.")] = 10) -> None:
    """Recent ingest runs with their status (failed runs show their error)."""
    with db.connect(db.resolve_url(start=True), autocommit=True) as conn:
        for r in ingest_mod.runs(conn, limit):
            detail = r["error"] if r["status"] == "failed" else (
                f"{r['entity_name']}: {r['structures'] or 0:,} structures, {r['distinct_files'] or 0:,} files"
                if r["status"] == "succeeded" else "")
            out.print(f"{r['run_id']:>5} {r['status']:<9} {r['source']}  {detail}", markup=False)


@mrf_app.command("generate")
@handles_errors
def generate_command(
    out_path: Annotated[Path, typer.Argument(metavar="OUT", help="OUT.json or OUT.json.gz")],
    size: Annotated[str, typer.Option(help="Approximate JSON size (e.g. 200K, 50M, 5G).")] = "1M",
    style: Annotated[str, typer.Option(help="Layout: canonical, pretty, minified, spaced, shuffled, crlf, "
                                            "escaped, upper-v1, allowed.")] = "canonical",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 6,
    bulk: Annotated[int, typer.Option(help="Other Blue plans' files padding every file list.")] = 40,
) -> None:
    """Write a synthetic Anthem-shaped TOC, its EIN-lookup documents (OUT.lookup/) and OUT.truth.json."""
    from .generate import STYLES, generate

    if style not in STYLES:
        raise InvalidInput(f"unknown style {style!r}: one of {', '.join(STYLES)}")
    truth = generate(out_path, raw_bytes=parse_size(size), style=style, seed=seed, bulk=bulk)
    out.print(
        f"wrote {out_path} ({truth.structures:,} structures, {len(truth.files):,} distinct files, "
        f"{len(truth.lookup_documents)} lookup documents); NY PPO answer: {len(truth.expected('NY', 'PPO'))} files",
        markup=False,
    )
