"""The `carepg` command: a thin Typer shell over the stored functions.

Every command resolves its database the same way (DATABASE_URL, else the local cluster, started on demand),
runs one or two named queries, and prints. Its arguments are checked as Click reads them (args.py, through each
parameter's `parser`), so a bad one is refused before the command does anything; user errors are one line on
stderr and a non-zero exit code (errors.py). Each command imports what it needs when it runs: `--help` loads
neither psycopg nor Alembic nor Rich. `carepg shifts` usually does not come here at all (main.py).
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Annotated

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError  # Typer's own copy of Click (pinned < 0.29)
from typer.core import TyperGroup

from . import args, seed
from .console import error_line, handles_errors, say, warn
from .errors import CarepgError, InvalidInput, ServerUnavailable
from .main import main  # noqa: F401  (the entry point; scripts import it from here)
from .mrf.cli import mrf_app


class CommandGroup(TyperGroup):
    """carepg's commands: Click's own usage errors (unknown option, missing argument, extra argument) are bad
    arguments like any other, one line and exit code 7 (errors.py); so is an InvalidInput raised by a parameter's
    parser. A group given no command prints its help."""

    def main(self, *a, standalone_mode: bool = True, **kw):  # type: ignore[override]
        try:
            result = super().main(*a, standalone_mode=False, **kw)
            code = result if isinstance(result, int) else 0
        except NoArgsIsHelpError as exc:
            say(exc.format_message())
            code = 0
        except ClickException as exc:
            message = exc.format_message().rstrip(".")  # Click's "No such option: --x", said our way
            message = message[:1].lower() + message[1:] if message[1:2].islower() else message
            where = f" (see `{exc.ctx.command_path} --help`)" if getattr(exc, "ctx", None) is not None else ""
            warn(error_line(message + where))
            code = InvalidInput.exit_code
        except CarepgError as exc:
            warn(error_line(exc.message))
            code = exc.exit_code
        except typer.Abort:
            warn("aborted")
            code = 1
        if standalone_mode:
            sys.exit(code)
        return code


def _group(help_text: str) -> typer.Typer:
    return typer.Typer(help=help_text, cls=CommandGroup, no_args_is_help=True, add_completion=False,
                       pretty_exceptions_enable=False, rich_markup_mode=None)  # fmt: skip


app = _group("carepg: open shifts and price transparency, answered inside PostgreSQL.")
db_app = _group("The local PostgreSQL cluster (ignored when DATABASE_URL is set).")
app.add_typer(db_app, name="db")


def _connect(*, autocommit: bool = True):
    from . import db

    return db.connect(db.resolve_url(start=True), autocommit=autocommit)


# --- carepg db ---------------------------------------------------------------------------------------------


def _local_cluster():
    from . import cluster, db

    if db.database_url():
        warn("note: DATABASE_URL is set, so carepg uses that server, not this local cluster")
    return cluster.Cluster()


@db_app.command("up")
@handles_errors(revision=False)
def db_up() -> None:
    """Start the local cluster (initialising it on first use); fast when it is already up."""
    from . import db

    local = _local_cluster()
    status = local.up()
    db.ensure_database(local)
    say("\n".join(status.lines()))
    say(f"url:     {local.url()}")


@db_app.command("down")
@handles_errors(revision=False)
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
@handles_errors(revision=False)
def db_status() -> None:
    """Where the local cluster is and whether it runs (exit code 10, "database unavailable", when it is stopped)."""
    local = _local_cluster()
    status = local.status()
    say("\n".join(status.lines()))
    if not status.running:
        raise typer.Exit(ServerUnavailable.exit_code)


@db_app.command("url")
@handles_errors(revision=False)
def db_url() -> None:
    """Print the connection URL carepg uses (DATABASE_URL when set, its password masked)."""
    from . import cluster, db

    say(db.shown_url(db.database_url() or cluster.Cluster().url()))


# --- schema and data ---------------------------------------------------------------------------------------


def _revision(raw: str) -> str:
    from . import migrations

    return migrations.check_target(raw)


@app.command()
@handles_errors(revision=False)
def migrate(
    revision: Annotated[str, typer.Argument(parser=_revision, metavar="REVISION",
                                            help="Target revision (default: the newest).")] = "head",
    down: Annotated[bool, typer.Option("--down", help="Downgrade to REVISION instead (`base` = nothing).")] = False,
) -> None:
    """Apply carepg's migrations (same as `alembic upgrade head`)."""
    from . import db, migrations

    url = db.resolve_url(start=True)
    if down:
        migrations.downgrade(url, revision)
    else:
        migrations.upgrade(url, revision)
    say(f"database at revision {migrations.current(url) or 'base'}")


