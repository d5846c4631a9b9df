"""What every command shares: where it prints, and how an error ends it.

A `CarepgError` becomes `error: <message>` on stderr and its exit code (errors.py); Ctrl-C and SIGTERM end a
command with one line and 130 / 143; anything else is a bug: one line that says so and exit code 1, with the
traceback only when CAREPG_DEBUG is set (never in front of a user who can do nothing with it).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer
from rich.console import Console

from .errors import EXIT_BUG, EXIT_INTERRUPTED, EXIT_TERMINATED, CarepgError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that cleanup (`finally`, recording a failed run) happens."""


def say(text: str) -> None:
    out.print(text, markup=False)


def warn(text: str) -> None:
    err.print(text, markup=False)


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


def handles_errors(fn: F) -> F:
    """Run a command so that whatever happens ends in one line on stderr and a documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with sigterm_raises():
                return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except CarepgError as exc:
            warn(f"error: {exc.message}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            warn("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Terminated:
            warn("terminated")
            raise typer.Exit(EXIT_TERMINATED) from None
        except Exception as exc:  # a bug: say so in one line; the traceback is for whoever debugs it
            if os.environ.get("CAREPG_DEBUG"):
                traceback.print_exc(file=sys.stderr)
            detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            warn(f"error: unexpected {type(exc).__name__}{': ' + detail if detail else ''} - this is a bug in "
                 "carepg; please report it (set CAREPG_DEBUG=1 to see the traceback)")  # fmt: skip
            raise typer.Exit(EXIT_BUG) from None

    return wrapper  # type: ignore[return-value]
