"""The `carepg` command: a thin Typer shell over the stored functions.

Every command resolves its database the same way (DATABASE_URL, else the local cluster, started on demand),
runs one or two named queries, and prints. User errors are one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Annotated

import typer

from . import cluster, db, seed, shifts
from .console import handles_errors, out, say, warn
from .errors import CarepgError, Conflict, InvalidInput, NotFound, ServerUnavailable, Unsupported
from .mrf.cli import mrf_app

if TYPE_CHECKING:
    from rich.table import Table

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


def _connect(*, autocommit: bool = True):
    return db.connect(db.resolve_url(start=True), autocommit=autocommit)


# --- carepg db ---------------------------------------------------------------------------------------------


def _local_cluster() -> cluster.Cluster:
    if db.database_url():
        warn("note: DATABASE_URL is set, so carepg uses that server, not this local cluster")
    return cluster.Cluster()


@db_app.command("up")
@handles_errors
def db_up() -> None:
    """Start the local cluster (initialising it on first use); fast when it is already up."""
    local = _local_cluster()
    status = local.up()
    db.ensure_database(local)
    say("\n".join(status.lines()))
    say(f"url:     {local.url()}")


@db_app.command("down")
@handles_errors
def db_down(
    purge: Annotated[bool, typer.Option("--purge", help="Also delete the cluster's files.")] = False,
) -> None:
    """Stop the local cluster."""
    local = _local_cluster()
    if purge:
        local.destroy()
        say(f"stopped and deleted {local.root}")
        return
    say("stopped" if local.down() else "not running")


@db_app.command("status")
@handles_errors
def db_status() -> None:
    """Where the local cluster is and whether it runs (exit code 10, "database unavailable", when it is stopped)."""
    local = _local_cluster()
    status = local.status()
    say("\n".join(status.lines()))
    if not status.running:
        raise typer.Exit(ServerUnavailable.exit_code)


@db_app.command("url")
@handles_errors
def db_url() -> None:
    """Print the connection URL carepg uses (DATABASE_URL when set, its password masked)."""
    say(db.shown_url(db.database_url() or cluster.Cluster().url()))


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
    say(f"database at revision {migrations.current(url) or 'base'}")


@app.command("seed")
@handles_errors
def seed_command(
    profile: Annotated[str, typer.Option(help="Data set to generate: challenge or large.")] = "challenge",
    random_seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same data.")] = (
        seed.DEFAULT_SEED
    ),
    shift_count: Annotated[
        int | None,
        typer.Option("--shifts", help="Number of shifts (default: 2,000,000 for challenge, 20,000,000 for large)."),
    ] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Delete existing challenge data first.")] = False,
) -> None:
    """Generate a data set inside Postgres (refuses a non-empty database unless --reset)."""
    with _connect() as conn:
        workers, seconds = seed.seed(conn, profile=profile, shifts=shift_count, seed=random_seed, reset=reset)
    count = seed.PROFILES[profile][1] if shift_count is None else shift_count
    say(f"seeded profile {profile} ({count:,} shifts, seed {random_seed}) in {seconds:.1f} s")
    for profession, worker_id in workers:
        say(f"{profession} worker ID: {worker_id}")


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
    if every is not None and not (math.isfinite(every) and 0 < every <= MAX_EVERY):
        raise InvalidInput(f"invalid --every {every}: give a number of seconds from 0.001 to {MAX_EVERY:,}")
    with _connect() as conn:
        if schedule is not None:
            try:
                job = shifts.schedule_refresh(conn, schedule)
            except Unsupported as exc:  # the SQL hint speaks SQL; here the CLI's own way out fits better
                raise Unsupported(f"{exc.message}; or run `carepg refresh --every SECONDS`") from None
            say(f"pg_cron job {job} refreshes the eligibility view on '{schedule}'")
        elif unschedule:
            removed = shifts.unschedule_refresh(conn)
            say("pg_cron job removed" if removed else "no pg_cron job to remove")
        elif every is not None:
            _refresh_loop(conn, max(every, 0.001), concurrently)
        else:
            began = time.perf_counter()
            shifts.refresh(conn, concurrently=concurrently)
            say(f"refreshed the eligibility view in {time.perf_counter() - began:.2f} s")


MAX_EVERY = 86_400 * 7  # a week; a longer cadence belongs to a scheduler


def _refresh_loop(conn, seconds: float, concurrently: bool) -> None:
    """Refresh on a fixed cadence, one log line per run; a failed run is logged and retried next time."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    warn(f"refreshing every {seconds:g} s (Ctrl-C or SIGTERM stops)")
    try:
        while not stop.is_set():
            began = time.perf_counter()
            stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            try:
                if conn.closed:
                    conn = _connect()
                shifts.refresh(conn, concurrently=concurrently)
                warn(f"{stamp} refreshed in {time.perf_counter() - began:.3f} s")
            except CarepgError as exc:
                warn(f"{stamp} refresh failed: {exc.message}")
                conn.close()
            stop.wait(max(0.0, seconds - (time.perf_counter() - began)))
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        conn.close()
    warn("stopped")


# --- the question ------------------------------------------------------------------------------------------


def _end_time(start, end) -> str:
    days = (end.date() - start.date()).days
    return end.time().isoformat(timespec="milliseconds") + (f" +{days}d" if days else "")


def _shift_table(page: shifts.Page) -> Table:
    from rich.table import Table  # only commands that print a table pay for importing it

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


INT32_MAX = 2**31 - 1
_WORKER = typer.Argument(min=1, max=INT32_MAX, metavar="WORKER", help="The worker's id.")


# The options of the two paged listings, `shifts` and `claims`.
_From = Annotated[
    str | None, typer.Option("--from", help="Only shifts starting at or after this (ISO date or date-time).")
]
_To = Annotated[str | None, typer.Option("--to", help="Only shifts starting before this.")]
_Limit = Annotated[int, typer.Option(help="Shifts per page (1-1000).")]
_After = Annotated[str | None, typer.Option("--after", help="Cursor printed by the previous page.")]
_AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _print_page(page: shifts.Page, as_json: bool, empty: str) -> None:
    if as_json:
        say(json.dumps(page.as_json(), indent=2))
        return
    if not page.shifts:
        say(empty)
        return
    out.print(_shift_table(page))
    if page.next_cursor:
        say(f"next page: --after {page.next_cursor}")


@app.command("shifts")
@handles_errors
def shifts_command(
    worker_id: Annotated[int, _WORKER],
    start_from: _From = None,
    start_to: _To = None,
    limit: _Limit = 20,
    after: _After = None,
    as_json: _AsJson = False,
) -> None:
    """Available shifts for a worker, one page at a time, ordered by start."""
    window = shifts.parse_window(start_from, start_to, ("--from", "--to"))
    with _connect() as conn:
        page = shifts.page(conn, worker_id, limit=limit, after=after, **window)
    _print_page(page, as_json, f"no available shifts for worker {worker_id}")


def _shift_line(s: dict) -> str:
    return (f"{s['start'].isoformat(sep=' ', timespec='minutes')}-{_end_time(s['start'], s['end'])[:5]} "
            f"{s['profession']} at facility {s['facility_id']} {s['facility_name'][:12]}")  # fmt: skip


def _in_cli_terms(exc: CarepgError, worker_id: int) -> CarepgError:
    """The write path's SQL hints, said as the commands that do the same."""
    hint = {"taken": f"`carepg shifts {worker_id}` lists the shifts worker {worker_id} may take",
            "overlap": f"`carepg claims {worker_id}` lists the shifts worker {worker_id} holds; `carepg release` "
                       "gives one back"}.get(exc.reason or "")  # fmt: skip
    if hint is None and isinstance(exc, NotFound) and exc.hint:
        hint = f"`carepg claims {worker_id}` lists the shifts worker {worker_id} holds"
    if hint is None:
        return exc
    primary = exc.message.removesuffix(f" ({exc.hint})") if exc.hint else exc.message
    translated = type(exc)(f"{primary} ({hint})")
    translated.sqlstate, translated.reason = exc.sqlstate, exc.reason
    return translated


