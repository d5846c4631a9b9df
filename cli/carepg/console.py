"""What every command shares: where it prints, and how an error ends it.

A `CarepgError` becomes `error: <message>` on stderr and its exit code (errors.py); Ctrl-C and SIGTERM end a
command with one line and 130 / 143; anything else is a bug: one line that says so and exit code 1, with the
traceback only when CAREPG_DEBUG is set (never in front of a user who can do nothing with it).

Output is plain text written as it is: no markup, no emoji codes, no wrapping. Rich is loaded only for what
needs it (the ingest's progress bar: `err`), Typer only by the Typer app.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .errors import EXIT_BUG, EXIT_INTERRUPTED, EXIT_TERMINATED, CarepgError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on every command's start
if TYPE_CHECKING:
    from typing import Any, TypeVar

    from rich.console import Console

    F = TypeVar("F", bound=Callable)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that cleanup (`finally`, recording a failed run) happens."""


def say(text: str) -> None:
    sys.stdout.write(text + "\n")


def warn(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def error_line(message: str) -> str:
    """`error: <message>` as one line, whatever the message holds (line breaks of any kind become spaces)."""
    return "error: " + " ".join(message.splitlines())


def __getattr__(name: str) -> Console:
    if name == "err":  # rich's console on stderr, for progress bars (`from carepg.console import err`)
        from rich.console import Console

        console = Console(stderr=True, highlight=False, soft_wrap=True)
        globals()["err"] = console
        return console
    raise AttributeError(name)


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """While a command runs, SIGTERM unwinds it like Ctrl-C does, instead of killing it mid-write."""

    def terminate(signum, frame):  # noqa: ARG001
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread (e.g. a test runner's worker): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(fn: Callable[..., Any], kwargs: dict[str, Any], *, database: bool = True, revision: bool = True,
        passthrough: tuple[type[BaseException], ...] = ()) -> int:  # fmt: skip
    """Run a command's body, fn(**kwargs), so that whatever happens ends in one line on stderr and a documented
    exit code; return that code (0: done).

    database: the command uses a database, so the settings that say which (DATABASE_URL's syntax, CAREPG_PORT)
    are checked first, with its arguments (errors.py, "the argument policy"). revision: and it works on carepg's
    schema, so its first connection checks that the database is at this code's revision (db.expect_revision).
    passthrough: exceptions that are not errors but the framework's own ways out (Typer's Exit), re-raised.
    """
    from . import db
    from .args import environment

    try:
        with sigterm_raises():
            if database:
                environment()
            with db.expect_revision() if database and revision else contextlib.nullcontext():
                fn(**kwargs)
        return 0
    except (SystemExit, *passthrough):
        raise
    except CarepgError as exc:
        warn(error_line(exc.message))
        return exc.exit_code
    except BrokenPipeError:  # whoever read the output stopped reading (`| head`): end as SIGPIPE would, quietly
        import signal as signals

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to complain about at exit
        return 128 + signals.SIGPIPE
    except KeyboardInterrupt:
        warn("interrupted")
        return EXIT_INTERRUPTED
    except Terminated:
        warn("terminated")
        return EXIT_TERMINATED
    except Exception as exc:  # a bug: say so in one line; the traceback is for whoever debugs it
        if os.environ.get("CAREPG_DEBUG"):
            import traceback

            traceback.print_exc(file=sys.stderr)
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        warn(f"error: unexpected {type(exc).__name__}{': ' + detail if detail else ''} - this is a bug in "
             "carepg; please report it (set CAREPG_DEBUG=1 to see the traceback)")  # fmt: skip
        return EXIT_BUG


def handles_errors(fn: F | None = None, *, database: bool = True, revision: bool = True) -> Any:
    """Decorate a Typer command with run(): its errors become one line and its exit code (see run())."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(**kwargs):
            import typer

            code = run(command, kwargs, database=database, revision=revision, passthrough=(typer.Exit, typer.Abort))
            if code:
                raise typer.Exit(code)

        return wrapper  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate
