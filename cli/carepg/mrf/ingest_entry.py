"""`carepg mrf ingest` without the rest of the CLI: the stream starts before Typer, rich and psycopg are imported.

Importing the whole command line (Typer, rich, the cluster module, psycopg) takes ~0.15 s, a fixed cost that a
1 GB index's ingest would pay before reading a byte. `carepg` hands `mrf ingest` here first (carepg/main.py):
the plain forms of the command (SOURCE with -q/--quiet, --timeout and --retries) run the same ingest as the
Typer command, with psycopg imported by the ingest's own thread while the source already streams. Anything else
(--help, a malformed or out-of-range option, a progress bar to draw) goes to the Typer command, which parses,
helps and errs as every command does; errors end the same way too (console.handles_errors, imported then).
"""

from __future__ import annotations

import atexit
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (and re) on the way in
if TYPE_CHECKING:
    from typing import NoReturn

# The options' bounds and defaults, shared with the Typer command (mrf/cli.py).
TIMEOUT_MIN, TIMEOUT_MAX, TIMEOUT_DEFAULT = 0.1, 3600, 30.0
RETRIES_MIN, RETRIES_MAX, RETRIES_DEFAULT = 0, 1000, 8

def run(argv: list[str]) -> int | None:
    """Run `carepg mrf ingest ARGV`: end the process when it succeeds, return the exit code when it fails, or
    return None to leave it to the Typer command."""
    options = _options(argv)
    if options is None:
        return None
    source, quiet, timeout, retries = options
    if not quiet and _bar_drawn():
        return None
    from .source import check_source

    try:
        check_source(source)  # a bad argument is refused before anything of the database is loaded
        from .ingest import ingest

        summary = ingest(None, source, http_options={"timeout": timeout, "retries": retries})
    except BaseException as exc:  # noqa: BLE001 - every ending goes through the CLI's one policy
        return _failed(exc)
    _leave(summary.line() + "\n")


def _leave(output: str) -> NoReturn:
    """Print the summary and end the process now: exit handlers run and output is flushed, but Python's teardown
    (freeing every module and object one by one, ~0.03 s after an ingest, all of it after the work is done) is
    skipped. Everything the ingest opened is closed by then."""
    code = 0
    try:
        sys.stdout.write(output)
        sys.stdout.flush()
    except (OSError, ValueError):  # stdout closed early (a pipe whose reader left): 1, as the Typer command ends
        code = 1
    atexit._run_exitfuncs()
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


def _options(argv: list[str]) -> tuple[str, bool, float, int] | None:
    """(source, quiet, timeout, retries) from the plain forms of the arguments; None for anything else."""
    source, quiet, timeout, retries = None, False, TIMEOUT_DEFAULT, RETRIES_DEFAULT
    args = iter(argv)
    for arg in args:
        if arg in ("-q", "--quiet"):
            quiet = True
        elif arg.partition("=")[0] in ("--timeout", "--retries"):
            name, equals, value = arg.partition("=")
            if not equals:
                value = next(args, None)
            if name == "--timeout":
                if value is None or not _decimal(value):
                    return None
                timeout = float(value)
                if not TIMEOUT_MIN <= timeout <= TIMEOUT_MAX:
                    return None
            else:
                if value is None or not _count(value):
                    return None
                retries = int(value)
                if not RETRIES_MIN <= retries <= RETRIES_MAX:
                    return None
        elif arg.startswith("-") or source is not None:
            return None
        else:
            source = arg
    if source is None:
        return None
    return source, quiet, timeout, retries


def _count(text: str) -> bool:
    """Plain ASCII digits (the forms Click reads differently, like '+5' or ' 5', go to the Typer command)."""
    return text.isascii() and text.isdigit()


def _decimal(text: str) -> bool:
    """Digits with at most one decimal point, e.g. '30', '0.5', '.5'."""
    whole, _, fraction = text.partition(".")
    return bool(whole or fraction) and all(part == "" or _count(part) for part in (whole, fraction))


def _bar_drawn() -> bool:
    """Would the Typer command draw a progress bar (rich's test for a terminal on stderr)?"""
    if "TTY_COMPATIBLE" in os.environ or "FORCE_COLOR" in os.environ:
        return True  # rich decides from these: let it
    try:
        return sys.stderr.isatty()
    except ValueError:
        return False


def _failed(exc: BaseException) -> int:
    """End as every carepg command does: one line on stderr and the documented exit code (console.py)."""
    import typer

    from ..console import handles_errors

    def reraise() -> None:
        raise exc

    try:
        handles_errors(reraise)()
    except typer.Exit as done:
        return done.exit_code
    return 0  # pragma: no cover - handles_errors always ends in typer.Exit for an exception
