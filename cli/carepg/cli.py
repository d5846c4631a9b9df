"""The `carepg` command: a thin Typer shell over the stored functions.

Every command resolves its database the same way (DATABASE_URL, else the local cluster, started on demand),
runs one or two named queries, and prints. User errors are one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Annotated, TypeVar

from psycopg.conninfo import make_conninfo
import typer
from rich.console import Console
from rich.table import Table

from . import cluster as cluster_mod
from . import db, seed as seed_mod, shifts as shifts_mod
from .errors import CarepgError, InvalidInput

app = typer.Typer(
    help="carepg: open shifts and price transparency, answered inside PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # usage errors as plain lines, not boxes
)
db_app = typer.Typer(
    help="The local PostgreSQL cluster (ignored when DATABASE_URL is set).", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(db_app, name="db")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable)


def handles_errors(fn: F) -> F:
    """Turn a CarepgError into `error: <message>` on stderr and its exit code; no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CarepgError as exc:
            err.print(f"error: {exc.message}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _connect(*, autocommit: bool = True):
    return db.connect(db.resolve_url(start=True), autocommit=autocommit)


# --- carepg db ---------------------------------------------------------------------------------------------


def _local_cluster() -> cluster_mod.Cluster:
    if db.database_url():
        err.print("note: DATABASE_URL is set, so carepg uses that server, not this local cluster", markup=False)
    return cluster_mod.Cluster()


@db_app.command("up")
@handles_errors
def db_up() -> None:
    """Start the local cluster (initialising it on first use); fast when it is already up."""
    local = _local_cluster()
    status = local.up()
    db.ensure_database(local)
    out.print("\n".join(status.lines()), markup=False)
    out.print(f"url:     {local.url()}", markup=False)


@db_app.command("down")
@handles_errors
def db_down(
    purge: Annotated[bool, typer.Option("--purge", help="Also delete the cluster's files.")] = False,
) -> None:
    """Stop the local cluster."""
    local = _local_cluster()
    if purge:
        local.destroy()
        out.print(f"stopped and deleted {local.root}", markup=False)
        return
    out.print("stopped" if local.down() else "not running", markup=False)


@db_app.command("status")
@handles_errors
def db_status() -> None:
    """Where the local cluster is and whether it runs (exit code 1 when it is stopped)."""
    local = _local_cluster()
    status = local.status()
    out.print("\n".join(status.lines()), markup=False)
    if not status.running:
        raise typer.Exit(1)


@db_app.command("url")
@handles_errors
def db_url() -> None:
    """Print the connection URL carepg uses (DATABASE_URL when set)."""
    out.print(db.database_url() or cluster_mod.Cluster().url(), markup=False)


# --- schema and data ---------------------------------------------------------------------------------------


@app.command()
@handles_errors
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision (default: the newest).")] = "head",
    down: Annotated[bool, typer.Option("--down", help="Downgrade to REVISION instead (`base` = nothing).")] = False,
) -> None:
    """Apply carepg's migrations (same as `alembic upgrade head`)."""
    from . import migrations  # Alembic and SQLAlchemy cost ~0.3 s and ~30 MB: only load them when needed

    url = db.resolve_url(start=True)
    if down:
        migrations.downgrade(url, revision)
    else:
        migrations.upgrade(url, revision)
    out.print(f"database at revision {migrations.current(url) or 'base'}", markup=False)


@app.command()
@handles_errors
def seed(
    profile: Annotated[str, typer.Option(help="Data set to generate: challenge or large.")] = "challenge",
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same data.")] = (
        seed_mod.DEFAULT_SEED
    ),
    shifts: Annotated[
        int | None, typer.Option(help="Number of shifts (default: 2,000,000 for challenge, 20,000,000 for large).")
    ] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Delete existing challenge data first.")] = False,
) -> None:
    """Generate a data set inside Postgres (refuses a non-empty database unless --reset)."""
    with _connect() as conn:
        workers, seconds = seed_mod.seed(conn, profile=profile, shifts=shifts, seed=seed, reset=reset)
    count = seed_mod.PROFILES[profile][1] if shifts is None else shifts
    out.print(f"seeded profile {profile} ({count:,} shifts, seed {seed}) in {seconds:.1f} s", markup=False)
    for profession, worker_id in workers:
        out.print(f"{profession} worker ID: {worker_id}", markup=False)


@app.command()
@handles_errors
def refresh(
    concurrently: Annotated[
        bool, typer.Option("--concurrently/--blocking", help="CONCURRENTLY never blocks readers.")
    ] = True,
    every: Annotated[
        float | None, typer.Option("--every", help="Keep refreshing every SECONDS until Ctrl-C or SIGTERM.")
    ] = None,
    schedule: Annotated[
        str | None, typer.Option("--schedule", help="Install a pg_cron job instead, e.g. '*/5 * * * *'.")
    ] = None,
    unschedule: Annotated[bool, typer.Option("--unschedule", help="Remove the pg_cron job.")] = False,
) -> None:
    """Fold recent eligibility changes into the view (answers are exact either way; this is housekeeping)."""
    if sum(x is not None and x is not False for x in (every, schedule, unschedule or None)) > 1:
        raise InvalidInput("choose one of --every, --schedule and --unschedule")
    with _connect() as conn:
        if schedule is not None:
            job = shifts_mod.schedule_refresh(conn, schedule)
            out.print(f"pg_cron job {job} refreshes shifts.eligible_pair on '{schedule}'", markup=False)
        elif unschedule:
            removed = shifts_mod.unschedule_refresh(conn)
            out.print("pg_cron job removed" if removed else "no pg_cron job to remove", markup=False)
        elif every is not None:
            if every <= 0:
                raise InvalidInput(f"invalid --every {every}: it must be a positive number of seconds")
            _refresh_loop(conn, every, concurrently)
        else:
            began = time.perf_counter()
            shifts_mod.refresh(conn, concurrently=concurrently)
            out.print(f"refreshed shifts.eligible_pair in {time.perf_counter() - began:.2f} s", markup=False)


def _refresh_loop(conn, seconds: float, concurrently: bool) -> None:
    """Refresh on a fixed cadence, one log line per run; a failed run is logged and retried next time."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    err.print(f"refreshing every {seconds:g} s (Ctrl-C or SIGTERM stops)", markup=False)
    try:
        while not stop.is_set():
            began = time.perf_counter()
            stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            try:
                if conn.closed:
                    conn = _connect()
                shifts_mod.refresh(conn, concurrently=concurrently)
                err.print(f"{stamp} refreshed in {time.perf_counter() - began:.3f} s", markup=False)
            except CarepgError as exc:
                err.print(f"{stamp} refresh failed: {exc.message}", markup=False)
                conn.close()
            stop.wait(max(0.0, seconds - (time.perf_counter() - began)))
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        conn.close()
    err.print("stopped", markup=False)


# --- the question ------------------------------------------------------------------------------------------


def _end_time(start, end) -> str:
    days = (end.date() - start.date()).days
    return end.time().isoformat(timespec="milliseconds") + (f" +{days}d" if days else "")


def _shift_table(page: shifts_mod.Page) -> Table:
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column, justify in (("shift", "right"), ("start", "left"), ("end", "left"), ("profession", "left"),
                            ("facility", "left")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for s in page.shifts:
        table.add_row(
            str(s["shift_id"]),
            s["start"].isoformat(sep=" ", timespec="milliseconds"),
            _end_time(s["start"], s["end"]),
            s["profession"],
            f"{s['facility_id']} {s['facility_name'][:12]}",
        )
    return table


@app.command("shifts")
@handles_errors
def shifts_command(
    worker_id: Annotated[int, typer.Argument(help="The worker's id.")],
    start_from: Annotated[
        str | None, typer.Option("--from", help="Only shifts starting at or after this (ISO date or date-time).")
    ] = None,
    start_to: Annotated[str | None, typer.Option("--to", help="Only shifts starting before this.")] = None,
    limit: Annotated[int, typer.Option(help="Shifts per page (1-1000).")] = 20,
    after: Annotated[str | None, typer.Option("--after", help="Cursor printed by the previous page.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Available shifts for a worker, one page at a time, ordered by start."""
    window = {
        "start_from": shifts_mod.parse_timestamp(start_from, "--from"),
        "start_to": shifts_mod.parse_timestamp(start_to, "--to"),
    }
    with _connect() as conn:
        page = shifts_mod.page(conn, worker_id, limit=limit, after=after, **window)
    if as_json:
        out.print(json.dumps(page.as_json(), indent=2), markup=False)
        return
    if not page.shifts:
        out.print(f"no available shifts for worker {worker_id}", markup=False)
        return
    out.print(_shift_table(page))
    if page.next_cursor:
        out.print(f"next page: --after {page.next_cursor}", markup=False)