@app.command("seed")
@handles_errors
def seed_command(
    profile: Annotated[str, typer.Option(parser=seed.check_profile, metavar="PROFILE",
                                         help="Data set to generate: challenge or large.")] = "challenge",  # fmt: skip
    random_seed: Annotated[int, typer.Option("--seed", parser=seed.check_seed, metavar="N",
                                             help="Random seed; the same seed gives the same data.")] = (  # fmt: skip
        seed.DEFAULT_SEED
    ),
    shift_count: Annotated[
        int | None,
        typer.Option("--shifts", parser=seed.check_shifts, metavar="N",
                     help="Number of shifts (default: 2,000,000 for challenge, 20,000,000 for large)."),  # fmt: skip
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


MAX_EVERY = 86_400 * 7  # a week; a longer cadence belongs to a scheduler


@app.command()
@handles_errors
def refresh(
    concurrently: Annotated[
        bool, typer.Option("--concurrently/--blocking", help="CONCURRENTLY never blocks readers.")
    ] = True,
    every: Annotated[
        float | None,
        typer.Option("--every", parser=partial(args.seconds, what="--every", low=0.001, high=MAX_EVERY),
                     metavar="SECONDS",
                     help="Keep refreshing every SECONDS until Ctrl-C or SIGTERM."),  # fmt: skip
    ] = None,
    schedule: Annotated[
        str | None, typer.Option("--schedule", parser=args.cron_schedule, metavar="CRON",
                                 help="Install a pg_cron job instead, e.g. '*/5 * * * *'.")  # fmt: skip
    ] = None,
    unschedule: Annotated[bool, typer.Option("--unschedule", help="Remove the pg_cron job.")] = False,
) -> None:
    """Fold recent eligibility changes into the view (answers are exact either way; this is housekeeping)."""
    import time

    from . import shifts
    from .errors import Unsupported

    if sum(x is not None and x is not False for x in (every, schedule, unschedule or None)) > 1:
        raise InvalidInput("choose one of --every, --schedule and --unschedule")
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
            _refresh_loop(conn, every, concurrently)
        else:
            began = time.perf_counter()
            shifts.refresh(conn, concurrently=concurrently)
            say(f"refreshed the eligibility view in {time.perf_counter() - began:.2f} s")


def _refresh_loop(conn, seconds: float, concurrently: bool) -> None:
    """Refresh on a fixed cadence, one log line per run; a failed run is logged and retried next time."""
    import datetime as dt
    import signal
    import threading
    import time

    from . import shifts

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

_WORKER = typer.Argument(parser=args.worker_id, metavar="WORKER", help="The worker's id (1-2147483647).")

# The options of the two paged listings, `shifts` and `claims`; main.py reads the same ones for `shifts`.
_From = Annotated[str | None, typer.Option("--from", help="Only shifts starting at or after this (ISO date or "
                                                          "date-time, or now).")]  # fmt: skip
_To = Annotated[str | None, typer.Option("--to", help="Only shifts starting before this.")]
_Limit = Annotated[int, typer.Option(parser=args.limit, metavar="N", help="Shifts per page (1-1000).")]
_After = Annotated[str | None, typer.Option("--after", parser=args.page_cursor, metavar="CURSOR",
                                            help="Cursor printed by the previous page.")]  # fmt: skip
_AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command("shifts")
@handles_errors
def shifts_command(
    worker_id: Annotated[int, _WORKER],
    start_from: _From = None,
    start_to: _To = None,
    limit: _Limit = args.CLI_PAGE,
    after: _After = None,
    as_json: _AsJson = False,
) -> None:
    """Available shifts for a worker, one page at a time, ordered by start."""
    from . import pages

    window = args.window(start_from, start_to, ("--from", "--to"))
    pages.available(worker_id, limit=limit, after=after, as_json=as_json, **window)


def _shift_line(row: dict) -> str:
    from .pages import end_time
    from .shifts import shift_json

    s = shift_json(row)
    return (f"{s['start'].replace('T', ' ')[:16]}-{end_time(s['start'], s['end'])[:5]} "
            f"{s['profession']} at facility {s['facility']['id']} {s['facility']['name'][:12]}")  # fmt: skip


def _in_cli_terms(exc: CarepgError, worker_id: int) -> CarepgError:
    """The write path's SQL hints, said as the commands that do the same."""
    from .errors import NotFound

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
    shift_id: Annotated[int, typer.Argument(parser=args.shift_id, metavar="SHIFT", help="The shift to take.")],
) -> None:
    """Claim a shift for a worker, by the same rules `carepg shifts` answers with (safe to repeat)."""
    from . import shifts

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
    shift_id: Annotated[int, typer.Argument(parser=args.shift_id, metavar="SHIFT", help="A shift the worker holds.")],
) -> None:
    """Give back a shift the worker holds; it is open to others again at once."""
    from . import shifts

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
    limit: _Limit = args.CLI_PAGE,
    after: _After = None,
    as_json: _AsJson = False,
) -> None:
    """The shifts a worker holds, one page at a time, ordered by start."""
    from . import pages, shifts

    window = args.window(start_from, start_to, ("--from", "--to"))
    with _connect() as conn:
        page = shifts.claims_page(conn, worker_id, limit=limit, after=after, **window)
    pages.print_page(page.as_json(), as_json, f"worker {worker_id} holds no shifts"
                     + (" in this window" if start_from or start_to or after else ""))  # fmt: skip