@app.command("claim")
@handles_errors
def claim_command(
    worker_id: Annotated[int, _WORKER],
    shift_id: Annotated[int, typer.Argument(min=1, max=INT32_MAX, metavar="SHIFT", help="The shift to take.")],
) -> None:
    """Claim a shift for a worker, by the same rules `carepg shifts` answers with (safe to repeat)."""
    with _connect() as conn:
        try:
            result = shifts.claim(conn, worker_id, shift_id)
        except CarepgError as exc:
            raise _in_cli_terms(exc, worker_id) from None
    done = "claimed" if result.newly_claimed else "already holds"
    say(f"worker {worker_id} {done} shift {shift_id}: {_shift_line(result.shift)}")


@app.command("release")
@handles_errors
def release_command(
    worker_id: Annotated[int, _WORKER],
    shift_id: Annotated[int, typer.Argument(min=1, max=INT32_MAX, metavar="SHIFT", help="A shift the worker holds.")],
) -> None:
    """Give back a shift the worker holds; it is open to others again at once."""
    with _connect() as conn:
        try:
            shifts.release(conn, worker_id, shift_id)
        except CarepgError as exc:
            raise _in_cli_terms(exc, worker_id) from None
    say(f"worker {worker_id} released shift {shift_id}")


@app.command("claims")
@handles_errors
def claims_command(
    worker_id: Annotated[int, _WORKER],
    start_from: _From = None,
    start_to: _To = None,
    limit: _Limit = 20,
    after: _After = None,
    as_json: _AsJson = False,
) -> None:
    """The shifts a worker holds, one page at a time, ordered by start."""
    window = shifts.parse_window(start_from, start_to, ("--from", "--to"))
    with _connect() as conn:
        page = shifts.claims_page(conn, worker_id, limit=limit, after=after, **window)
    _print_page(page, as_json, f"worker {worker_id} holds no shifts"
                + (" in this window" if start_from or start_to or after else ""))


@app.command()
@handles_errors
def demo(
    limit: Annotated[int, typer.Option(help="Shifts shown per worker.")] = 5,
    shift_count: Annotated[int, typer.Option("--shifts", help="Shifts to seed when the database is empty.")] = (
        seed.CHALLENGE_SHIFTS
    ),
) -> None:
    """Local cluster up, migrate, seed if empty, refresh, then each deterministic worker's shifts."""
    from . import migrations

    url = db.resolve_url(start=True)
    say(f"database: {db.shown_url(url)}")
    migrations.upgrade(url)
    with db.connect(url, autocommit=True) as conn:
        if shifts.row_counts(conn)["workers"] == 0:
            say(f"seeding the challenge data set ({shift_count:,} shifts)...")
            try:
                _, seconds = seed.seed(conn, shifts=shift_count)  # ends with a refresh of its own
                say(f"seeded in {seconds:.1f} s")
            except Conflict:  # another `carepg demo` seeded it meanwhile: use its data
                say("another carepg seeded the database meanwhile; using its data")
        else:  # answers are exact either way; this only folds recent changes into the view
            shifts.refresh(conn, concurrently=True)
        workers = shifts.deterministic_workers(conn)
        if not workers:
            raise InvalidInput("no deterministic workers in this database: run `carepg seed --reset` to create them")
        for worker in workers:
            total = shifts.count(conn, worker["id"])
            page = shifts.page(conn, worker["id"], limit=limit)
            say(f"\n{worker['profession']} worker ID: {worker['id']} - {total:,} available shifts; first {limit}:")
            out.print(_shift_table(page))


# --- the HTTP API ------------------------------------------------------------------------------------------


@app.command()
@handles_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (keep 127.0.0.1 unless a proxy is in front).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    threads: Annotated[int, typer.Option(min=1, help="Threads per worker (and pooled connections per worker).")] = 4,
    role: Annotated[
        str, typer.Option("--role", help="Database role to log in as ('' = the URL's own user).")
    ] = "carepg_api",
) -> None:
    """Serve the HTTP API and the calendar page (carepg.web:app) with granian, connecting as the API role."""
    from .web import server

    server.serve(host=host, port=port, workers=workers, threads=threads, role=role)


from .token_command import token as token_command  # noqa: E402  (PyJWT is imported when it runs)

app.command("token")(token_command)
app.add_typer(mrf_app, name="mrf")


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