@app.command()
@handles_errors
def demo(
    limit: Annotated[int, typer.Option(help="Shifts shown per worker.")] = 5,
    shifts: Annotated[int, typer.Option(help="Shifts to seed when the database is empty.")] = (
        seed_mod.CHALLENGE_SHIFTS
    ),
) -> None:
    """Local cluster up, migrate, seed if empty, refresh, then each deterministic worker's shifts."""
    from . import migrations

    url = db.resolve_url(start=True)
    out.print(f"database: {url}", markup=False)
    migrations.upgrade(url)
    with db.connect(url, autocommit=True) as conn:
        if shifts_mod.row_counts(conn)["workers"] == 0:
            out.print(f"seeding the challenge data set ({shifts:,} shifts)...", markup=False)
            _, seconds = seed_mod.seed(conn, shifts=shifts)  # ends with a refresh of its own
            out.print(f"seeded in {seconds:.1f} s", markup=False)
        else:  # answers are exact either way; this only folds recent changes into the view
            shifts_mod.refresh(conn, concurrently=True)
        workers = shifts_mod.deterministic_workers(conn)
        if not workers:
            raise InvalidInput("no deterministic workers in this database: run `carepg seed --reset` to create them")
        for worker in workers:
            total = shifts_mod.count(conn, worker["id"])
            page = shifts_mod.page(conn, worker["id"], limit=limit)
            out.print(
                f"\n{worker['profession']} worker ID: {worker['id']} - {total:,} available shifts; first {limit}:",
                markup=False,
            )
            out.print(_shift_table(page))


# --- the HTTP API ------------------------------------------------------------------------------------------

API_ROLE = "carepg_api"  # made by sql/migrations/0010_api_role.sql


def api_database_url(role: str) -> str:
    """The URL `serve` hands the app: CAREPG_WEB_DATABASE_URL as it is, else carepg's URL logged in as `role`."""
    explicit = os.environ.get("CAREPG_WEB_DATABASE_URL")
    if explicit:
        return explicit
    url = db.resolve_url(start=True)
    return make_conninfo(url, user=role) if role else url


@app.command()
@handles_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (keep 127.0.0.1 unless a proxy is in front).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    threads: Annotated[int, typer.Option(min=1, help="Threads per worker (and pooled connections per worker).")] = 4,
    role: Annotated[
        str, typer.Option("--role", help="Database role to log in as ('' = the URL's own user).")
    ] = API_ROLE,
) -> None:
    """Serve the HTTP API and the calendar page (carepg.web:app) with granian, connecting as the API role."""
    from granian import Granian
    from granian.constants import Interfaces

    from .web import logs, pool as web_pool

    log = logs.setup()  # stderr carries JSON lines only, from here on
    url = api_database_url(role)
    try:  # say early what is wrong; the app still starts, answers 503 and recovers once the database is back
        with db.connect(url) as conn, db.translated_errors():
            conn.execute(shifts_mod.QUERIES["healthz"]).fetchone()
    except CarepgError as exc:
        log.warning("database not usable yet", extra={"fields": {"event": "startup", "detail": exc.message}})
    os.environ["CAREPG_WEB_DATABASE_URL"] = url
    os.environ["CAREPG_WEB_POOL_SIZE"] = str(threads)
    web_pool.Settings.from_env()  # a bad CAREPG_WEB_* setting stops us here, not on every request
    log.info(
        f"serving http://{host}:{port}/",
        extra={"fields": {"event": "startup", "workers": workers, "threads": threads, "role": role or None}},
    )
    json_logs = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "carepg.web.logs.JsonLines"}},
        "handlers": {"stderr": {"formatter": "json", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
        "loggers": {"_granian": {"handlers": ["stderr"], "level": "INFO", "propagate": False}},
    }
    Granian(
        "carepg.web:app",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        log_dictconfig=json_logs,
    ).serve()


# --- price transparency -------------------------------------------------------------------------------------

from .mrf.cli import mrf_app  # noqa: E402  (after handles_errors, which it uses)

app.add_typer(mrf_app, name="mrf")


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