WATCH_POLL = 0.5  # seconds between probes of the feed when nobody wakes us (carepg serve's relay NOTIFYs)


@app.command("watch")
@handles_errors
def watch_command(
    worker_id: Annotated[int, _WORKER],
    start_from: _From = None,
    start_to: _To = None,
    as_json: _AsJson = False,
) -> None:
    """Print each change to the worker's available shifts as it commits, until Ctrl-C or SIGTERM."""
    import json
    import signal
    import threading

    from . import db, shifts

    window = args.window(start_from, start_to, ("--from", "--to"))
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with _connect() as conn, db.translated_errors():
            conn.execute("LISTEN carepg_shift_changes")
            _, cursor = shifts.changes(conn, worker_id, None, **window)  # an unknown worker is refused here
            warn(f"watching worker {worker_id}'s available shifts (Ctrl-C stops); `carepg shifts {worker_id}` "
                 "lists them now")  # fmt: skip
            while not stop.is_set():
                if shifts.changed_since(conn, cursor):
                    events, cursor = shifts.changes(conn, worker_id, cursor, **window)
                    for event in events:
                        say(json.dumps(_event_json(event)) if as_json else _event_line(worker_id, event))
                for _ in conn.notifies(timeout=WATCH_POLL, stop_after=1):
                    pass  # woken early: look now
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    warn("stopped")


def _event_json(event: dict) -> dict:
    from .shifts import shift_json

    if event["change"] != "available":
        return {"event": event["change"], **({"shift_id": event["shift_id"]} if event["shift_id"] else {})}
    shift = shift_json(event)
    return {"event": "available", "shift_id": shift.pop("id"), **shift}


def _event_line(worker_id: int, event: dict) -> str:
    if event["change"] == "available":
        return f"available    shift {event['shift_id']}: {_shift_line(event)}"
    if event["change"] == "unavailable":
        return f"unavailable  shift {event['shift_id']}"
    return f"reset        too much changed to list: `carepg shifts {worker_id}` shows what is available now"


@app.command()
@handles_errors(revision=False)
def demo(
    limit: Annotated[int, typer.Option(parser=args.limit, metavar="N", help="Shifts shown per worker (1-1000).")] = 5,
    shift_count: Annotated[int, typer.Option("--shifts", parser=seed.check_shifts, metavar="N",
                                             help="Shifts to seed when the database is empty.")] = (  # fmt: skip
        seed.CHALLENGE_SHIFTS
    ),
) -> None:
    """Local cluster up, migrate, seed if empty, refresh, then each deterministic worker's shifts."""
    from . import db, migrations, pages, shifts
    from .errors import Conflict

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
            pages.print_table(page.as_json()["shifts"])


# --- the HTTP API ------------------------------------------------------------------------------------------


@app.command()
@handles_errors(revision=False)  # serve checks the revision itself, as carepg's own role (web/server.py)
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (keep 127.0.0.1 unless a proxy is in front).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(parser=partial(args.port, what="--port"), metavar="PORT",
                                      help="TCP port (1-65535).")] = 8000,  # fmt: skip
    workers: Annotated[int, typer.Option(parser=partial(args.integer, what="--workers", low=1, high=512),
                                         metavar="N", help="Worker processes (1-512).")] = 1,  # fmt: skip
    threads: Annotated[int, typer.Option(parser=partial(args.integer, what="--threads", low=1, high=512),
                                         metavar="N",  # fmt: skip
                                         help="Threads per worker (and pooled connections per worker; 1-512).")] = 4,
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
